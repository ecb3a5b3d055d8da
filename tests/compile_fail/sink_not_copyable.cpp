// A report sink that holds a std::unique_ptr, so it cannot be copied.
// expected: static assertion failed: chime::registry: a policy type must be copy-constructible, because jobs are copied; hold a member that cannot be copied by std::shared_ptr
// expected: In instantiation of '[^']*\[with Policy = unique_sink\]'
#include <chime/registry.hpp>

#include <memory>

struct unique_sink {
    static constexpr std::string_view kind = "unique_sink";
    void deliver(const chime::report&) {}
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static unique_sink from_json(const nlohmann::json&) { return {}; }
#ifdef CHIME_TWIN
    std::shared_ptr<int> connection;
#else
    std::unique_ptr<int> connection;
#endif
};

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = chime::registry<unique_sink>::size;
