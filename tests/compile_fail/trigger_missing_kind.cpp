// A trigger without `kind`.
// expected: static assertion failed: chime::registry: a policy type needs `static constexpr std::string_view kind = "\.\.\.";`, the name stored in the database; add it to the type
// expected: In instantiation of '[^']*\[with Policy = no_kind_trigger\]'
#include <chime/registry.hpp>

struct cron_like {
    static constexpr std::string_view kind = "cron_like";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static cron_like from_json(const nlohmann::json&) { return {}; }
};

struct no_kind_trigger {
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_kind_trigger from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "no_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<cron_like, no_kind_trigger>::size;
