// A report sink without `kind`.
// expected: static assertion failed: chime::registry: a policy type needs `static constexpr std::string_view kind = "\.\.\.";`, the name stored in the database; add it to the type
// expected: In instantiation of '[^']*\[with Policy = no_kind_sink\]'
#include <chime/registry.hpp>

struct log_like {
    static constexpr std::string_view kind = "log_like";
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static log_like from_json(const nlohmann::json&) { return {}; }
};

struct no_kind_sink {
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_kind_sink from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    static constexpr std::string_view kind = "no_kind";
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<log_like, no_kind_sink>::size;
