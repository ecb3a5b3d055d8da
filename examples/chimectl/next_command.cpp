#include "next_command.hpp"

#include <chime/chime.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace chimectl {
namespace {

// A command-line mistake (unknown option, missing value, ...). run_next
// reports it like chime's invalid_input, with exit status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct next_options {
    std::optional<std::string> expression;
    std::optional<std::string> trigger_json;
    std::optional<std::string> tz;
    std::optional<std::string> dst;
    std::optional<std::string> from;
    std::optional<std::string> until;
    std::optional<std::string> count;
    bool explain = false;
};

std::string in_quotes(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

// True when `args` requests help before any "--".
bool asks_for_help(std::span<const std::string_view> args) {
    for (auto arg : args) {
        if (arg == "--") {
            return false;
        }
        if (arg == "-h" || arg == "--help") {
            return true;
        }
    }
    return false;
}

// The option's storage in `options`, or nullptr for a name that takes no
// value or is unknown.
std::optional<std::string>* value_slot(next_options& options, std::string_view name) {
    if (name == "--tz") {
        return &options.tz;
    }
    if (name == "--dst") {
        return &options.dst;
    }
    if (name == "--from") {
        return &options.from;
    }
    if (name == "--until") {
        return &options.until;
    }
    if (name == "--count") {
        return &options.count;
    }
    if (name == "--json") {
        return &options.trigger_json;
    }
    return nullptr;
}

// Reads `--name value` and `--name=value` options in any order around EXPR;
// after "--" every argument is positional.
next_options parse_arguments(std::span<const std::string_view> args) {
    next_options options;
    std::vector<std::string_view> positional;
    bool options_ended = false;

    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto arg = args[i];
        if (options_ended || arg.size() < 2 || arg.front() != '-') {
            positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }

        const auto equals = arg.find('=');
        const auto name = arg.substr(0, equals);
        std::optional<std::string_view> inline_value;
        if (equals != std::string_view::npos) {
            inline_value = arg.substr(equals + 1);
        }

        if (name == "--explain") {
            if (inline_value) {
                throw usage_error("--explain takes no value, got " + in_quotes(arg));
            }
            options.explain = true;
            continue;
        }
        auto* slot = value_slot(options, name);
        if (slot == nullptr) {
            throw usage_error("unknown option " + in_quotes(name) +
                              " for next; see chimectl next --help");
        }
        if (slot->has_value()) {
            throw usage_error(std::string(name) + " is given twice; give it once");
        }
        if (inline_value) {
            *slot = std::string(*inline_value);
            continue;
        }
        // No value of these options starts with "--", so such an argument
        // means the value was forgotten.
        if (i + 1 == args.size() || args[i + 1].starts_with("--")) {
            throw usage_error(std::string(name) + " needs a value; see chimectl next --help");
        }
        *slot = std::string(args[++i]);
    }

    if (options.trigger_json) {
        if (options.tz || options.dst) {
            throw usage_error(std::string(options.tz ? "--tz" : "--dst") +
                              " cannot be used with --json; set \"tz\" and \"dst\" in the JSON");
        }
        if (!positional.empty()) {
            throw usage_error("unexpected argument " + in_quotes(positional.front()) +
                              " after --json; give either EXPR or --json, not both");
        }
        return options;
    }
    if (positional.empty()) {
        throw usage_error("missing EXPR, the cron expression; for example: "
                          "chimectl next \"30 2 * * *\"");
    }
    if (positional.size() > 1) {
        // The usual cause is an unquoted expression that the shell split.
        throw usage_error("expected one EXPR argument, got " + std::to_string(positional.size()) +
                          " starting with " + in_quotes(positional.front()) +
                          "; quote the whole expression, as in chimectl next \"30 2 * * *\"");
    }
    options.expression = std::string(positional.front());
    return options;
}

std::int64_t read_count(const std::optional<std::string>& text, bool has_until) {
    if (!text) {
        return has_until ? until_next_count : default_next_count;
    }
    std::int64_t count = 0;
    const auto* begin = text->data();
    const auto* end = begin + text->size();
    auto [stop, ec] = std::from_chars(begin, end, count);
    if (ec == std::errc::result_out_of_range && stop == end && text->front() != '-') {
        throw usage_error("--count " + *text + " is too large; the maximum is " +
                          std::to_string(std::numeric_limits<std::int64_t>::max()));
    }
    if (text->empty() || ec != std::errc{} || stop != end || count < 1) {
        throw usage_error("--count must be a positive whole number, got " + in_quotes(*text));
    }
    return count;
}

