// A task without to_json.
// expected: static assertion failed: chime::registry: a policy type needs `nlohmann::json to_json\(\) const`, which writes its settings; add it to the type
// expected: In instantiation of '[^']*\[with Policy = no_to_json_task\]'
#include <chime/registry.hpp>

struct no_to_json_task {
    static constexpr std::string_view kind = "no_to_json_task";
    chime::report run(chime::run_context&) const { return {}; }
#ifdef CHIME_TWIN
    nlohmann::json to_json() const { return nlohmann::json::object(); }
#endif
    static no_to_json_task from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<no_to_json_task>::size;
