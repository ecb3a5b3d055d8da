// Crontab import: reads a crontab the way cronie's crond reads it, and turns
// each schedule line into a chime job (a cron trigger and a shell task).
//
//   auto file = chime::parse_crontab(text, chime::crontab_format::user);
//   for (const auto& error : file.errors) { ... }       // lines cron rejects
//   nlohmann::json jobs = chime::crontab_jobs(file, "backup");
//
// cronie is the reference: a line cronie rejects is an error here and a line
// it accepts is an entry, even where chime's own cron dialect reads the text
// differently (docs/crontab.md lists every rule and difference).
//
// Thread safety: the functions are pure; results are immutable values.
#pragma once

#include <chime/cron.hpp>
#include <chime/cron_expression.hpp>
#include <chime/error.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chime {

// The two layouts of a crontab line.
enum class crontab_format {
    user,  // a user's crontab (crontab -e): schedule, then command
    system // /etc/crontab and /etc/cron.d: schedule, user name, then command
};

// `system` for /etc/crontab and for files directly in /etc/cron.d, `user` for
// any other path. Only the path is looked at, never the file.
crontab_format crontab_format_of(std::string_view path);

// One schedule line that cron accepts.
struct crontab_entry {
    // 1-based line number in the file.
    std::size_t line = 0;

    // The five time fields as written, joined by single spaces, or the macro
    // ("@daily", "@reboot").
    std::string schedule;

    // The user field of a system crontab; none in a user crontab.
    std::optional<std::string> user;

    // The command line for the shell: the text up to the first unescaped '%',
    // with each "\%" turned into '%'. Trailing blanks and a CR are kept, as
    // crond keeps them.
    std::string command;

    // The text after the first unescaped '%', with each further unescaped '%'
    // turned into a newline and "\%" into '%'. None when the command has no
    // unescaped '%'. crond writes it to the command's standard input and adds
    // a newline when it does not end in one. That newline is not part of this
    // text; cron_input_bytes adds it.
    std::optional<std::string> standard_input;

    // The variables the file sets above this line, the last value of each.
    // cron's own defaults (SHELL, HOME, PATH, LOGNAME, USER) are not added.
    std::map<std::string, std::string> env;

    // The zone named by CRON_TZ when it is set and not empty.
    std::optional<std::string> cron_tz;

    // The schedule read in its zone: CRON_TZ, else the default zone given to
    // parse_crontab. fires_at_start() is true for @reboot.
    cron_trigger trigger;

    bool fires_at_start() const noexcept { return trigger.fires_at_start(); }
};

// A line cron rejects, with a message naming the text and what is wrong.
struct crontab_error {
    std::size_t line = 0;
    std::string message;
};

// The result of reading one crontab: every accepted line and every rejected
// one, in file order. One bad line never stops the import of the others.
struct crontab_file {
    std::vector<crontab_entry> entries;
    std::vector<crontab_error> errors;
};

// Reads the text of a crontab. Schedules without a CRON_TZ are read in
// `default_zone`, by default the system's local zone, as crond does.
// Bad lines become errors, never exceptions.
crontab_file parse_crontab(std::string_view text, crontab_format format,
                           const zone& default_zone = zone::local());

// The recipients of the MAILTO in force for `entry`, split at commas. Empty
// when MAILTO is unset, empty, or contains a character that crond does not
// pass to the mailer (crond then sends no mail).
std::vector<std::string> mail_recipients(const crontab_entry& entry);

// The sender MAILFROM names, when it is set, not empty and passed by crond.
// Without it crond sends as root; the mail sink then uses its own default.
std::optional<std::string> mail_sender(const crontab_entry& entry);

// The bytes crond writes to a command's standard input for `standard_input`:
// the text plus a newline, unless it is empty or its last character other
// than a backslash is a newline.
std::string cron_input_bytes(std::string_view standard_input);

