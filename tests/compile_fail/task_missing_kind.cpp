// A task without `kind`.
// expected: static assertion failed: chime::registry: a policy type needs `static constexpr std::string_view kind = "\.\.\.";`, the name stored in the database; add it to the type
// expected: In instantiation of '[^']*\[with Policy = no_kind_task\]'
#include <chime/registry.hpp>

struct echo_like {
    static constexpr std::string_view kind = "echo_like";
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static echo_like from_json(const nlohmann::json&) { return {}; }
};

struct no_kind_task {
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_kind_task from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "no_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<echo_like, no_kind_task>::size;
