// A report sink without from_json.
// expected: static assertion failed: chime::registry: a report sink needs a static `from_json\(const nlohmann::json&\)` that returns the sink type; add it to the type
// expected: In instantiation of '[^']*\[with Sink = no_from_json_sink\]'
#include <chime/registry.hpp>

struct no_from_json_sink {
    static constexpr std::string_view kind = "no_from_json_sink";
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
#ifdef CHIME_TWIN
    static no_from_json_sink from_json(const nlohmann::json&) { return {}; }
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<no_from_json_sink>::size;
