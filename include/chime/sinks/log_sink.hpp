// The "log" report sink: one spdlog line per report, with the job, status,
// scheduled time, duration, exit code, attempt and error text. The output of
// the run is never logged, because it may be long or contain anything.
//
//   {"kind": "log", "logger": "chime", "success_level": "info", "failure_level": "error"}
//
//   run report: job="backup" status=failed scheduled=2025-03-30T01:00:00Z
//   duration=2.125s exit_code=1 attempt=0 error="disk full"     (one line)
//
// Thread safety: deliver() only reads the sink's settings, and spdlog's
// loggers are thread-safe, so one value may deliver from several threads.
#pragma once

#include <chime/delivery.hpp>
#include <chime/detail/sink_json.hpp>
#include <chime/iso8601.hpp>
#include <chime/report.hpp>
#include <chime/report_json.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace chime {

struct log_sink {
    static constexpr std::string_view kind = "log";

    // The spdlog logger to write to. When no logger of that name is
    // registered, deliver() registers one that writes to the default
    // logger's sinks.
    std::string logger = "chime";
    // The level for succeeded and skipped runs.
    spdlog::level::level_enum success_level = spdlog::level::info;
    // The level for failed, timed-out, interrupted and missed runs.
    spdlog::level::level_enum failure_level = spdlog::level::err;
    delivery_mode when = delivery_mode::always;

    // The maximum length in bytes of the error text and the job name in a
    // line. Longer ones are cut and end in "...".
    static constexpr std::size_t max_field_bytes = 300;

    // Reads the settings above; every key is optional. Levels are spdlog's
    // names: trace, debug, info, warning (or warn), error, critical, off.
    // Throws invalid_input naming the key and the value.
    static log_sink from_json(const nlohmann::json& settings);

    nlohmann::json to_json() const;

    // Writes format_line(r) at the level for r.status.
    void deliver(const report& r);

    // The line deliver() writes, without a newline. Text fields are quoted,
    // with '"', '\' and control characters escaped, so a report is always
    // one line.
    static std::string format_line(const report& r);
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline constexpr std::array<std::string_view, 7> log_level_names{
    "trace", "debug", "info", "warning", "error", "critical", "off"};

inline spdlog::level::level_enum log_level_from_json(const nlohmann::json& j, const char* key,
                                                     spdlog::level::level_enum fallback) {
    auto text = optional_sink_string(j, log_sink::kind, key);
    if (!text) {
        return fallback;
    }
    if (*text == "warn") {
        return spdlog::level::warn;
    }
    for (std::size_t i = 0; i < log_level_names.size(); ++i) {
        if (log_level_names[i] == *text) {
            return static_cast<spdlog::level::level_enum>(i);
        }
    }
    throw_sink_error(log_sink::kind, std::string("\"") + key + "\" is " + describe_json(*text) +
                                         "; expected one of trace, debug, info, warning, "
                                         "error, critical, off");
}

inline std::string log_level_name(spdlog::level::level_enum level) {
    const auto index = static_cast<std::size_t>(level);
    return index < log_level_names.size() ? std::string(log_level_names[index]) : "info";
}

// `text` in double quotes with '"', '\' and control characters escaped, cut
// to `max_bytes` of input. Invalid UTF-8 becomes U+FFFD first.
inline std::string quote_for_log(std::string_view text, std::size_t max_bytes) {
    std::string valid = to_valid_utf8(text);
    bool cut = false;
    if (valid.size() > max_bytes) {
        std::size_t end = max_bytes;
        // Back up to the start of a UTF-8 sequence, so the cut never splits one.
        while (end > 0 && (static_cast<unsigned char>(valid[end]) & 0xc0) == 0x80) {
            --end;
        }
        valid.resize(end);
        cut = true;
    }
    std::string out = "\"";
    for (unsigned char c : valid) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            constexpr char digits[] = "0123456789abcdef";
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += cut ? "...\"" : "\"";
    return out;
}

} // namespace detail

inline log_sink log_sink::from_json(const nlohmann::json& settings) {
    detail::check_sink_keys(settings, kind, {"logger", "success_level", "failure_level"});
    log_sink sink;
    sink.when = delivery_mode_of(settings);
    if (auto name = detail::optional_sink_string(settings, kind, "logger")) {
        if (name->empty()) {
            detail::throw_sink_error(kind, "\"logger\" is empty; give a logger name or leave "
                                           "the key out for \"chime\"");
        }
        sink.logger = *name;
    }
    sink.success_level = detail::log_level_from_json(settings, "success_level", sink.success_level);
    sink.failure_level = detail::log_level_from_json(settings, "failure_level", sink.failure_level);
    return sink;
}

inline nlohmann::json log_sink::to_json() const {
    return {
        {"when", to_string(when)},
        {"logger", logger},
        {"success_level", detail::log_level_name(success_level)},
        {"failure_level", detail::log_level_name(failure_level)},
    };
}

inline std::string log_sink::format_line(const report& r) {
    std::string line = "run report: job=" + detail::quote_for_log(r.job, max_field_bytes);
    line += " status=";
    line += to_string(r.status);
    line += " scheduled=" + format_utc(r.scheduled);
    line += " duration=";
    line += r.started && r.finished ? detail::format_seconds(*r.finished - *r.started) : "-";
    line += " exit_code=";
    line += r.exit_code ? std::to_string(*r.exit_code) : "-";
    line += " attempt=" + std::to_string(r.attempt);
    if (!r.error.empty()) {
        line += " error=" + detail::quote_for_log(r.error, max_field_bytes);
    }
    if (r.output_truncated) {
        line += " output_truncated=true";
    }
    return line;
}

inline void log_sink::deliver(const report& r) {
    std::shared_ptr<spdlog::logger> target = spdlog::get(logger);
    if (!target) {
        auto fallback = spdlog::default_logger();
        target = std::make_shared<spdlog::logger>(logger, fallback->sinks().begin(),
                                                  fallback->sinks().end());
        target->set_level(fallback->level());
        try {
            spdlog::register_logger(target);
        } catch (const spdlog::spdlog_ex&) {
            // Another thread registered the name first; use that logger.
            if (auto registered = spdlog::get(logger)) {
                target = registered;
            }
        }
    }
    const bool failure = is_failure(r.status) || r.status == run_status::missed;
    target->log(failure ? failure_level : success_level, "{}", format_line(r));
}

} // namespace chime
