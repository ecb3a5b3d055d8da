// A task whose run returns an exit code instead of a report.
// expected: static assertion failed: chime::registry: a task's run\(\) must return chime::report; change its return type
// expected: In instantiation of '[^']*\[with Task = exit_code_task\]'
#include <chime/registry.hpp>

struct exit_code_task {
    static constexpr std::string_view kind = "exit_code_task";
#ifdef CHIME_TWIN
    chime::report run(chime::run_context&) const { return {}; }
#else
    int run(chime::run_context&) const { return 0; }
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static exit_code_task from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<exit_code_task>::size;
