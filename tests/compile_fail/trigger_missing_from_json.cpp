// A trigger without from_json.
// expected: static assertion failed: chime::registry: a trigger needs a static `from_json\(const nlohmann::json&\)` that returns the trigger type, or `from_json\(const nlohmann::json&, parse_child\)` when it is built from other triggers; add one
// expected: In instantiation of '[^']*\[with Trigger = no_from_json_trigger\]'
#include <chime/registry.hpp>

struct no_from_json_trigger {
    static constexpr std::string_view kind = "no_from_json_trigger";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
#ifdef CHIME_TWIN
    static no_from_json_trigger from_json(const nlohmann::json&) { return {}; }
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<no_from_json_trigger>::size;
