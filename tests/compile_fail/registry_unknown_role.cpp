// A registry whose first type has none of next_after, run and deliver.
// expected: static assertion failed: chime::registry: the first type has no next_after \(trigger\), run \(task\) or deliver \(report sink\), so the registry's role is unknown; add the member of its role, or use trigger_registry, task_registry or sink_registry
// expected: In instantiation of '[^']*\[with First = settings_only\]'
#include <chime/registry.hpp>

struct settings_only {
    static constexpr std::string_view kind = "settings_only";
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static settings_only from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    void deliver(const chime::report&) {}
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<settings_only>::size;