// The chime job for `entry`:
//   {"name": "<file_stem>:<line>",
//    "trigger": {"kind": "cron", "expr": ..., "tz": CRON_TZ, "dst": "cronie", ...},
//    "task": {"kind": "shell", "command": ..., "shell": SHELL or "/bin/sh",
//             "stdin": cron_input_bytes(...), "env": {...}, "cwd": HOME, "user": ...},
//    "sinks": [{"kind": "history"},
//              {"kind": "mail", "when": "non_empty", "to": [...], "from": MAILFROM}]}
// "tz" is there only when CRON_TZ is set, so that other jobs follow the
// daemon's local zone as cron does. "stdin", "cwd", "user", "from" and
// "sinks" are there only when the entry has a value for them. `file_stem`
// must be UTF-8 for the JSON to be written.
nlohmann::json crontab_job(const crontab_entry& entry, std::string_view file_stem);

// crontab_job for every entry of `file`, as a JSON array in file order.
nlohmann::json crontab_jobs(const crontab_file& file, std::string_view file_stem);

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// Blanks as crond's field reader sees them: a CR is not one.
inline bool is_crontab_blank(char c) noexcept {
    return c == ' ' || c == '\t';
}

// White space as crond's environment-line reader sees it (C isspace).
inline bool is_c_space(char c) noexcept {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// A line cut for an error message: at most 60 characters, then "...".
inline std::string excerpt(std::string_view text) {
    constexpr std::size_t max_length = 60;
    if (text.size() <= max_length) {
        return std::string(text);
    }
    return std::string(text.substr(0, max_length - 3)) + "...";
}

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// values past U+10FFFF). Job settings are JSON text, which must be UTF-8.
inline bool is_valid_utf8(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        std::uint32_t value = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if (lead >= 0xc2 && lead <= 0xdf) {
            length = 2;
            value = lead & 0x1fu;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            length = 3;
            value = lead & 0x0fu;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            length = 4;
            value = lead & 0x07u;
        } else {
            return false;
        }
        if (i + length > text.size()) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0u) != 0x80u) {
                return false;
            }
            value = (value << 6) | (next & 0x3fu);
        }
        const bool overlong = (length == 3 && value < 0x800) || (length == 4 && value < 0x10000);
        if (overlong || (value >= 0xd800 && value <= 0xdfff) || value > 0x10ffff) {
            return false;
        }
        i += length;
    }
    return true;
}

// Thrown inside the line reader and turned into a crontab_error whose
// message is `problem`, the quoted line, then `hint` when there is one.
struct crontab_line_error {
    std::string problem;
    std::string hint;
};

// An environment line: NAME=value, with blanks allowed around '=' and
// optional single or double quotes around the name and the value. These are
// the forms crond's load_env accepts (cronie 1.7): a quoted value must be
// followed only by white space, an unquoted value loses its trailing white
// space, and an empty value ("NAME=") is allowed.
struct environment_assignment {
    std::string name;
    std::string value;
};

inline std::optional<environment_assignment> read_environment_line(std::string_view text) {
    std::size_t i = 0;
    const std::size_t n = text.size();
    environment_assignment result;

    if (i < n && (text[i] == '"' || text[i] == '\'')) {
        const char quote = text[i++];
        const auto close = text.find(quote, i);
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        result.name = std::string(text.substr(i, close - i));
        if (result.name.find('=') != std::string::npos) {
            return std::nullopt;
        }
        i = close + 1;
    } else {
        const auto begin = i;
        while (i < n && !is_c_space(text[i]) && text[i] != '=') {
            ++i;
        }
        result.name = std::string(text.substr(begin, i - begin));
    }

    while (i < n && is_c_space(text[i])) {
        ++i;
    }
    if (i == n || text[i] != '=') {
        return std::nullopt;
    }
    ++i;
    while (i < n && is_c_space(text[i])) {
        ++i;
    }
    if (i == n) {
        return result; // "NAME=" sets an empty value
    }

    if (text[i] == '"' || text[i] == '\'') {
        const char quote = text[i++];
        const auto close = text.find(quote, i);
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        for (auto j = close + 1; j < n; ++j) {
            if (!is_c_space(text[j])) {
                return std::nullopt; // text after the closing quote
            }
        }
        result.value = std::string(text.substr(i, close - i));
        return result;
    }
    auto end = n;
    while (end > i && is_c_space(text[end - 1])) {
        --end;
    }
    result.value = std::string(text.substr(i, end - i));
    return result;
}