// Strips nlohmann's "[json.exception.parse_error.101] " prefix, which names
// an internal error id and not the input.
std::string json_message(const nlohmann::json::exception& e) {
    std::string_view text = e.what();
    if (text.starts_with("[json.exception.")) {
        if (auto close = text.find("] "); close != std::string_view::npos) {
            text.remove_prefix(close + 2);
        }
    }
    return std::string(text);
}

// Returns the system's local zone. chime::zone::local() ignores a TZ variable
// that names no zone, so this prints a warning, because a typo would
// otherwise go unnoticed.
chime::zone local_zone_with_warning() {
    auto zone = chime::zone::local();
    if (const char* tz = std::getenv("TZ"); tz != nullptr && *tz != '\0') {
        std::string_view name = tz;
        if (name.front() == ':') {
            name.remove_prefix(1);
        }
        if (zone.name() != name) {
            std::cerr << "chimectl: warning: TZ=" << tz << " names no zone in the tz database; using "
                      << zone.name() << " from /etc/localtime\n";
        }
    }
    return zone;
}

chime::any_trigger build_trigger(const next_options& options) {
    if (options.trigger_json) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(*options.trigger_json);
        } catch (const nlohmann::json::exception& e) {
            // parse_error, or out_of_range for a number such as 1e400.
            throw usage_error("--json: invalid JSON: " + json_message(e));
        }
        try {
            return chime::trigger_from_json(j);
        } catch (const nlohmann::json::exception& e) {
            // A trigger reader that reaches for a value of the wrong type.
            throw usage_error("--json: invalid trigger: " + json_message(e));
        }
    }
    chime::zone tz = options.tz ? chime::zone::locate(*options.tz) : local_zone_with_warning();
    chime::dst_setting dst =
        options.dst ? chime::dst_setting_named(*options.dst) : chime::dst_setting{};
    return chime::cron_trigger(*options.expression, std::move(tz), dst);
}

// Reads the value of --from or --until: "now", an instant with Z or an
// offset, or a local date-time read in `tz`, which must exist there exactly
// once. The result is floored to whole seconds, which keeps --from a strict
// lower bound and --until an inclusive upper bound for whole-second fire times.
chime::instant read_instant(std::string_view option, const std::string& text,
                            const chime::zone& tz) {
    if (text == "now") {
        return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    }
    try {
        auto parsed = chime::parse_date_time(text);
        if (parsed.offset) {
            return std::chrono::floor<std::chrono::seconds>(chime::parse_precise_instant(text));
        }
        auto resolved = tz.resolve(parsed.local);
        switch (resolved.kind) {
        case chime::local_kind::unique:
            return resolved.first;
        case chime::local_kind::nonexistent:
            throw usage_error(
                std::string(option) + " " + text + " does not exist in " + tz.name() +
                " because the clocks jump forward; add Z or an offset such as +01:00");
        case chime::local_kind::ambiguous:
            throw usage_error(std::string(option) + " " + text + " occurs twice in " + tz.name() +
                              ", at " + chime::format_instant(resolved.first, tz) + " and " +
                              chime::format_instant(resolved.second, tz) + "; write one of these");
        }
        return resolved.first;
    } catch (const chime::invalid_input& e) {
        throw usage_error(std::string(option) + ": " + e.what());
    }
}

