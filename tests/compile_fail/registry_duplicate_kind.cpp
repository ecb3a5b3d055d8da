// Two triggers with the same kind, "cron". The instantiation note names the
// kind and both types.
// expected: static assertion failed: chime::registry: two types have the same kind \(the compiler's instantiation note names the kind and both types\); give one of them another kind
// expected: In instantiation of '[^']*\[with kind_literal<\.\.\.auto\.\.\.> Kind = kind_literal<5>{"cron"}; First = cron_like; Second = my_cron\]'
#include <chime/registry.hpp>

struct cron_like {
    static constexpr std::string_view kind = "cron";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static cron_like from_json(const nlohmann::json&) { return {}; }
};

struct my_cron {
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static my_cron from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "my_cron";
#else
    static constexpr std::string_view kind = "cron";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<cron_like, my_cron>::size;