// The command and standard input of a crontab command field, split and
// translated as crond does just before it runs the job.
struct split_command {
    std::string command;
    std::optional<std::string> standard_input;
};

inline split_command split_at_percent(std::string_view field) {
    split_command result;
    // In the command part a backslash escapes the next character, but only
    // "\%" changes: it becomes '%'. So "\\%" keeps both backslashes and the
    // '%' still ends the command.
    std::size_t i = 0;
    bool escaped = false;
    for (; i < field.size(); ++i) {
        const char c = field[i];
        if (escaped) {
            if (c == '%') {
                result.command.back() = '%';
            } else {
                result.command += c;
            }
            escaped = false;
            continue;
        }
        if (c == '%') {
            break;
        }
        escaped = c == '\\';
        result.command += c;
    }
    if (i == field.size()) {
        return result;
    }

    // In the input part a backslash is held back: before '%' it is dropped
    // and the '%' kept, before anything else it is written, and a held
    // backslash may itself escape what follows. An unescaped '%' is a newline.
    std::string input;
    bool pending_backslash = false;
    for (char c : field.substr(i + 1)) {
        if (pending_backslash) {
            if (c != '%') {
                input += '\\';
            }
        } else if (c == '%') {
            c = '\n';
        }
        pending_backslash = c == '\\';
        if (!pending_backslash) {
            input += c;
        }
    }
    if (pending_backslash) {
        input += '\\';
    }
    result.standard_input = std::move(input);
    return result;
}

// One of the five time fields, with the limits crond uses (day-of-week runs
// to 7, which is Sunday like 0).
struct crontab_field {
    std::string_view name;
    int low;
    int high;
    std::span<const std::string_view> names; // three-letter names, or empty
    std::string_view names_hint;             // for messages: " or JAN-DEC"
};

inline const std::array<crontab_field, 5>& crontab_fields() {
    static const std::array<crontab_field, 5> fields = {{
        {"minute", 0, 59, {}, ""},
        {"hour", 0, 23, {}, ""},
        {"day-of-month", 1, 31, {}, ""},
        {"month", 1, 12, month_names, " or JAN-DEC"},
        {"day-of-week", 0, 7, weekday_names, " or SUN-SAT"},
    }};
    return fields;
}

// Reads one time field with cronie's grammar and rebuilds it as text that
// chime's cron parser reads with the same meaning.
//
//   field = range { "," range }
//   range = "*" [ "/" step ] | value [ "-" value [ "/" step ] ]
//   value = digits | three-letter name (month and day-of-week only)
//
// cronie accepts no '?', 'L', 'W', '#', wrapping range or "N/step"; those
// are errors here even though chime's dialect reads them. Three forms that
// cronie accepts are rewritten, because chime's parser would reject them.
// They are text after a bare '*' ("*x" is '*'), numbers of more than 9
// digits, and a range end past the field that the step never reaches
// ("0-65/100" is 0).
class crontab_field_reader {
public:
    crontab_field_reader(std::string_view token, const crontab_field& field)
        : token_(token), field_(field) {}

