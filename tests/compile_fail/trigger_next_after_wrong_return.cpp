// A trigger whose next_after returns an instant, which cannot say "never again".
// expected: static assertion failed: chime::registry: a trigger's next_after must return std::optional<chime::instant>, empty when it never fires again; change its return type
// expected: In instantiation of '[^']*\[with Trigger = instant_trigger\]'
#include <chime/registry.hpp>

struct instant_trigger {
    static constexpr std::string_view kind = "instant_trigger";
#ifdef CHIME_TWIN
    std::optional<chime::instant> next_after(chime::instant t) const { return t; }
#else
    chime::instant next_after(chime::instant t) const { return t; }
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static instant_trigger from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<instant_trigger>::size;
