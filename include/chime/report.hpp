// Run statuses and the report of one run: what the engine decided, what the
// task produced, and when. Tasks fill in the outcome; the worker fills in the
// job, the times and the decision reason.
// Thread safety: plain values.
#pragma once

#include <chime/error.hpp>
#include <chime/zone.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

// The outcome of a run. missed and skipped runs never started, because the
// engine decided against them (too late, or an overlap rule). interrupted
// runs were still running when the worker stopped or crashed.
enum class run_status : std::uint8_t {
    succeeded,
    failed,
    timed_out,
    missed,
    skipped,
    interrupted,
};

// The name stored in the database and sent on the wire, e.g. "timed_out".
constexpr std::string_view to_string(run_status s) noexcept {
    switch (s) {
    case run_status::succeeded:
        return "succeeded";
    case run_status::failed:
        return "failed";
    case run_status::timed_out:
        return "timed_out";
    case run_status::missed:
        return "missed";
    case run_status::skipped:
        return "skipped";
    case run_status::interrupted:
        return "interrupted";
    }
    return "unknown";
}

// Reads a status name. Throws invalid_input naming the text and the names
// that are accepted.
inline run_status run_status_from_string(std::string_view text) {
    for (auto s : {run_status::succeeded, run_status::failed, run_status::timed_out,
                   run_status::missed, run_status::skipped, run_status::interrupted}) {
        if (to_string(s) == text) {
            return s;
        }
    }
    throw invalid_input("run status: unknown value \"" + std::string(text) +
                        "\"; expected succeeded, failed, timed_out, missed, skipped or "
                        "interrupted");
}

// True for the statuses that count as failures for retries and for the
// on_failure delivery mode.
constexpr bool is_failure(run_status s) noexcept {
    return s == run_status::failed || s == run_status::timed_out ||
           s == run_status::interrupted;
}

// A wall-clock instant with millisecond precision, for start and end times.
using millisecond_instant = std::chrono::sys_time<std::chrono::milliseconds>;

struct report {
    // Set by the task.
    run_status status = run_status::succeeded;
    std::optional<int> exit_code;
    std::string output;
    bool output_truncated = false;
    std::string error;

    // Set by the worker from the engine's decision and the executor.
    std::string job;
    instant scheduled{};
    std::optional<millisecond_instant> started;
    std::optional<millisecond_instant> finished;
    std::string reason;
    // 0 for the first attempt, n for the n-th retry.
    unsigned attempt = 0;
};

} // namespace chime