    std::string read() {
        while (true) {
            if (pos_ == token_.size() || token_[pos_] == ',') {
                fail("empty list element");
            }
            const bool bare_star = read_range();
            if (pos_ < token_.size() && token_[pos_] == ',') {
                out_ += ',';
                ++pos_;
                continue;
            }
            if (pos_ < token_.size() && !bare_star) {
                fail_unexpected();
            }
            // crond skips whatever follows a bare '*' up to the next blank.
            return out_;
        }
    }

private:
    // Returns true when the range was a '*' without a step.
    bool read_range() {
        if (token_[pos_] == '*') {
            ++pos_;
            out_ += '*';
            if (pos_ < token_.size() && token_[pos_] == '/') {
                ++pos_;
                out_ += read_step(field_.low, field_.high);
                return false;
            }
            return true;
        }

        const auto first_begin = pos_;
        const int first = read_value(true);
        const auto first_text = token_.substr(first_begin, pos_ - first_begin);
        if (pos_ == token_.size() || token_[pos_] != '-') {
            if (pos_ < token_.size() && token_[pos_] == '/') {
                fail("step after a single value",
                     "cron takes a step only after '*' or a range, such as \"" +
                         std::string(first_text) + "-" + std::to_string(field_.high) + "/" +
                         std::string(token_.substr(pos_ + 1)) + "\"");
            }
            check_in_field(first, first_text);
            out_ += value_text(first, first_text);
            return false;
        }
        ++pos_;
        const auto last_begin = pos_;
        const int last = read_value(false);
        const auto last_text = token_.substr(last_begin, pos_ - last_begin);
        const auto range_text = token_.substr(first_begin, pos_ - first_begin);
        if (first > last) {
            fail("range \"" + std::string(range_text) + "\" goes backwards",
                 "cron needs the smaller value first and does not wrap around");
        }
        int step = 1;
        std::string step_text;
        if (pos_ < token_.size() && token_[pos_] == '/') {
            ++pos_;
            step_text = read_step(first, last);
            step = step_value_;
        }
        // Every value the step reaches must lie in the field; values past
        // the last one reached are never checked, as in crond.
        int reached = first;
        for (long long v = first; v <= last; v += step) {
            check_in_field(static_cast<int>(v), v == first ? first_text : last_text);
            reached = static_cast<int>(v);
        }
        out_ += value_text(first, first_text);
        out_ += '-';
        out_ += last > field_.high ? std::to_string(reached) : value_text(last, last_text);
        out_ += step_text;
        return false;
    }

