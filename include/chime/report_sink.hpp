// The report_sink concept: where the reports of finished runs go (history,
// mail, a log, a webhook). A sink type is its own typed settings, read from
// and written to JSON, with a deliver() that the worker calls once per report.
//
// Thread safety: deliver() is not const, so a caller must not call it on one
// sink value from two threads at once.
#pragma once

#include <chime/report.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <string_view>

namespace chime {

// A report sink type: `static constexpr std::string_view kind`, a static
// `from_json(const nlohmann::json&)` that reads a value from its settings,
// `to_json() const`, and `void deliver(const report&)`, which throws
// chime::error (or a type derived from it) when the delivery fails.
template <class T>
concept report_sink =
    std::copy_constructible<T> && requires(T& sink, const T& c, const nlohmann::json& settings,
                                           const report& r) {
        { T::kind } -> std::convertible_to<std::string_view>;
        { T::from_json(settings) } -> std::same_as<T>;
        { c.to_json() } -> std::same_as<nlohmann::json>;
        { sink.deliver(r) } -> std::same_as<void>;
    };

namespace detail {

// The smallest type that models report_sink, for checking the concept itself.
struct report_sink_archetype {
    static constexpr std::string_view kind = "archetype";
    static report_sink_archetype from_json(const nlohmann::json&) { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    void deliver(const report&) {}
};

} // namespace detail

static_assert(report_sink<detail::report_sink_archetype>);
static_assert(!report_sink<int>);

} // namespace chime
