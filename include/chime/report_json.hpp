// The JSON form of a run report, as the webhook sink posts it and as other
// programs may store it:
//
//   {"job": "backup", "status": "failed", "scheduled": "2025-03-30T01:00:00Z",
//    "started": "2025-03-30T01:00:00.125Z", "finished": "2025-03-30T01:00:02.250Z",
//    "duration_ms": 2125, "exit_code": 1, "attempt": 0, "reason": "scheduled",
//    "error": "exit code 1", "output": "...", "output_truncated": false}
//
// Thread safety: pure functions.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/report.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

// Every field of `r`. Times are ISO 8601 in UTC: "scheduled" in whole
// seconds, "started" and "finished" with milliseconds, or null when unset.
// "duration_ms" is finished minus started, or null unless both are set.
// "exit_code" is null when the run has none. Text that is not valid UTF-8
// has each invalid byte replaced by U+FFFD, so that any dump() succeeds.
nlohmann::json report_to_json(const report& r);

// Reads the form above back. "duration_ms" is ignored because it follows from
// the times, and so are keys this version does not know, so that a report
// written by a newer chime still reads. Throws invalid_input naming the key.
report report_from_json(const nlohmann::json& j);

// "2025-03-30T01:00:00.125Z": always three digits of milliseconds.
std::string format_utc_milliseconds(millisecond_instant t);

namespace detail {

// `text` with each byte that does not start a valid UTF-8 sequence replaced
// by U+FFFD. Overlong forms, surrogates and code points above U+10FFFF are
// invalid too.
std::string to_valid_utf8(std::string_view text);

// "2.125s": a duration in seconds with three decimals, for logs and mails.
std::string format_seconds(std::chrono::milliseconds d);

} // namespace detail

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// The length of the valid UTF-8 sequence at the start of `text`, or 0.
inline std::size_t utf8_sequence_length(std::string_view text) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) {
        return 1;
    }
    std::size_t length = 0;
    // The range of the second byte, narrower after some lead bytes so that
    // overlong forms, surrogates and code points above U+10FFFF are invalid.
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        low = lead == 0xe0 ? 0xa0 : 0x80;
        high = lead == 0xed ? 0x9f : 0xbf;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        low = lead == 0xf0 ? 0x90 : 0x80;
        high = lead == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < low || byte(1) > high) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xbf) {
            return 0;
        }
    }
    return length;
}

inline std::string to_valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        const std::size_t length = utf8_sequence_length(text);
        if (length == 0) {
            out += "\xef\xbf\xbd";
            text.remove_prefix(1);
        } else {
            out.append(text.substr(0, length));
            text.remove_prefix(length);
        }
    }
    return out;
}

inline std::string format_seconds(std::chrono::milliseconds d) {
    const bool negative = d.count() < 0;
    // Unsigned, because negating the smallest value would overflow.
    const auto magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(d.count())
                                    : static_cast<std::uint64_t>(d.count());
    std::string millis = std::to_string(magnitude % 1000);
    millis.insert(0, 3 - millis.size(), '0');
    return (negative ? "-" : "") + std::to_string(magnitude / 1000) + "." + millis + "s";
}

[[noreturn]] inline void throw_report_error(const std::string& what) {
    throw invalid_input("report JSON: " + what);
}

inline std::optional<millisecond_instant> optional_report_time(const nlohmann::json& j,
                                                               const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_string()) {
        throw_report_error(std::string("\"") + key +
                           "\" must be an ISO 8601 instant or null, got " + describe_json(*it));
    }
    try {
        return std::chrono::floor<std::chrono::milliseconds>(
            parse_precise_instant(it->get<std::string>()));
    } catch (const invalid_input& e) {
        throw_report_error(std::string("\"") + key + "\": " + e.what());
    }
}

inline std::string report_string(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        throw_report_error(std::string("\"") + key + "\" must be a string, got " +
                           describe_json(*it));
    }
    return it->get<std::string>();
}

} // namespace detail