std::string plural(std::int64_t count, std::string_view noun) {
    return std::to_string(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

// Prints up to `count` fire times in (from, until] and, when fewer exist,
// a note on `err`.
void print_fire_times(const chime::any_trigger& trigger, chime::instant from,
                      std::optional<chime::instant> until, std::int64_t count, bool count_given,
                      bool explain,
                      std::ostream& out, std::ostream& err) {
    const auto& tz = trigger.time_zone();
    std::int64_t printed = 0;
    chime::instant after = from;

    while (printed < count) {
        auto fire = trigger.next_fire_after(after);
        if (!fire || (until && fire->at > *until)) {
            break;
        }
        out << chime::format_instant(fire->at, tz);
        if (explain) {
            if (auto reason = chime::explain(*fire); !reason.empty()) {
                out << "  (" << reason << ")";
            }
        }
        out << '\n';
        ++printed;
        after = fire->at;
    }
    if (printed == count) {
        if (until && !count_given) {
            if (auto more = trigger.next_after(after); more && *more <= *until) {
                err << "chimectl: stopped after " << plural(printed, "fire time") << " before --until "
                    << chime::format_instant(*until, tz) << "; use --count to print more\n";
            }
        }
        return;
    }

    // Tell the user which bound ended the list: --until, or the trigger itself.
    const auto from_text = chime::format_instant(from, tz);
    const auto found = printed == 0 ? std::string("no fire time") : "only " + plural(printed, "fire time");
    auto later = trigger.next_after(after);
    if (until && later) {
        if (!count_given && printed > 0) {
            return; // every fire time up to --until was requested and printed
        }
        err << "chimectl: " << found << " after " << from_text << " up to --until "
            << chime::format_instant(*until, tz) << '\n';
    } else {
        err << "chimectl: " << found << " after " << from_text
            << "; the trigger has no later fire time (searches stop at the year 2400)\n";
    }
}

int run(const next_options& options, std::ostream& out, std::ostream& err) {
    const auto count = read_count(options.count, options.until.has_value());
    const auto trigger = build_trigger(options);
    const auto& tz = trigger.time_zone();
    const auto from =
        options.from ? read_instant("--from", *options.from, tz)
                     : std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    std::optional<chime::instant> until;
    if (options.until) {
        until = read_instant("--until", *options.until, tz);
        if (*until <= from) {
            throw usage_error("--until " + *options.until + " is not after --from " +
                              chime::format_instant(from, tz) + ", so no fire time fits between");
        }
    }
    // Checked after the options, so that an invalid --from is an error here too.
    if (trigger.fires_at_start()) {
        // An any_of may hold @reboot beside clock triggers, whose times still print.
        if (!trigger.next_after(from)) {
            err << "chimectl: @reboot fires once when the worker starts and has no clock time, "
                   "so there is no fire time to print\n";
            return exit_ok;
        }
        err << "chimectl: the trigger also fires once when the worker starts (@reboot)\n";
    }

    print_fire_times(trigger, from, until, count, options.count.has_value(), options.explain, out,
                     err);
    return exit_ok;
}

} // namespace

int run_next(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    if (asks_for_help(args)) {
        print_next_usage(out);
        return exit_ok;
    }
    try {
        return run(parse_arguments(args), out, err);
    } catch (const usage_error& e) {
        err << "chimectl: " << e.what() << '\n';
    } catch (const chime::invalid_input& e) {
        // zone_error is an invalid_input too: an unknown --tz lands here.
        err << "chimectl: " << e.what() << '\n';
    }
    return exit_usage;
}

void print_next_usage(std::ostream& out) {
    out << R"(Usage: chimectl next [OPTIONS] EXPR
       chimectl next [OPTIONS] --json TRIGGER_JSON

Prints the next fire times of a cron expression, or of any trigger given as
JSON, one a line in ISO 8601 with the UTC offset of the trigger's zone at
that instant. Needs no daemon.

Options:
  --tz ZONE        IANA time zone that EXPR is read in, such as Europe/Berlin
                   (default: the system's local zone, from TZ or /etc/localtime)
  --dst POLICY     what a daylight-saving jump does to fire times: cronie
                   (default), skip or every_instant
  --from INSTANT   print fire times strictly after INSTANT (default: now;
                   the word "now" is accepted too)
  --until INSTANT  print no fire time after INSTANT (INSTANT itself may fire)
  --count N        print at most N fire times (default: )"
        << default_next_count << R"(, or )" << until_next_count << R"( with --until)
  --explain        say on each line when the DST policy moved or doubled it
  --json TRIGGER   a trigger in JSON in place of EXPR, such as
                   '{"kind":"cron","expr":"30 2 * * *","tz":"Europe/Berlin"}';
                   it carries its own zone and policy, so --tz and --dst are
                   rejected with it
  -h, --help       print this help

EXPR is one argument, so quote it. It has 5 fields (minute hour day-of-month
month day-of-week), 6 (seconds first) or 7 (seconds first, year last), or is
a macro such as @daily. @reboot prints no fire time, because it fires once
when the worker starts.

INSTANT is ISO 8601 with Z or a UTC offset, such as 2025-03-30T01:00:00Z or
2025-03-30T03:00:00+02:00; a fraction of a second is allowed. Without Z or an
offset (2025-03-30T03:00:00) it is a local time in the trigger's zone, and it
must occur there exactly once.

Options may come before or after EXPR, as --opt VALUE or --opt=VALUE; "--"
ends the options. When fewer than N fire times exist, those found are
printed, a note goes to standard error and the exit status is still 0.
Exit status 2 means invalid arguments or input.

Example:
  chimectl next --tz Europe/Berlin --from 2025-03-29T00:00:00Z --count 4 \
      --explain "30 2 * * *"
)";
}

} // namespace chimectl
