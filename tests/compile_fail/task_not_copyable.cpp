// A task that holds a std::unique_ptr, so it cannot be copied.
// expected: static assertion failed: chime::registry: a policy type must be copy-constructible, because jobs are copied; hold a member that cannot be copied by std::shared_ptr
// expected: In instantiation of '[^']*\[with Policy = unique_task\]'
#include <chime/registry.hpp>

#include <memory>

struct unique_task {
    static constexpr std::string_view kind = "unique_task";
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static unique_task from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    std::shared_ptr<int> state;
#else
    std::unique_ptr<int> state;
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<unique_task>::size;
