// A report sink without deliver, listed after a sink that has one.
// expected: static assertion failed: chime::registry: a report sink needs `void deliver\(const chime::report&\)`; add it to the type
// expected: In instantiation of '[^']*\[with Sink = no_deliver_sink\]'
#include <chime/registry.hpp>

struct log_like {
    static constexpr std::string_view kind = "log_like";
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static log_like from_json(const nlohmann::json&) { return {}; }
};

struct no_deliver_sink {
    static constexpr std::string_view kind = "no_deliver_sink";
#ifdef CHIME_TWIN
    void deliver(const chime::report&) {}
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static no_deliver_sink from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<log_like, no_deliver_sink>::size;
