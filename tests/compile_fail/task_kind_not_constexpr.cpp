// A task whose `kind` is static but not constexpr, so it is not known at
// compile time.
// expected: static assertion failed: chime::registry: a policy type's `kind` must be a `static constexpr std::string_view`, so its value is known at compile time; declare it so
// expected: In instantiation of '[^']*\[with Policy = runtime_kind_task\]'
#include <chime/registry.hpp>

struct runtime_kind_task {
    chime::report run(chime::run_context&) const { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static runtime_kind_task from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "runtime_kind";
#else
    static inline std::string_view kind = "runtime_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<runtime_kind_task>::size;
