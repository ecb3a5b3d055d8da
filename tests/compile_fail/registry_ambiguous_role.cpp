// A registry whose first type has both run and deliver.
// expected: static assertion failed: chime::registry: the first type has more than one of next_after \(trigger\), run \(task\) and deliver \(report sink\), so the registry's role is ambiguous; use trigger_registry, task_registry or sink_registry
// expected: In instantiation of '[^']*\[with First = run_and_deliver\]'
#include <chime/registry.hpp>

struct run_and_deliver {
    static constexpr std::string_view kind = "run_and_deliver";
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static run_and_deliver from_json(const nlohmann::json&) { return {}; }
#ifndef CHIME_TWIN
    void deliver(const chime::report&) {}
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<run_and_deliver>::size;
