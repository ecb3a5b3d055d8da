// A task without run, in a task_registry, since a registry could not tell
// its role.
// expected: static assertion failed: chime::registry: a task needs `chime::report run\(chime::run_context&\) const`; add it to the type
// expected: In instantiation of '[^']*\[with Task = no_run_task\]'
#include <chime/registry.hpp>

struct no_run_task {
    static constexpr std::string_view kind = "no_run_task";
#ifdef CHIME_TWIN
    chime::report run(chime::run_context&) const { return {}; }
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_run_task from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::task_registry<no_run_task>::size;