    // A number or a three-letter name. crond allows a '-' after the first
    // value of a range only, and a '/' after the second only.
    int read_value(bool first_of_range) {
        const auto begin = pos_;
        while (pos_ < token_.size() && std::isdigit(static_cast<unsigned char>(token_[pos_]))) {
            ++pos_;
        }
        if (pos_ > begin) {
            // crond reads at most 99 digits; the value saturates here so that
            // an overlong number is out of range rather than wrapped.
            if (pos_ - begin > 99) {
                fail("\"" + std::string(token_.substr(begin, pos_ - begin)) +
                     "\" is too long a number");
            }
            long long value = 0;
            for (auto i = begin; i < pos_; ++i) {
                value = std::min(value * 10 + (token_[i] - '0'), 1'000'000'000LL);
            }
            check_terminator(first_of_range);
            return static_cast<int>(value);
        }
        if (!field_.names.empty()) {
            while (pos_ < token_.size() && std::isalpha(static_cast<unsigned char>(token_[pos_]))) {
                ++pos_;
            }
            if (pos_ > begin) {
                const auto word = token_.substr(begin, pos_ - begin);
                check_terminator(first_of_range);
                const auto upper_word = upper(word);
                for (std::size_t i = 0; i < field_.names.size(); ++i) {
                    if (upper_word == field_.names[i]) {
                        return field_.low + static_cast<int>(i);
                    }
                }
                fail("\"" + std::string(word) + "\" is not a " + std::string(field_.name) + " name",
                     "expected " + allowed() + ", with names of three letters");
            }
        }
        fail_unexpected();
    }

    std::string read_step(int first, int last) {
        const auto begin = pos_;
        while (pos_ < token_.size() && std::isdigit(static_cast<unsigned char>(token_[pos_]))) {
            ++pos_;
        }
        if (pos_ == begin) {
            if (pos_ == token_.size()) {
                fail("no step after '/'");
            }
            fail_unexpected();
        }
        if (pos_ < token_.size() && token_[pos_] != ',') {
            fail_unexpected();
        }

        const auto text = token_.substr(begin, pos_ - begin);
        if (text.size() > 99) {
            fail("step \"" + std::string(text) + "\" is too long a number");
        }
        long long value = 0;
        for (char c : text) {
            value = std::min(value * 10 + (c - '0'), 1'000'000'000LL);
        }
        if (value == 0) {
            fail("step 0 is invalid", "use 1 or more");
        }

        step_value_ = static_cast<int>(value);
        if (text.size() <= 9) {
            return "/" + std::string(text);
        }
        // Too long for chime's parser. A step of at least the range's size
        // reaches the first value only, so such a step becomes that size.
        const long long size = std::max(last - first + 1, 1);
        return "/" + std::to_string(std::min(value, size));
    }

    void check_terminator(bool first_of_range) {
        if (pos_ == token_.size()) {
            return;
        }
        const char c = token_[pos_];
        if (c == ',' || (first_of_range && c == '-') || (!first_of_range && c == '/')) {
            return;
        }
        if (first_of_range && c == '/') {
            return; // reported by read_range with a suggestion
        }
        fail_unexpected();
    }

    void check_in_field(int value, std::string_view text) const {
        if (value < field_.low || value > field_.high) {
            fail(std::string(text) + " is outside " + std::to_string(field_.low) + "-" +
                 std::to_string(field_.high));
        }
    }

    // The number as written, unless it is too long for chime's parser.
    static std::string value_text(int value, std::string_view text) {
        return text.size() > 9 ? std::to_string(value) : std::string(text);
    }

    std::string allowed() const {
        return std::to_string(field_.low) + "-" + std::to_string(field_.high) +
               std::string(field_.names_hint);
    }

    [[noreturn]] void fail_unexpected() const {
        const char c = token_[pos_];
        if (c == '\r') {
            fail("a carriage return ends the field",
                 "the file has Windows (CRLF) line endings, and cron reads only LF; convert "
                 "it, for example with dos2unix");
        }
        std::string hint = "a crontab field holds values (" + allowed() +
                           "), '*', ranges (1-5), lists (1,3) and steps (*/15)";
        if (c == '?' || c == 'L' || c == 'W' || c == '#' || c == 'l' || c == 'w') {
            hint += ", without the Quartz forms ? L W #";
        }
        fail("unexpected '" + std::string(1, c) + "'", hint);
    }

    [[noreturn]] void fail(const std::string& problem, std::string hint = {}) const {
        throw crontab_line_error{std::string(field_.name) + " \"" + std::string(token_) +
                                     "\": " + problem,
                                 std::move(hint)};
    }

    std::string_view token_;
    const crontab_field& field_;
    std::size_t pos_ = 0;
    int step_value_ = 1;
    std::string out_;
};

// The macros crond accepts, in the lower case it requires.
inline bool is_cron_macro(std::string_view word) {
    constexpr std::array<std::string_view, 8> macros = {"reboot", "yearly", "annually", "monthly",
                                                        "weekly", "daily",  "midnight", "hourly"};
    return std::find(macros.begin(), macros.end(), word) != macros.end();
}

// A user name as useradd and adduser accept them, loosely: letters, digits,
// '.', '_', '-', '@' and a final '$', not starting with '-'.
inline bool is_user_name(std::string_view name) {
    if (name.empty() || name.front() == '-') {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                        c == '-' || c == '@' || (c == '$' && i + 1 == name.size());
        if (!ok) {
            return false;
        }
    }
    return true;
}

// A schedule line split into its parts, before the trigger is built.
struct crontab_schedule_line {
    std::string schedule;   // as written
    std::string expression; // for chime's parser
    std::optional<std::string> user;
    std::string_view command_field;
};

inline std::size_t skip_crontab_blanks(std::string_view text, std::size_t i) {
    while (i < text.size() && is_crontab_blank(text[i])) {
        ++i;
    }
    return i;
}

inline std::size_t skip_to_blank(std::string_view text, std::size_t i) {
    while (i < text.size() && !is_crontab_blank(text[i])) {
        ++i;
    }
    return i;
}

// Reads a line that is not blank, a comment or an environment line. `text`
// starts at the first character that is not a blank.
inline crontab_schedule_line read_schedule_line(std::string_view text, crontab_format format) {
    crontab_schedule_line result;
    std::size_t i = 0;
    // A leading '-' turns off crond's log line for the job. chime has no such
    // switch, so the '-' is dropped.
    if (i < text.size() && text[i] == '-') {
        ++i;
    }
    std::string_view after_schedule = "the five time fields";
    if (i < text.size() && text[i] == '@') {
        const auto end = skip_to_blank(text, i);
        const auto word = text.substr(i + 1, end - i - 1);
        if (!is_cron_macro(word)) {
            throw crontab_line_error{"unknown schedule \"" + std::string(text.substr(i, end - i)) +
                                         "\"",
                                     "cron knows @reboot, @yearly, @annually, @monthly, "
                                     "@weekly, @daily, @midnight and @hourly, in lower case"};
        }
        result.schedule = "@" + std::string(word);
        result.expression = result.schedule;
        after_schedule = text.substr(i, end - i);
        i = skip_crontab_blanks(text, end);
    } else {
        for (const auto& field : crontab_fields()) {
            if (i == text.size()) {
                throw crontab_line_error{std::string(field.name) + " is missing",
                                         "a crontab line needs five time fields and a command"};
            }
            const auto end = skip_to_blank(text, i);
            const auto token = text.substr(i, end - i);
            auto rebuilt = crontab_field_reader(token, field).read();
            if (!result.schedule.empty()) {
                result.schedule += ' ';
                result.expression += ' ';
            }
            result.schedule += token;
            result.expression += rebuilt;
            i = skip_crontab_blanks(text, end);
        }
    }

    if (i == text.size()) {
        throw crontab_line_error{"missing command after " + std::string(after_schedule), ""};
    }
    // crond rejects a line whose command would start with '*': it is most
    // often a sixth time field, as in 6- and 7-field schedules.
    if (text[i] == '*') {
        throw crontab_line_error{
            "\"" + std::string(text.substr(i, skip_to_blank(text, i) - i)) + "\" after " +
                std::string(after_schedule),
            std::string("cron takes it for the ") +
                (format == crontab_format::system ? "user" : "command") +
                " and rejects the line, because a crontab schedule has five fields, without "
                "the seconds and year fields of 6- and 7-field schedules"};
    }

    if (format == crontab_format::system) {
        const auto end = skip_to_blank(text, i);
        const auto user = text.substr(i, end - i);
        if (!is_user_name(user)) {
            throw crontab_line_error{"\"" + excerpt(user) + "\" is not a user name",
                                     "in /etc/crontab and /etc/cron.d a line has the user "
                                     "between the schedule and the command"};
        }
        i = skip_crontab_blanks(text, end);
        if (i == text.size()) {
            throw crontab_line_error{"missing command after the user \"" + std::string(user) + "\"",
                                     "in /etc/crontab and /etc/cron.d a line has the user "
                                     "between the schedule and the command"};
        }
        result.user = std::string(user);
    }
    result.command_field = text.substr(i);
    return result;
}

// Reads a schedule line into an entry, with the environment and zone in
// force at that line. Throws crontab_line_error.
inline crontab_entry read_entry(std::string_view content, std::size_t line_number,
                                crontab_format format,
                                const std::map<std::string, std::string>& env,
                                const std::optional<std::string>& cron_tz, const zone& tz) {
    auto parts = read_schedule_line(content, format);
    std::optional<cron_trigger> trigger;
    try {
        trigger.emplace(parts.expression, tz);
    } catch (const invalid_input& e) {
        throw crontab_line_error{"chime cannot read the schedule \"" + parts.schedule + "\"",
                                 e.what()};
    }
    auto command = split_at_percent(parts.command_field);
    if (command.command.empty()) {
        // crond would run an empty shell command, which does nothing.
        throw crontab_line_error{"empty command before the '%'",
                                 "write the command before its input"};
    }
    return crontab_entry{line_number,
                         std::move(parts.schedule),
                         std::move(parts.user),
                         std::move(command.command),
                         std::move(command.standard_input),
                         env,
                         cron_tz,
                         std::move(*trigger)};
}

// The zones CRON_TZ names, each looked up once per file.
class crontab_zones {
public:
    explicit crontab_zones(const zone& default_zone) : default_zone_(default_zone) {}

    // The zone for a CRON_TZ value, or the default zone when there is none.
    // Throws crontab_line_error when the tz database has no such zone.
    const zone& get(const std::optional<std::string>& name, std::size_t set_on_line) {
        if (!name) {
            return default_zone_;
        }
        auto it = zones_.find(*name);
        if (it == zones_.end()) {
            try {
                it = zones_.emplace(*name, zone::locate(*name)).first;
            } catch (const invalid_input&) {
                throw crontab_line_error{"unknown CRON_TZ \"" + *name + "\" (set on line " +
                                             std::to_string(set_on_line) + ")",
                                         "the tz database has no such zone; use an IANA name "
                                         "such as Europe/Berlin or UTC"};
            }
        }
        return it->second;
    }

private:
    const zone& default_zone_;
    std::map<std::string, zone, std::less<>> zones_;
};

} // namespace detail

inline crontab_format crontab_format_of(std::string_view path) {
    if (path == "/etc/crontab") {
        return crontab_format::system;
    }
    constexpr std::string_view cron_d = "/etc/cron.d/";
    if (path.size() > cron_d.size() && path.substr(0, cron_d.size()) == cron_d &&
        path.find('/', cron_d.size()) == std::string_view::npos) {
        return crontab_format::system;
    }
    return crontab_format::user;
}

inline crontab_file parse_crontab(std::string_view text, crontab_format format,
                                  const zone& default_zone) {
    crontab_file result;
    std::map<std::string, std::string> env;
    std::optional<std::string> cron_tz;
    std::size_t cron_tz_line = 0;
    detail::crontab_zones zones(default_zone);

    std::size_t line_number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        ++line_number;
        const auto newline = text.find('\n', start);
        const bool has_newline = newline != std::string_view::npos;
        const auto line = text.substr(start, has_newline ? newline - start : text.npos);
        start = has_newline ? newline + 1 : text.size();

        const auto first = detail::skip_crontab_blanks(line, 0);
        const auto content = line.substr(first);
        if (content.empty() || content.front() == '#') {
            continue;
        }
        auto report = [&](const std::string& message) {
            result.errors.push_back({line_number, detail::escape_control_characters(message)});
        };
        if (!has_newline) {
            report("the last line has no newline at its end, so cron ignores it: \"" +
                   detail::excerpt(content) + "\"; add a newline");
            continue;
        }

        if (content.find('\0') != std::string_view::npos) {
            report("the line contains a NUL byte, which no command or variable can carry");
            continue;
        }
        // The job is stored as JSON, so its text must be UTF-8. crond itself
        // passes any bytes through.
        if (!detail::is_valid_utf8(content)) {
            report("the line is not valid UTF-8, and chime stores jobs as JSON text, which "
                   "must be UTF-8; convert the file, for example with iconv -t UTF-8");
            continue;
        }

        if (auto assignment = detail::read_environment_line(content)) {
            if (assignment->name.empty()) {
                report("environment line \"" + detail::excerpt(content) +
                       "\" has an empty name; write NAME=value");
                continue;
            }
            if (assignment->name == "CRON_TZ") {
                cron_tz_line = line_number;
                auto value = std::string_view(assignment->value);
                if (!value.empty() && value.front() == ':') {
                    value.remove_prefix(1); // ":Europe/Berlin" as TZ allows
                }
                cron_tz = value.empty() ? std::nullopt : std::optional<std::string>(value);
            }
            env[assignment->name] = std::move(assignment->value);
            continue;
        }

        try {
            const zone& tz = zones.get(cron_tz, cron_tz_line);
            result.entries.push_back(
                detail::read_entry(content, line_number, format, env, cron_tz, tz));
        } catch (const detail::crontab_line_error& e) {
            report(e.problem + " in \"" + detail::excerpt(content) + "\"" +
                   (e.hint.empty() ? "" : "; " + e.hint));
        }
    }
    return result;
}

