// A trigger whose `kind` is a std::string, not a constant.
// expected: static assertion failed: chime::registry: a policy type's `kind` must be a `static constexpr std::string_view`, so its value is known at compile time; declare it so
// expected: In instantiation of '[^']*\[with Policy = string_kind_trigger\]'
#include <chime/registry.hpp>

#include <string>

struct string_kind_trigger {
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static string_kind_trigger from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "string_kind";
#else
    static inline const std::string kind = "string_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<string_kind_trigger>::size;