inline std::string format_utc_milliseconds(millisecond_instant t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    const auto millis = (t - seconds).count();
    std::string text = format_utc(seconds);
    text.pop_back(); // the 'Z'
    text += '.';
    text += static_cast<char>('0' + millis / 100);
    text += static_cast<char>('0' + millis / 10 % 10);
    text += static_cast<char>('0' + millis % 10);
    text += 'Z';
    return text;
}

inline nlohmann::json report_to_json(const report& r) {
    auto time = [](const std::optional<millisecond_instant>& t) -> nlohmann::json {
        if (!t) {
            return nullptr;
        }
        return format_utc_milliseconds(*t);
    };
    nlohmann::json duration_ms = nullptr;
    if (r.started && r.finished) {
        duration_ms = (*r.finished - *r.started).count();
    }
    nlohmann::json exit_code = nullptr;
    if (r.exit_code) {
        exit_code = *r.exit_code;
    }
    return {
        {"job", detail::to_valid_utf8(r.job)},
        {"status", to_string(r.status)},
        {"scheduled", format_utc(r.scheduled)},
        {"started", time(r.started)},
        {"finished", time(r.finished)},
        {"duration_ms", duration_ms},
        {"exit_code", exit_code},
        {"attempt", r.attempt},
        {"reason", detail::to_valid_utf8(r.reason)},
        {"error", detail::to_valid_utf8(r.error)},
        {"output", detail::to_valid_utf8(r.output)},
        {"output_truncated", r.output_truncated},
    };
}

inline report report_from_json(const nlohmann::json& j) {
    if (!j.is_object()) {
        detail::throw_report_error("expected a JSON object, got " + detail::describe_json(j));
    }
    report r;
    r.job = detail::report_string(j, "job");

    auto status = j.find("status");
    if (status == j.end() || !status->is_string()) {
        detail::throw_report_error("\"status\" is missing or not a string");
    }
    try {
        r.status = run_status_from_string(status->get<std::string>());
    } catch (const invalid_input& e) {
        detail::throw_report_error(std::string("\"status\": ") + e.what());
    }

    auto scheduled = j.find("scheduled");
    if (scheduled == j.end() || !scheduled->is_string()) {
        detail::throw_report_error("\"scheduled\" is missing or not a string");
    }
    try {
        r.scheduled = parse_instant(scheduled->get<std::string>());
    } catch (const invalid_input& e) {
        detail::throw_report_error(std::string("\"scheduled\": ") + e.what());
    }

    r.started = detail::optional_report_time(j, "started");
    r.finished = detail::optional_report_time(j, "finished");

    if (auto it = j.find("exit_code"); it != j.end() && !it->is_null()) {
        using limits = std::numeric_limits<int>;
        const bool fits = it->is_number_unsigned()
                              ? it->get<std::uint64_t>() <= std::uint64_t{limits::max()}
                              : it->is_number_integer() &&
                                    it->get<std::int64_t>() >= limits::min() &&
                                    it->get<std::int64_t>() <= limits::max();
        if (!fits) {
            detail::throw_report_error("\"exit_code\" must be a whole number or null, got " +
                                       detail::describe_json(*it));
        }
        r.exit_code = static_cast<int>(it->get<std::int64_t>());
    }
    if (auto it = j.find("attempt"); it != j.end() && !it->is_null()) {
        if (!it->is_number_unsigned() ||
            it->get<std::uint64_t>() > std::numeric_limits<unsigned>::max()) {
            detail::throw_report_error("\"attempt\" must be a whole number from 0, got " +
                                       detail::describe_json(*it));
        }
        r.attempt = static_cast<unsigned>(it->get<std::uint64_t>());
    }
    if (auto it = j.find("output_truncated"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) {
            detail::throw_report_error("\"output_truncated\" must be true or false, got " +
                                       detail::describe_json(*it));
        }
        r.output_truncated = it->get<bool>();
    }
    r.reason = detail::report_string(j, "reason");
    r.error = detail::report_string(j, "error");
    r.output = detail::report_string(j, "output");
    return r;
}

} // namespace chime