namespace detail {

// crond hands MAILTO and MAILFROM to the mailer only when the first character
// is a letter or digit and every other one is a letter, a digit or one of
// @!:%-.,_+ (cronie's safe_p). Otherwise it logs the value and sends nothing.
inline bool is_safe_mail_value(std::string_view value) noexcept {
    constexpr std::string_view punctuation = "@!:%-.,_+";
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto c = static_cast<unsigned char>(value[i]);
        const bool safe =
            c < 0x80 && (std::isalnum(c) != 0 ||
                         (i > 0 && punctuation.find(static_cast<char>(c)) != punctuation.npos));
        if (!safe) {
            return false;
        }
    }
    return true;
}

} // namespace detail

inline std::vector<std::string> mail_recipients(const crontab_entry& entry) {
    std::vector<std::string> recipients;
    auto it = entry.env.find("MAILTO");
    if (it == entry.env.end() || !detail::is_safe_mail_value(it->second)) {
        return recipients;
    }
    const std::string& value = it->second;
    std::size_t start = 0;
    while (start < value.size()) {
        auto comma = value.find(',', start);
        if (comma == std::string::npos) {
            comma = value.size();
        }
        if (comma > start) {
            recipients.push_back(value.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return recipients;
}

inline std::optional<std::string> mail_sender(const crontab_entry& entry) {
    auto it = entry.env.find("MAILFROM");
    if (it == entry.env.end() || it->second.empty() || !detail::is_safe_mail_value(it->second)) {
        return std::nullopt;
    }
    return it->second;
}

inline std::string cron_input_bytes(std::string_view standard_input) {
    std::string bytes(standard_input);
    // crond decides on the final newline from the last character it wrote
    // outside an escape, and every backslash it writes comes from an escape.
    const auto last = standard_input.find_last_not_of('\\');
    if (last != std::string_view::npos && standard_input[last] != '\n') {
        bytes += '\n';
    }
    return bytes;
}

inline nlohmann::json crontab_job(const crontab_entry& entry, std::string_view file_stem) {
    nlohmann::json trigger = entry.trigger.to_json();
    if (!entry.cron_tz) {
        trigger.erase("tz");
    }

    nlohmann::json task;
    task["kind"] = "shell";
    task["command"] = entry.command;
    // An empty SHELL makes crond's exec fail. The shell task needs a shell,
    // so the job gets /bin/sh instead.
    auto shell = entry.env.find("SHELL");
    const bool has_shell = shell != entry.env.end() && !shell->second.empty();
    task["shell"] = has_shell ? shell->second : std::string("/bin/sh");
    if (entry.standard_input) {
        task["stdin"] = cron_input_bytes(*entry.standard_input);
    }
    task["env"] = nlohmann::json::object();
    for (const auto& [name, value] : entry.env) {
        task["env"][name] = value;
    }
    // The shell task takes an absolute working directory only.
    if (auto home = entry.env.find("HOME");
        home != entry.env.end() && !home->second.empty() && home->second.front() == '/') {
        task["cwd"] = home->second;
    }
    if (entry.user) {
        task["user"] = *entry.user;
    }

    nlohmann::json job;
    job["name"] = std::string(file_stem) + ":" + std::to_string(entry.line);
    job["trigger"] = std::move(trigger);
    job["task"] = std::move(task);
    auto recipients = mail_recipients(entry);
    if (!recipients.empty()) {
        nlohmann::json mail;
        mail["kind"] = "mail";
        mail["when"] = "non_empty";
        mail["to"] = recipients;
        if (auto from = mail_sender(entry)) {
            mail["from"] = *from;
        }
        // The history sink first: a job that lists sinks keeps no history
        // unless the history sink is among them.
        job["sinks"] = nlohmann::json::array({{{"kind", "history"}}, std::move(mail)});
    }
    return job;
}

inline nlohmann::json crontab_jobs(const crontab_file& file, std::string_view file_stem) {
    auto jobs = nlohmann::json::array();
    for (const auto& entry : file.entries) {
        jobs.push_back(crontab_job(entry, file_stem));
    }
    return jobs;
}

} // namespace chime
