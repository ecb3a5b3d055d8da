// A trigger without next_after, listed after a trigger that has one.
// expected: static assertion failed: chime::registry: a trigger needs `std::optional<chime::instant> next_after\(chime::instant\) const`; add it to the type
// expected: In instantiation of '[^']*\[with Trigger = no_next_after_trigger\]'
#include <chime/registry.hpp>

struct cron_like {
    static constexpr std::string_view kind = "cron_like";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static cron_like from_json(const nlohmann::json&) { return {}; }
};

struct no_next_after_trigger {
    static constexpr std::string_view kind = "no_next_after_trigger";
#ifdef CHIME_TWIN
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_next_after_trigger from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<cron_like, no_next_after_trigger>::size;
