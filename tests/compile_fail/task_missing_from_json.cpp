// A task without from_json.
// expected: static assertion failed: chime::registry: a task needs a static `from_json\(const nlohmann::json&\)` that returns the task type; add it to the type
// expected: In instantiation of '[^']*\[with Task = no_from_json_task\]'
#include <chime/registry.hpp>

struct no_from_json_task {
    static constexpr std::string_view kind = "no_from_json_task";
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
#ifdef CHIME_TWIN
    static no_from_json_task from_json(const nlohmann::json&) { return {}; }
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<no_from_json_task>::size;
