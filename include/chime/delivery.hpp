// Delivery modes: which finished runs a report sink receives. A sink's JSON
// settings carry its mode as "when", and the worker calls should_deliver()
// with the job's previous status before it hands a report to the sink.
//
//   {"kind": "mail", "when": "on_state_change", "to": "ops@example.org"}
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chime/detail/sink_json.hpp>
#include <chime/error.hpp>
#include <chime/report.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

enum class delivery_mode : std::uint8_t {
    always,          // every report
    on_failure,      // reports whose status is_failure()
    non_empty,       // reports with output or error text, as cron mails output
    on_state_change, // the first failure after a success, and the first success after failures
};

// The reason a report goes to a sink, or none when it does not.
enum class delivery_reason : std::uint8_t {
    none,      // do not deliver
    matched,   // always, on_failure or non_empty matched the report
    failing,   // on_state_change: the first failure after a success or after no history
    recovered, // on_state_change: the first success after failures
};

// The name used in JSON, e.g. "on_failure".
constexpr std::string_view to_string(delivery_mode mode) noexcept;

// "none", "matched", "failing" or "recovered".
constexpr std::string_view to_string(delivery_reason reason) noexcept;

// Reads a mode name. Throws invalid_input naming the text and the names
// that are accepted.
delivery_mode delivery_mode_from_string(std::string_view text);

// True for the statuses that on_state_change compares: succeeded and the
// failures. missed and skipped runs never ran, so they carry no information
// about whether a job works.
constexpr bool affects_state(run_status status) noexcept;

// Decides whether a sink in `mode` receives `r`. `previous_status` is the
// status of the job's latest earlier run for which affects_state() is true,
// so the caller skips missed and skipped runs. It is none when there is no
// such run. Only on_state_change reads it, and it treats a missed or skipped
// value as none. Under on_state_change a missed or skipped report is never
// delivered, and an interrupted or timed-out run counts as a failure.
constexpr delivery_reason should_deliver(delivery_mode mode, const report& r,
                                         std::optional<run_status> previous_status) noexcept;

// The mode of a stored sink {"kind": ..., "when": ..., settings...}: "when",
// or always when the key is absent. Throws invalid_input naming the sink
// kind and the value when "when" is not a mode name.
delivery_mode delivery_mode_of(const nlohmann::json& sink_json);

// ---------------------------------------------------------------------------
// Definitions

constexpr std::string_view to_string(delivery_mode mode) noexcept {
    switch (mode) {
    case delivery_mode::always:
        return "always";
    case delivery_mode::on_failure:
        return "on_failure";
    case delivery_mode::non_empty:
        return "non_empty";
    case delivery_mode::on_state_change:
        return "on_state_change";
    }
    return "unknown";
}

constexpr std::string_view to_string(delivery_reason reason) noexcept {
    switch (reason) {
    case delivery_reason::none:
        return "none";
    case delivery_reason::matched:
        return "matched";
    case delivery_reason::failing:
        return "failing";
    case delivery_reason::recovered:
        return "recovered";
    }
    return "unknown";
}

inline delivery_mode delivery_mode_from_string(std::string_view text) {
    for (auto mode : {delivery_mode::always, delivery_mode::on_failure, delivery_mode::non_empty,
                      delivery_mode::on_state_change}) {
        if (to_string(mode) == text) {
            return mode;
        }
    }
    throw invalid_input("delivery mode: unknown value " + detail::describe_json(std::string(text)) +
                        "; expected always, on_failure, non_empty or on_state_change");
}

constexpr bool affects_state(run_status status) noexcept {
    return status == run_status::succeeded || is_failure(status);
}

constexpr delivery_reason should_deliver(delivery_mode mode, const report& r,
                                         std::optional<run_status> previous_status) noexcept {
    switch (mode) {
    case delivery_mode::always:
        return delivery_reason::matched;
    case delivery_mode::on_failure:
        return is_failure(r.status) ? delivery_reason::matched : delivery_reason::none;
    case delivery_mode::non_empty:
        return r.output.empty() && r.error.empty() ? delivery_reason::none
                                                   : delivery_reason::matched;
    case delivery_mode::on_state_change:
        break;
    }

    const bool was_failing = previous_status && is_failure(*previous_status);
    if (is_failure(r.status)) {
        return was_failing ? delivery_reason::none : delivery_reason::failing;
    }
    if (r.status == run_status::succeeded && was_failing) {
        return delivery_reason::recovered;
    }
    // A success after a success or after no history, or a run that never ran.
    return delivery_reason::none;
}

inline delivery_mode delivery_mode_of(const nlohmann::json& sink_json) {
    std::string kind = "sink";
    if (auto k = sink_json.find("kind"); k != sink_json.end() && k->is_string()) {
        kind = k->get<std::string>();
    }
    if (!sink_json.is_object()) {
        detail::throw_sink_error(kind,
                                 "expected a JSON object, got " + detail::describe_json(sink_json));
    }
    auto it = sink_json.find("when");
    if (it == sink_json.end() || it->is_null()) {
        return delivery_mode::always;
    }
    if (!it->is_string()) {
        detail::throw_sink_error(kind, "\"when\" must be a string (always, on_failure, "
                                       "non_empty, on_state_change), got " +
                                           detail::describe_json(*it));
    }
    try {
        return delivery_mode_from_string(it->get<std::string>());
    } catch (const invalid_input&) {
        detail::throw_sink_error(kind, "\"when\" is " + detail::describe_json(*it) +
                                           "; expected one of always, on_failure, non_empty, "
                                           "on_state_change");
    }
}

} // namespace chime
