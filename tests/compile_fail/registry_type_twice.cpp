// A registry that lists one type twice.
// expected: static assertion failed: chime::registry: a type is listed twice \(the compiler's instantiation note names it\); remove one of them
// expected: In instantiation of '[^']*\[with Policy = cron_like\]'
#include <chime/registry.hpp>

struct cron_like {
    static constexpr std::string_view kind = "cron_like";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static cron_like from_json(const nlohmann::json&) { return {}; }
};

struct interval_like {
    static constexpr std::string_view kind = "interval_like";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static interval_like from_json(const nlohmann::json&) { return {}; }
};

#ifdef CHIME_TWIN
using triggers = chime::registry<cron_like, interval_like>;
#else
using triggers = chime::registry<cron_like, interval_like, cron_like>;
#endif

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = triggers::size;
