// A trigger that holds a std::unique_ptr, so it cannot be copied.
// expected: static assertion failed: chime::registry: a policy type must be copy-constructible, because jobs are copied; hold a member that cannot be copied by std::shared_ptr
// expected: In instantiation of '[^']*\[with Policy = unique_trigger\]'
#include <chime/registry.hpp>

#include <memory>

struct unique_trigger {
    static constexpr std::string_view kind = "unique_trigger";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static unique_trigger from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    std::shared_ptr<int> state;
#else
    std::unique_ptr<int> state;
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<unique_trigger>::size;
