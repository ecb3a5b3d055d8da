// A report sink whose deliver returns a success flag instead of throwing.
// expected: static assertion failed: chime::registry: a report sink's deliver\(\) must return void and throw chime::error when delivery fails; change its return type
// expected: In instantiation of '[^']*\[with Sink = flag_sink\]'
#include <chime/registry.hpp>

struct flag_sink {
    static constexpr std::string_view kind = "flag_sink";
#ifdef CHIME_TWIN
    void deliver(const chime::report&) {}
#else
    bool deliver(const chime::report&) { return true; }
#endif
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static flag_sink from_json(const nlohmann::json&) { return {}; }
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<flag_sink>::size;
