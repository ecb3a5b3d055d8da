// A report sink whose `kind` is a data member of each value.
// expected: static assertion failed: chime::registry: a policy type's `kind` must be a `static constexpr std::string_view`, so its value is known at compile time; declare it so
// expected: In instantiation of '[^']*\[with Policy = member_kind_sink\]'
#include <chime/registry.hpp>

struct member_kind_sink {
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static member_kind_sink from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "member_kind";
#else
    std::string_view kind = "member_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::sink_registry<member_kind_sink>::size;
