// The per-job rules the engine applies when fire times come due: misfire
// grace time, coalescing, catch-up after downtime, overlap, retries and the
// timeout, with their JSON form.
//
//   chime::run_policy p;                      // the defaults below
//   p.overlap = chime::overlap_mode::queue_one;
//   p.retry = {.count = 3, .initial_delay = std::chrono::seconds{30}};
//
// Thread safety: plain values.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

// The choice among several runnable fire times of one job that are due at
// once (the worker was busy, or the clock jumped).
enum class coalesce_mode : std::uint8_t {
    earliest, // start the earliest; the others are recorded skipped
    latest,   // start the latest; the others are recorded skipped
    all,      // start each of them, subject to the overlap rule
};

// The treatment of fire times that passed while the worker was not running,
// beyond the misfire grace time, when a job is loaded with its last run time.
enum class catch_up_mode : std::uint8_t {
    none, // record them missed, as cron does
    once, // one run for the latest of them, like anacron; the others skipped
    all,  // one run for each, up to max_runs_per_decision
};

// The rule for a fire time that comes due while runs of the same job are
// still running.
enum class overlap_mode : std::uint8_t {
    skip,      // record it skipped
    queue_one, // start it when the running one finishes; a second one is skipped
    replace,   // ask the executor to cancel the running run, then start
    allow,     // start it while fewer than max_instances runs are running, else skip
};

// Retries of a failed or timed-out run. The n-th retry (n from 1) waits
// min(initial_delay * factor^(n-1), max_delay) after the failed run finished.
struct retry_policy {
    unsigned count = 0; // 0: no retries
    std::chrono::seconds initial_delay{30};
    double factor = 2.0; // at least 1
    std::chrono::seconds max_delay{3600};

    // The delay before retry number `retry` (1 for the first retry).
    std::chrono::seconds delay_before(unsigned retry) const noexcept;

    friend bool operator==(const retry_policy&, const retry_policy&) = default;
};

struct run_policy {
    // A fire time found more than this late is recorded missed instead of
    // started; none means no limit. One minute by default, so a worker that
    // wakes a few seconds late still runs the job.
    std::optional<std::chrono::seconds> misfire_grace = std::chrono::seconds{60};
    coalesce_mode coalesce = coalesce_mode::latest;
    catch_up_mode catch_up = catch_up_mode::none;
    overlap_mode overlap = overlap_mode::skip;
    // The number of runs that may run at once under overlap_mode::allow; the
    // other modes allow one.
    std::uint16_t max_instances = 1;
    retry_policy retry;
    // The executor stops a run this long after it started; none means no limit.
    std::optional<std::chrono::seconds> timeout;

