// A trigger registry of no types: the role is given, the list is empty.
// expected: static assertion failed: chime::registry: the registry is empty; list at least one type
// expected: In instantiation of '[^']*\[with registry_role Role = chime::detail::registry_role::trigger; Ts = {}\]'
#include <chime/registry.hpp>

struct cron_like {
    static constexpr std::string_view kind = "cron_like";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static cron_like from_json(const nlohmann::json&) { return {}; }
};

#ifdef CHIME_TWIN
using triggers = chime::trigger_registry<cron_like>;
#else
using triggers = chime::trigger_registry<>;
#endif

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = triggers::size;