    // The maximum duration a policy accepts, 2^31 - 1 seconds (about 68
    // years), so the engine can keep each duration in 32 bits.
    static constexpr std::chrono::seconds max_duration{0x7fff'ffff};

    // Throws invalid_input naming the field and its value when a setting is
    // out of range. Durations run from 0 to max_duration, and a timeout is
    // at least one second. retry.count is at most 1000, retry.factor from 1
    // to 100, and retry.max_delay not shorter than retry.initial_delay.
    // max_instances is from 1 to 1000 under overlap_mode::allow and 1
    // otherwise. from_json and the engine both apply it, so every stored
    // policy reads back.
    void validate() const;

    // The runs that overlap_mode allows to run at once.
    unsigned concurrency_limit() const noexcept {
        return overlap == overlap_mode::allow ? max_instances : 1u;
    }

    // {"misfire_grace":"PT1M","coalesce":"latest","catch_up":"none",
    //  "overlap":"skip","max_instances":1,
    //  "retry":{"count":3,"initial_delay":"PT30S","factor":2,"max_delay":"PT1H"},
    //  "timeout":"PT10M"}. Durations are ISO 8601; "misfire_grace" and
    // "timeout" take null or "none" for no limit.
    nlohmann::json to_json() const;

    // Reads the form above. Every key is optional and takes its default when
    // absent. Throws invalid_input naming the key and the value at fault.
    static run_policy from_json(const nlohmann::json& j);

    friend bool operator==(const run_policy&, const run_policy&) = default;
};

std::string_view to_string(coalesce_mode m) noexcept;
std::string_view to_string(catch_up_mode m) noexcept;
std::string_view to_string(overlap_mode m) noexcept;

// ---------------------------------------------------------------------------
// Definitions

inline std::chrono::seconds retry_policy::delay_before(unsigned retry) const noexcept {
    // Doubles avoid overflow for large retry numbers; the result is capped
    // before it is converted back.
    double seconds = double(initial_delay.count()) * std::pow(factor, double(retry > 0 ? retry - 1 : 0));
    double cap = double(max_delay.count());
    if (!(seconds < cap)) {
        return max_delay;
    }
    return std::chrono::seconds{static_cast<std::int64_t>(seconds)};
}

inline std::string_view to_string(coalesce_mode m) noexcept {
    switch (m) {
    case coalesce_mode::earliest:
        return "earliest";
    case coalesce_mode::latest:
        return "latest";
    case coalesce_mode::all:
        return "all";
    }
    return "unknown";
}

inline std::string_view to_string(catch_up_mode m) noexcept {
    switch (m) {
    case catch_up_mode::none:
        return "none";
    case catch_up_mode::once:
        return "once";
    case catch_up_mode::all:
        return "all";
    }
    return "unknown";
}

inline std::string_view to_string(overlap_mode m) noexcept {
    switch (m) {
    case overlap_mode::skip:
        return "skip";
    case overlap_mode::queue_one:
        return "queue_one";
    case overlap_mode::replace:
        return "replace";
    case overlap_mode::allow:
        return "allow";
    }
    return "unknown";
}

namespace detail {

[[noreturn]] inline void throw_policy_error(const std::string& what) {
    throw invalid_input("run policy: " + what);
}

template <class Enum, std::size_t N>
Enum policy_enum_from_json(const nlohmann::json& j, const char* key,
                           const std::array<Enum, N>& values, Enum fallback) {
    auto it = j.find(key);
    if (it == j.end()) {
        return fallback;
    }
    std::string expected;
    for (auto v : values) {
        expected += (expected.empty() ? "" : ", ") + std::string(to_string(v));
    }
    if (!it->is_string()) {
        throw_policy_error(std::string("\"") + key + "\" must be a string (" + expected +
                           "), got " + describe_json(*it));
    }
    auto text = it->get<std::string>();
    for (auto v : values) {
        if (to_string(v) == text) {
            return v;
        }
    }
    throw_policy_error(std::string("\"") + key + "\" is \"" + text + "\"; expected one of " +
                       expected);
}

// A non-negative elapsed duration ("PT30S"); `allow_none` accepts null and
// "none" as no limit.
inline std::optional<std::chrono::seconds>
policy_duration_from_json(const nlohmann::json& value, const std::string& key, bool allow_none) {
    if (allow_none && (value.is_null() || (value.is_string() && value.get<std::string>() == "none"))) {
        return std::nullopt;
    }
    if (!value.is_string()) {
        throw_policy_error("\"" + key + "\" must be an ISO 8601 duration such as \"PT30S\"" +
                           (allow_none ? " or \"none\"" : "") + ", got " + describe_json(value));
    }
    auto text = value.get<std::string>();
    std::chrono::seconds d;
    try {
        d = parse_elapsed_duration(text);
    } catch (const invalid_input&) {
        throw_policy_error("\"" + key + "\" is \"" + text +
                           "\"; expected an ISO 8601 duration of fixed length such as \"PT30S\", "
                           "\"PT5M\" or \"P1D\" (years and months have no fixed length)");
    }
    if (d < std::chrono::seconds{0}) {
        throw_policy_error("\"" + key + "\" is \"" + text + "\"; it must not be negative");
    }
    return d;
}

inline std::uint64_t policy_count_from_json(const nlohmann::json& value, const std::string& key,
                                            std::uint64_t min, std::uint64_t max) {
    if (!value.is_number_integer() || (value.is_number_integer() && !value.is_number_unsigned() &&
                                       value.get<std::int64_t>() < 0)) {
        throw_policy_error("\"" + key + "\" must be a whole number from " + std::to_string(min) +
                           " to " + std::to_string(max) + ", got " + describe_json(value));
    }
    auto n = value.get<std::uint64_t>();
    if (n < min || n > max) {
        throw_policy_error("\"" + key + "\" is " + std::to_string(n) + "; it must be from " +
                           std::to_string(min) + " to " + std::to_string(max));
    }
    return n;
}

inline void check_policy_keys(const nlohmann::json& j, const std::string& where,
                              std::initializer_list<std::string_view> known) {
    if (!j.is_object()) {
        throw_policy_error(where + "expected a JSON object, got " + describe_json(j));
    }
    for (const auto& item : j.items()) {
        if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
            std::string list;
            for (auto k : known) {
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            throw_policy_error(where + "unknown key \"" + item.key() + "\"; expected " + list);
        }
    }
}

} // namespace detail

inline nlohmann::json run_policy::to_json() const {
    auto optional_duration = [](const std::optional<std::chrono::seconds>& d) -> nlohmann::json {
        if (!d) {
            return "none";
        }
        return format_duration(*d);
    };
    return {
        {"misfire_grace", optional_duration(misfire_grace)},
        {"coalesce", to_string(coalesce)},
        {"catch_up", to_string(catch_up)},
        {"overlap", to_string(overlap)},
        {"max_instances", max_instances},
        {"retry",
         {{"count", retry.count},
          {"initial_delay", format_duration(retry.initial_delay)},
          {"factor", retry.factor},
          {"max_delay", format_duration(retry.max_delay)}}},
        {"timeout", optional_duration(timeout)},
    };
}

inline run_policy run_policy::from_json(const nlohmann::json& j) {
    using namespace std::chrono;
    detail::check_policy_keys(j, "",
                              {"misfire_grace", "coalesce", "catch_up", "overlap", "max_instances",
                               "retry", "timeout"});
    run_policy p;
    if (auto it = j.find("misfire_grace"); it != j.end()) {
        p.misfire_grace = detail::policy_duration_from_json(*it, "misfire_grace", true);
    }
    if (auto it = j.find("timeout"); it != j.end()) {
        p.timeout = detail::policy_duration_from_json(*it, "timeout", true);
        if (p.timeout && *p.timeout <= seconds{0}) {
            detail::throw_policy_error("\"timeout\" is \"" + it->get<std::string>() +
                                       "\"; it must be at least one second, or \"none\"");
        }
    }
    p.coalesce = detail::policy_enum_from_json(
        j, "coalesce",
        std::array{coalesce_mode::earliest, coalesce_mode::latest, coalesce_mode::all}, p.coalesce);
    p.catch_up = detail::policy_enum_from_json(
        j, "catch_up", std::array{catch_up_mode::none, catch_up_mode::once, catch_up_mode::all},
        p.catch_up);
    p.overlap = detail::policy_enum_from_json(
        j, "overlap",
        std::array{overlap_mode::skip, overlap_mode::queue_one, overlap_mode::replace,
                   overlap_mode::allow},
        p.overlap);
    if (auto it = j.find("max_instances"); it != j.end()) {
        p.max_instances =
            static_cast<std::uint16_t>(detail::policy_count_from_json(*it, "max_instances", 1, 1000));
    }

    if (auto it = j.find("retry"); it != j.end()) {
        const auto& r = *it;
        detail::check_policy_keys(r, "\"retry\": ", {"count", "initial_delay", "factor", "max_delay"});
        if (auto c = r.find("count"); c != r.end()) {
            p.retry.count = static_cast<unsigned>(detail::policy_count_from_json(*c, "retry.count", 0, 1000));
        }
        if (auto d = r.find("initial_delay"); d != r.end()) {
            p.retry.initial_delay = *detail::policy_duration_from_json(*d, "retry.initial_delay", false);
        }
        if (auto d = r.find("max_delay"); d != r.end()) {
            p.retry.max_delay = *detail::policy_duration_from_json(*d, "retry.max_delay", false);
        }
        if (auto f = r.find("factor"); f != r.end()) {
            if (!f->is_number() || !std::isfinite(f->get<double>()) || f->get<double>() < 1.0 ||
                f->get<double>() > 100.0) {
                detail::throw_policy_error("\"retry.factor\" must be a number from 1 to 100, got " +
                                           detail::describe_json(*f));
            }
            p.retry.factor = f->get<double>();
        }
    }
    p.validate();
    return p;
}

inline void run_policy::validate() const {
    using std::chrono::seconds;
    auto check_duration = [](const char* key, seconds d, seconds min) {
        if (d < min || d > max_duration) {
            detail::throw_policy_error(std::string("\"") + key + "\" is " + format_duration(d) + " (" +
                                       std::to_string(d.count()) + " s); it must be from " +
                                       format_duration(min) + " to " + format_duration(max_duration));
        }
    };
    if (misfire_grace) {
        check_duration("misfire_grace", *misfire_grace, seconds{0});
    }
    if (timeout) {
        check_duration("timeout", *timeout, seconds{1});
    }
    check_duration("retry.initial_delay", retry.initial_delay, seconds{0});
    check_duration("retry.max_delay", retry.max_delay, seconds{0});
    if (retry.max_delay < retry.initial_delay) {
        detail::throw_policy_error("\"retry.max_delay\" (" + format_duration(retry.max_delay) +
                                   ") is shorter than \"retry.initial_delay\" (" +
                                   format_duration(retry.initial_delay) + ")");
    }
    if (retry.count > 1000) {
        detail::throw_policy_error("\"retry.count\" is " + std::to_string(retry.count) +
                                   "; it must be from 0 to 1000");
    }
    if (!(retry.factor >= 1.0 && retry.factor <= 100.0)) {
        detail::throw_policy_error("\"retry.factor\" is " + std::to_string(retry.factor) +
                                   "; it must be from 1 to 100");
    }
    if (overlap == overlap_mode::allow) {
        if (max_instances < 1 || max_instances > 1000) {
            detail::throw_policy_error("\"max_instances\" is " + std::to_string(max_instances) +
                                       "; it must be from 1 to 1000");
        }
    } else if (max_instances != 1) {
        detail::throw_policy_error("\"max_instances\" is " + std::to_string(max_instances) +
                                   " but \"overlap\" is \"" + std::string(to_string(overlap)) +
                                   "\"; set \"overlap\": \"allow\" to run several at once");
    }
}

} // namespace chime
