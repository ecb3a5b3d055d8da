// The cron dialect: parsing an expression into bit sets and finding the next
// matching local time. Time zones and DST are the job of cron_trigger, which
// builds on this header.
//
//   5 fields   minute hour day-of-month month day-of-week
//   6 fields   second minute hour day-of-month month day-of-week
//   7 fields   second minute hour day-of-month month day-of-week year
//
// Thread safety: a parsed cron_expression is an immutable value.
#pragma once

#include <chime/error.hpp>
#include <chime/zone.hpp>

#include <date/date.h>

#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chime {

// The rule that combines day-of-month and day-of-week when both are restricted.
enum class day_rule {
    either, // Vixie cron: a day matches if either field matches
    both    // a day matches only if both fields match
};

// The numbering of the day-of-week field.
enum class weekday_numbering {
    automatic, // quartz for a 7-field expression with '?' in a day field, cron otherwise
    cron,      // 0-7, 0 and 7 are Sunday
    quartz     // 1-7, 1 is Sunday
};

struct cron_options {
    day_rule days = day_rule::either;
    weekday_numbering weekdays = weekday_numbering::automatic;
    friend bool operator==(const cron_options&, const cron_options&) = default;
};

// A parsed cron expression.
class cron_expression {
public:
    // The first year a year field may name and the first it may not.
    static constexpr int first_year = 1970;
    static constexpr int end_year = 2400;

    // Parses `text`. Throws invalid_input with a message that names the
    // field, the token and the allowed values, e.g.
    // `day-of-month: 32 is outside 1-31 in "0 0 32 * *"`.
    static cron_expression parse(std::string_view text, cron_options options = {});

    const std::string& text() const noexcept { return text_; }
    const cron_options& options() const noexcept { return options_; }

    // True for "@reboot": no clock time, the job runs once when the worker starts.
    bool is_reboot() const noexcept { return reboot_; }

    // True when neither the minute nor the hour field starts with '*'
    // (cronie's test for jobs that run at fixed times of day).
    bool is_fixed_time() const noexcept { return fixed_time_; }

    // True when the day-of-week numbers are read as Quartz numbers (1 = Sunday).
    bool uses_quartz_weekdays() const noexcept { return quartz_weekdays_; }

    // The earliest local time t with from <= t < limit that matches, or none.
    // Searches end at the start of the year 2400.
    std::optional<local_seconds> next_local(local_seconds from, local_seconds limit) const noexcept;

    // True when the local time `t` (whole seconds) matches every field.
    bool matches(local_seconds t) const noexcept;

    friend bool operator==(const cron_expression& a, const cron_expression& b) noexcept {
        return a.text_ == b.text_ && a.options_ == b.options_;
    }

private:
    // Bit sets, bit i set when value i matches.
    std::uint64_t seconds_ = 1;   // 0-59
    std::uint64_t minutes_ = 0;   // 0-59
    std::uint32_t hours_ = 0;     // 0-23
    std::uint32_t days_ = 0;      // 1-31
    std::uint32_t months_ = 0;    // 1-12
    std::uint32_t weekdays_ = 0;  // 0-6, 0 = Sunday
    std::array<std::uint64_t, 7> years_{}; // bit (y - 1970), all set when unrestricted

    // Day-of-month specials.
    std::uint32_t last_minus_ = 0;      // L-n: bit n, L is bit 0
    std::uint32_t nearest_weekday_ = 0; // nW: bit n
    bool last_weekday_of_month_ = false; // LW

    // Day-of-week specials.
    std::uint32_t last_of_weekday_ = 0; // dL: bit d (0-6)
    std::uint64_t nth_weekday_ = 0;     // d#k: bit d * 5 + (k - 1)

    bool day_of_month_star_ = true;
    bool day_of_week_star_ = true;
    bool simple_days_ = true;           // no specials: the fast path applies
    bool never_ = false;                // provably never matches
    bool every_day_ = false;            // every day of every month of every year matches

    // The first and last matching minutes of the day (h * 60 + m), -1 when none.
    int first_minute_ = -1;
    int last_minute_ = -1;

    // For each weekday of the 1st of a month, the days 1-31 whose weekday is in weekdays_.
    std::array<std::uint32_t, 7> weekday_pattern_{};

    bool reboot_ = false;
    bool fixed_time_ = true;
    bool quartz_weekdays_ = false;
    std::string text_;
    cron_options options_;

    friend class cron_parser;

    std::uint32_t day_mask(int y, unsigned m, unsigned month_length,
                           unsigned first_weekday) const noexcept;
    bool year_matches(int y) const noexcept {
        int i = y - first_year;
        return i >= 0 && i < end_year - first_year && ((years_[i / 64] >> (i % 64)) & 1) != 0;
    }
    int next_year(int y) const noexcept;
    // The first matching time of day at or after hh:mm:ss, as seconds since
    // midnight, or none when the rest of the day has no match.
    std::optional<std::chrono::seconds> next_time_of_day(int hh, int mm, int ss) const noexcept;
    void finish();
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline constexpr std::array<std::string_view, 12> month_names = {
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
inline constexpr std::array<std::string_view, 12> month_words = {
    "JANUARY", "FEBRUARY", "MARCH",     "APRIL",   "MAY",      "JUNE",
    "JULY",    "AUGUST",   "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"};
inline constexpr std::array<std::string_view, 7> weekday_names = {"SUN", "MON", "TUE", "WED",
                                                                  "THU", "FRI", "SAT"};
inline constexpr std::array<std::string_view, 7> weekday_words = {
    "SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"};

inline unsigned days_in_month(int y, unsigned m) noexcept {
    constexpr unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return leap ? 29 : 28;
    }
    return lengths[m - 1];
}

// Lowest set bit at or above `from`, or -1.
template <class Int>
inline int next_bit(Int bits, int from) noexcept {
    if (from >= int(sizeof(Int) * 8)) {
        return -1;
    }
    Int masked = bits & (~Int{0} << from);
    return masked == 0 ? -1 : std::countr_zero(masked);
}

// Parses a whole token of up to 9 decimal digits; false for anything else.
inline bool parse_small_int(std::string_view token, int& value) noexcept {
    if (token.empty() || token.size() > 9) {
        return false;
    }
    int result = 0;
    for (char c : token) {
        if (c < '0' || c > '9') {
            return false;
        }
        result = result * 10 + (c - '0');
    }
    value = result;
    return true;
}

inline std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

} // namespace detail

// Reads one expression; used only by cron_expression::parse.
class cron_parser {
public:
    enum class field_kind { second, minute, hour, day_of_month, month, day_of_week, year };

    cron_parser(std::string_view text, cron_options options) : text_(text), options_(options) {}

    cron_expression parse() {
        cron_expression result;
        result.options_ = options_;
        result.text_ = std::string(text_);

        auto trimmed = trim(text_);
        if (trimmed.empty()) {
            throw invalid_input("cron expression is empty; expected 5, 6 or 7 fields such as "
                                "\"30 2 * * *\"");
        }
        field_list fields;
        if (trimmed.front() == '@') {
            auto macro = detail::upper(trimmed);
            if (macro == "@REBOOT") {
                result.reboot_ = true;
                result.fixed_time_ = false;
                result.never_ = true;
                return result;
            }
            std::string_view expansion;
            if (macro == "@YEARLY" || macro == "@ANNUALLY") {
                expansion = "0 0 1 1 *";
            } else if (macro == "@MONTHLY") {
                expansion = "0 0 1 * *";
            } else if (macro == "@WEEKLY") {
                expansion = "0 0 * * 0";
            } else if (macro == "@DAILY" || macro == "@MIDNIGHT") {
                expansion = "0 0 * * *";
            } else if (macro == "@HOURLY") {
                expansion = "0 * * * *";
            } else {
                throw invalid_input("unknown cron macro \"" + std::string(trimmed) +
                                    "\"; expected @yearly, @annually, @monthly, @weekly, "
                                    "@daily, @midnight, @hourly or @reboot");
            }
            fields = split(expansion);
        } else {
            fields = split(trimmed);
        }

        if (fields.size() < 5 || fields.size() > 7) {
            throw invalid_input("expected 5, 6 or 7 fields, got " + std::to_string(fields.size()) +
                                " in \"" + std::string(text_) + "\"");
        }
        command_hint_ = fields.size() >= 6 && looks_like_command(fields[fields.size() - 1]);
        std::size_t first = 0;
        bool with_seconds = fields.size() >= 6;
        if (with_seconds) {
            result.seconds_ = read_bits(fields[0], field_kind::second);
            first = 1;
        }
        result.minutes_ = read_bits(fields[first], field_kind::minute);
        result.hours_ = static_cast<std::uint32_t>(read_bits(fields[first + 1], field_kind::hour));
        auto dom_text = fields[first + 2];
        auto month_text = fields[first + 3];
        auto dow_text = fields[first + 4];
        result.months_ = static_cast<std::uint32_t>(read_bits(month_text, field_kind::month));

        bool question = dom_text == "?" || dow_text == "?";
        quartz_ = options_.weekdays == weekday_numbering::quartz ||
                  (options_.weekdays == weekday_numbering::automatic && fields.size() == 7 &&
                   question);
        result.quartz_weekdays_ = quartz_;

        read_day_of_month(dom_text, result);
        read_day_of_week(dow_text, result);
        // '?' means "no restriction", the same as '*' for the day rule.
        if (dom_text == "?") {
            result.days_ = 0xfffffffe;
        }
        if (dow_text == "?") {
            result.weekdays_ = 0x7f;
        }

        if (fields.size() == 7) {
            read_years(fields[6], result);
        } else {
            result.years_.fill(~std::uint64_t{0});
        }

        result.fixed_time_ = fields[first].front() != '*' && fields[first + 1].front() != '*';
        result.day_of_month_star_ = dom_text.front() == '*' || dom_text == "?";
        result.day_of_week_star_ = dow_text.front() == '*' || dow_text == "?";
        result.finish();
        return result;
    }

private:
    struct field_spec {
        std::string_view name;
        int min;
        int max;
    };

    static field_spec spec(field_kind kind, bool quartz) {
        switch (kind) {
        case field_kind::second: return {"second", 0, 59};
        case field_kind::minute: return {"minute", 0, 59};
        case field_kind::hour: return {"hour", 0, 23};
        case field_kind::day_of_month: return {"day-of-month", 1, 31};
        case field_kind::month: return {"month", 1, 12};
        case field_kind::day_of_week: return quartz ? field_spec{"day-of-week", 1, 7}
                                                    : field_spec{"day-of-week", 0, 7};
        case field_kind::year:
            return {"year", cron_expression::first_year, cron_expression::end_year - 1};
        }
        return {"", 0, 0};
    }

    // Blanks separate fields: space, tab, and the line ends a crontab may leave.
    static bool is_blank(char c) noexcept {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
    }

    static std::string_view trim(std::string_view s) {
        while (!s.empty() && is_blank(s.front())) {
            s.remove_prefix(1);
        }
        while (!s.empty() && is_blank(s.back())) {
            s.remove_suffix(1);
        }
        return s;
    }

    // Up to 8 fields; a ninth is counted but not kept, for the error message.
    struct field_list {
        std::array<std::string_view, 8> items;
        std::size_t count = 0;
        std::size_t size() const noexcept { return count; }
        std::string_view operator[](std::size_t i) const noexcept { return items[i]; }
        void push_back(std::string_view item) noexcept {
            if (count < items.size()) {
                items[count] = item;
            }
            ++count;
        }
    };

    static field_list split(std::string_view s) {
        field_list parts;
        std::size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && is_blank(s[i])) {
                ++i;
            }
            auto begin = i;
            while (i < s.size() && !is_blank(s[i])) {
                ++i;
            }
            if (i > begin) {
                parts.push_back(s.substr(begin, i - begin));
            }
        }
        return parts;
    }

    [[noreturn]] void fail(field_kind kind, const std::string& what) const {
        std::string message = std::string(spec(kind, quartz_).name) + ": " + what + " in \"" +
                              std::string(text_) + "\"";
        if (command_hint_) {
            message += "; 6 or 7 fields start with seconds, so if this is a crontab line, "
                       "leave out the command";
        }
        throw invalid_input(message);
    }

    // True for a field no cron field can be, such as "/usr/bin/backup.sh":
    // the last field of a crontab line pasted with its command.
    static bool looks_like_command(std::string_view field) {
        if (field.front() == '/' || field.front() == '.' || field.front() == '~') {
            return true;
        }
        // A word longer than any cron name, such as "echo" or "backup".
        bool word = field.size() > 3;
        for (char c : field) {
            word = word && std::isalpha(static_cast<unsigned char>(c));
        }
        if (word) {
            return true;
        }
        for (char c : field) {
            bool cron_char = std::isalnum(static_cast<unsigned char>(c)) || c == '*' ||
                             c == '/' || c == ',' || c == '-' || c == '?' || c == '#';
            if (!cron_char) {
                return true;
            }
        }
        return false;
    }

    static std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

    std::string allowed(field_kind kind) const {
        auto s = spec(kind, quartz_);
        std::string out = std::to_string(s.min) + "-" + std::to_string(s.max);
        if (kind == field_kind::month) {
            out += " or JAN-DEC";
        } else if (kind == field_kind::day_of_week) {
            out += quartz_ ? " (1 = Sunday) or SUN-SAT" : " (0 and 7 = Sunday) or SUN-SAT";
        }
        return out;
    }

    // A number or, for months and weekdays, a three-letter name. Returns the
    // value in the field's own numbering (day-of-week names give 0-6, or 1-7
    // with Quartz numbering).
    int read_value(std::string_view token, field_kind kind) const {
        if (token.empty()) {
            fail(kind, "a value is missing");
        }
        auto s = spec(kind, quartz_);
        if (std::isdigit(static_cast<unsigned char>(token.front()))) {
            int value = 0;
            if (!detail::parse_small_int(token, value)) {
                fail(kind, quoted(token) + " is not a number; expected " + allowed(kind));
            }
            if (value < s.min || value > s.max) {
                fail(kind, std::string(token) + " is outside " + allowed(kind));
            }
            return value;
        }
        auto name = detail::upper(token);
        if (kind == field_kind::month) {
            for (std::size_t i = 0; i < 12; ++i) {
                if (name == detail::month_names[i]) {
                    return int(i) + 1;
                }
                if (name == detail::month_words[i]) {
                    fail(kind, quoted(token) + " is not a valid name; use the three-letter form " +
                                   std::string(detail::month_names[i]));
                }
            }
        } else if (kind == field_kind::day_of_week) {
            for (std::size_t i = 0; i < 7; ++i) {
                if (name == detail::weekday_names[i]) {
                    return quartz_ ? int(i) + 1 : int(i);
                }
                if (name == detail::weekday_words[i]) {
                    fail(kind, quoted(token) + " is not a valid name; use the three-letter form " +
                                   std::string(detail::weekday_names[i]));
                }
            }
        }
        fail(kind, quoted(token) + " is not a number or name; expected " + allowed(kind));
    }

    // Converts a day-of-week value in the field's numbering to 0-6, Sunday 0.
    int weekday_index(int value) const { return quartz_ ? value - 1 : value % 7; }

    // Reads a comma list of `*`, `N`, `N-M` and either with `/step`, into a
    // bit set over the field's own values. Ranges of cyclic fields may wrap
    // (22-2 is 22,23,0,1,2).
    std::uint64_t read_bits(std::string_view field, field_kind kind) {
        if (field == "*") {
            auto s = spec(kind, quartz_);
            return (~std::uint64_t{0} >> (63 - s.max)) & (~std::uint64_t{0} << s.min);
        }
        std::uint64_t bits = 0;
        for_each_element(field, kind, [&](std::string_view element) {
            for_each_value(element, kind, [&](int v) { bits |= std::uint64_t{1} << v; });
        });
        return bits;
    }

    template <class F>
    void for_each_element(std::string_view field, field_kind kind, F&& on_element) {
        std::size_t start = 0;
        while (true) {
            auto comma = field.find(',', start);
            auto element = field.substr(start, comma == std::string_view::npos ? field.npos
                                                                                : comma - start);
            if (element.empty()) {
                fail(kind, "empty list element in " + quoted(field));
            }
            if (element == "?" && field.size() > 1) {
                fail(kind, "'?' must be the whole field");
            }
            on_element(element);
            if (comma == std::string_view::npos) {
                break;
            }
            start = comma + 1;
        }
    }

    template <class F>
    void for_each_value(std::string_view element, field_kind kind, F&& emit) {
        auto s = spec(kind, quartz_);
        std::string_view range = element;
        int step = 1;
        bool stepped = false;
        if (auto slash = element.find('/'); slash != std::string_view::npos) {
            range = element.substr(0, slash);
            auto step_text = element.substr(slash + 1);
            auto [end, ec] =
                std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
            const bool whole = !step_text.empty() && end == step_text.data() + step_text.size();
            if (whole && ec == std::errc::result_out_of_range) {
                fail(kind, "step " + std::string(step_text) + " in " + quoted(element) +
                               " is too large; use at most the size of the field");
            }
            if (!whole || ec != std::errc{}) {
                fail(kind, "step " + quoted(step_text) + " in " + quoted(element) +
                               " is not a number");
            }
            if (step < 1) {
                fail(kind, "step " + std::string(step_text) + " in " + quoted(element) +
                               " is invalid; use 1 or more");
            }
            stepped = true;
        }
        if (range.empty()) {
            fail(kind, quoted(element) + " has no range before the step");
        }
        int low = s.min, high = s.max;
        if (range == "*") {
            // '*' covers the field's range; for day-of-week that is 0-7, so
            // */7 is Sunday as in cronie.
        } else if (range == "?") {
            if (kind != field_kind::day_of_month && kind != field_kind::day_of_week) {
                fail(kind, "'?' is only valid in day-of-month and day-of-week");
            }
            if (stepped) {
                fail(kind, "'?' takes no step");
            }
        } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
            if (dash == 0 || dash + 1 == range.size()) {
                fail(kind, "range " + quoted(range) + " is missing a value; expected N-M");
            }
            low = read_value(range.substr(0, dash), kind);
            high = read_value(range.substr(dash + 1), kind);
        } else {
            low = read_value(range, kind);
            // "N/step" runs from N to the end of the field (Quartz, cronie-noanacron).
            high = stepped ? s.max : low;
        }

        bool cyclic = kind != field_kind::year;
        if (low > high) {
            if (!cyclic) {
                fail(kind, "range " + quoted(range) + " is reversed; write the smaller year first");
            }
            if (kind == field_kind::day_of_week && !quartz_ && low == 7) {
                low = 0; // 7-2 is SUN-TUE
            }
        }
        if (low <= high) {
            // 64-bit counters: a step near INT_MAX must not overflow.
            for (long long v = low; v <= high; v += step) {
                emit_value(kind, int(v), emit);
            }
            return;
        }
        // A wrapping range walks low..max then min..high with one step count.
        // Day-of-week wraps over its seven days, so 0 and 7 are not both visited.
        int cycle_max = kind == field_kind::day_of_week && !quartz_ ? 6 : s.max;
        int length = (cycle_max - low + 1) + (high - s.min + 1);
        for (long long i = 0; i < length; i += step) {
            int v = low + int(i);
            if (v > cycle_max) {
                v = s.min + (v - cycle_max - 1);
            }
            emit_value(kind, v, emit);
        }
    }

    template <class F>
    void emit_value(field_kind kind, int v, F& emit) {
        if (kind == field_kind::day_of_week) {
            emit(weekday_index(v));
        } else if (kind == field_kind::year) {
            emit(v - cron_expression::first_year);
        } else {
            emit(v);
        }
    }

    void read_day_of_month(std::string_view field, cron_expression& result) {
        auto kind = field_kind::day_of_month;
        if (field == "*") {
            result.days_ = 0xfffffffe;
            return;
        }
        for_each_element(field, kind, [&](std::string_view element) {
            auto upper = detail::upper(element);
            if (upper == "L") {
                result.last_minus_ |= 1;
                return;
            }
            if (upper == "LW") {
                result.last_weekday_of_month_ = true;
                return;
            }
            if (upper.starts_with("L-")) {
                int n = 0;
                if (!detail::parse_small_int(std::string_view(upper).substr(2), n) || n > 30) {
                    fail(kind, quoted(element) + " is invalid; L-n needs n in 0-30");
                }
                result.last_minus_ |= std::uint32_t{1} << n;
                return;
            }
            if (upper.size() > 1 && upper.back() == 'W') {
                auto digits = std::string_view(upper).substr(0, upper.size() - 1);
                int day = 0;
                auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), day);
                if (ec != std::errc{} || end != digits.data() + digits.size()) {
                    fail(kind, quoted(element) + " is invalid; nW needs a day number such as 15W");
                }
                if (day < 1 || day > 31) {
                    fail(kind, std::string(digits) + " is outside 1-31");
                }
                result.nearest_weekday_ |= std::uint32_t{1} << day;
                return;
            }
            if (upper == "W") {
                fail(kind, "\"W\" needs a day number (15W) or L (LW)");
            }
            for_each_value(element, kind,
                           [&](int v) { result.days_ |= std::uint32_t{1} << v; });
        });
    }

    void read_day_of_week(std::string_view field, cron_expression& result) {
        auto kind = field_kind::day_of_week;
        if (field == "*") {
            result.weekdays_ = 0x7f;
            return;
        }
        for_each_element(field, kind, [&](std::string_view element) {
            auto upper = detail::upper(element);
            if (auto hash = upper.find('#'); hash != std::string::npos) {
                if (hash == 0) {
                    fail(kind, quoted(element) + " needs a weekday before '#', such as MON#1");
                }
                int day = weekday_index(read_value(std::string_view(element).substr(0, hash), kind));
                auto nth_text = std::string_view(upper).substr(hash + 1);
                int nth = 0;
                auto [end, ec] =
                    std::from_chars(nth_text.data(), nth_text.data() + nth_text.size(), nth);
                if (nth_text.empty() || ec != std::errc{} ||
                    end != nth_text.data() + nth_text.size() || nth < 1 || nth > 5) {
                    fail(kind, quoted(element) + " is invalid; the number after # must be 1-5");
                }
                result.nth_weekday_ |= std::uint64_t{1} << (day * 5 + nth - 1);
                return;
            }
            if (upper == "L") {
                fail(kind, "\"L\" alone is ambiguous; write SAT, or nL for the last weekday n of "
                           "the month (5L is the last Friday)");
            }
            if (upper.size() > 1 && upper.back() == 'L') {
                int day = weekday_index(
                    read_value(std::string_view(element).substr(0, element.size() - 1), kind));
                result.last_of_weekday_ |= std::uint32_t{1} << day;
                return;
            }
            for_each_value(element, kind,
                           [&](int v) { result.weekdays_ |= std::uint32_t{1} << v; });
        });
    }

    void read_years(std::string_view field, cron_expression& result) {
        auto kind = field_kind::year;
        for_each_element(field, kind, [&](std::string_view element) {
            if (element == "?") {
                result.years_.fill(~std::uint64_t{0});
                return;
            }
            for_each_value(element, kind, [&](int i) {
                result.years_[i / 64] |= std::uint64_t{1} << (i % 64);
            });
        });
    }

    std::string_view text_;
    cron_options options_;
    bool quartz_ = false;
    bool command_hint_ = false;
};

inline cron_expression cron_expression::parse(std::string_view text, cron_options options) {
    return cron_parser(text, options).parse();
}

inline void cron_expression::finish() {
    if (hours_ != 0 && minutes_ != 0) {
        first_minute_ = std::countr_zero(hours_) * 60 + std::countr_zero(minutes_);
        last_minute_ = (31 - std::countl_zero(hours_)) * 60 + (63 - std::countl_zero(minutes_));
    }
    simple_days_ = last_minus_ == 0 && nearest_weekday_ == 0 && !last_weekday_of_month_ &&
                   last_of_weekday_ == 0 && nth_weekday_ == 0;
    // Rotate the weekday set so that bit 0 is the weekday of the 1st, then
    // repeat it every 7 bits to cover days 1-31 (bit d is day d).
    for (unsigned first = 0; first < 7; ++first) {
        std::uint64_t rotated = ((weekdays_ >> first) | (weekdays_ << (7 - first))) & 0x7f;
        std::uint64_t repeated = rotated * 0x0000000810204081ull; // copies at bits 0, 7, 14, 21, 28
        weekday_pattern_[first] = static_cast<std::uint32_t>((repeated << 1) & 0xfffffffeull);
    }

    // A day-of-month list alone (the day-of-week side is '*' or '?') that
    // no allowed month can hold, such as 31 April, never matches.
    bool day_of_month_decides =
        day_of_week_star_ && (weekdays_ & 0x7f) == 0x7f && simple_days_;
    if (day_of_month_decides || (options_.days == day_rule::both && simple_days_)) {
        bool possible = false;
        for (unsigned m = 1; m <= 12; ++m) {
            if ((months_ >> m) & 1) {
                unsigned longest = detail::days_in_month(2000, m); // 2000 is a leap year
                std::uint32_t valid = static_cast<std::uint32_t>((std::uint64_t{1} << (longest + 1)) - 2);
                possible = possible || (days_ & valid) != 0;
            }
        }
        never_ = !possible;
    }
    bool any_year = false;
    for (auto word : years_) {
        any_year = any_year || word != 0;
    }
    constexpr int year_count = end_year - first_year;
    bool every_year = (years_[year_count / 64] | (~std::uint64_t{0} << (year_count % 64))) ==
                      ~std::uint64_t{0};
    for (int i = 0; i < year_count / 64; ++i) {
        every_year = every_year && years_[i] == ~std::uint64_t{0};
    }
    every_day_ = simple_days_ && every_year && (months_ & 0x1ffe) == 0x1ffe &&
                 (days_ & 0xfffffffe) == 0xfffffffe && (weekdays_ & 0x7f) == 0x7f;
    never_ = never_ || !any_year || months_ == 0 || hours_ == 0 || minutes_ == 0 || seconds_ == 0;
}

inline std::uint32_t cron_expression::day_mask(int y, unsigned m, unsigned month_length,
                                               unsigned first_weekday) const noexcept {
    const std::uint32_t valid =
        static_cast<std::uint32_t>((std::uint64_t{1} << (month_length + 1)) - 2);
    std::uint32_t by_date = days_;
    std::uint32_t by_weekday = weekday_pattern_[first_weekday];
    if (!simple_days_) {
        for (std::uint32_t bits = last_minus_; bits != 0; bits &= bits - 1) {
            int n = std::countr_zero(bits);
            if (int(month_length) - n >= 1) {
                by_date |= std::uint32_t{1} << (month_length - n);
            }
        }
        auto weekday_of = [&](unsigned day) { return (first_weekday + day - 1) % 7; };
        for (std::uint32_t bits = nearest_weekday_; bits != 0; bits &= bits - 1) {
            unsigned day = static_cast<unsigned>(std::countr_zero(bits));
            if (day > month_length) {
                continue; // 31W in a 30-day month matches nothing, as in Quartz
            }
            unsigned wd = weekday_of(day);
            // The nearest Monday-Friday inside the month.
            if (wd == 6) {
                day = day == 1 ? 3 : day - 1;
            } else if (wd == 0) {
                day = day == month_length ? day - 2 : day + 1;
            }
            by_date |= std::uint32_t{1} << day;
        }
        if (last_weekday_of_month_) {
            unsigned day = month_length;
            unsigned wd = weekday_of(day);
            if (wd == 6) {
                day -= 1; // Saturday: the Friday before
            } else if (wd == 0) {
                day -= 2; // Sunday: the Friday before
            }
            by_date |= std::uint32_t{1} << day;
        }
        for (std::uint32_t bits = last_of_weekday_; bits != 0; bits &= bits - 1) {
            unsigned wd = static_cast<unsigned>(std::countr_zero(bits));
            unsigned day = month_length - (weekday_of(month_length) + 7 - wd) % 7;
            by_weekday |= std::uint32_t{1} << day;
        }
        for (std::uint64_t bits = nth_weekday_; bits != 0; bits &= bits - 1) {
            unsigned index = static_cast<unsigned>(std::countr_zero(bits));
            unsigned wd = index / 5, nth = index % 5;
            unsigned day = 1 + (wd + 7 - first_weekday) % 7 + 7 * nth;
            if (day <= month_length) {
                by_weekday |= std::uint32_t{1} << day;
            }
        }
    }
    (void)y;
    (void)m;
    // Vixie cron: a day field that starts with '*' leaves the choice to the other.
    if (options_.days == day_rule::both || day_of_month_star_ || day_of_week_star_) {
        return by_date & by_weekday & valid;
    }
    return (by_date | by_weekday) & valid;
}

inline int cron_expression::next_year(int y) const noexcept {
    for (int i = y - first_year; i < end_year - first_year; ++i) {
        if (i < 0) {
            i = 0;
        }
        std::uint64_t word = years_[i / 64] >> (i % 64);
        if (word != 0) {
            return first_year + i + std::countr_zero(word);
        }
        i |= 63; // skip to the end of this word
    }
    return end_year;
}

inline std::optional<std::chrono::seconds>
cron_expression::next_time_of_day(int hh, int mm, int ss) const noexcept {
    int minute = hh * 60 + mm;
    if (minute > last_minute_) {
        return std::nullopt;
    }
    if (minute <= first_minute_ && (minute < first_minute_ || ss == 0)) {
        return std::chrono::seconds{first_minute_ * 60 + std::countr_zero(seconds_)};
    }
    int hour = minute / 60;
    bool hour_matches = ((hours_ >> hour) & 1) != 0;
    if (hour_matches && ((minutes_ >> (minute % 60)) & 1)) {
        int s = detail::next_bit(seconds_, ss);
        if (s >= 0) {
            return std::chrono::seconds{minute * 60 + s};
        }
    }
    // The next matching minute of the day, at its first matching second: a
    // later minute of this hour, else the first minute of the next hour.
    // Two bit scans; a 1,440-bit table would cost 184 bytes per trigger.
    int first_second = std::countr_zero(seconds_);
    if (hour_matches) {
        int m = detail::next_bit(minutes_, minute % 60 + 1);
        if (m >= 0) {
            return std::chrono::seconds{(hour * 60 + m) * 60 + first_second};
        }
    }
    int next_hour = detail::next_bit(hours_, hour + 1);
    if (next_hour < 0) {
        return std::nullopt;
    }
    return std::chrono::seconds{(next_hour * 60 + std::countr_zero(minutes_)) * 60 +
                                first_second};
}

inline bool cron_expression::matches(local_seconds t) const noexcept {
    if (never_) {
        return false;
    }
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    int y = int(ymd.year());
    unsigned m = unsigned(ymd.month()), d = unsigned(ymd.day());
    auto secs = (t - day).count();
    unsigned first_weekday =
        date::weekday{date::local_days{ymd.year() / ymd.month() / 1}}.c_encoding();
    return year_matches(y) && ((months_ >> m) & 1) &&
           ((day_mask(y, m, detail::days_in_month(y, m), first_weekday) >> d) & 1) &&
           ((hours_ >> (secs / 3600)) & 1) && ((minutes_ >> (secs / 60 % 60)) & 1) &&
           ((seconds_ >> (secs % 60)) & 1);
}

inline std::optional<local_seconds> cron_expression::next_local(local_seconds from,
                                                                local_seconds limit) const noexcept {
    using namespace std::chrono;
    if (never_ || from >= limit) {
        return std::nullopt;
    }
    auto start_day = date::floor<date::days>(from);
    const local_seconds end_of_search{date::local_days{date::year{end_year} / 1 / 1}};
    if (every_day_ && from >= local_seconds{}) {
        // Only the time of day decides: no calendar arithmetic is needed.
        auto sod = (from - start_day).count();
        auto time = next_time_of_day(0, int(sod / 60), int(sod % 60));
        local_seconds result = time ? start_day + *time
                                    : start_day + date::days{1} + *next_time_of_day(0, 0, 0);
        if (result >= limit || result >= end_of_search) {
            return std::nullopt;
        }
        return result;
    }
    date::year_month_day ymd{start_day};
    int y = int(ymd.year());
    unsigned m = unsigned(ymd.month());
    unsigned d = unsigned(ymd.day());
    auto sod = (from - start_day).count();
    int hh = int(sod / 3600), mm = int(sod / 60 % 60), ss = int(sod % 60);
    if (y < first_year) {
        y = first_year;
        m = 1;
        d = 1;
        hh = mm = ss = 0;
    }
    const auto limit_day = date::floor<date::days>(limit);

    // Each pass moves forward by at least a day, and the year bound ends the
    // loop, so a pattern that never matches returns after a bounded search.
    while (true) {
        // Find the next month at or after y-m that matches.
        if (!year_matches(y)) {
            y = next_year(y);
            m = 1;
            d = 1;
            hh = mm = ss = 0;
        }
        if (y >= end_year) {
            return std::nullopt;
        }
        int next_m = detail::next_bit(months_, int(m));
        if (next_m < 0) {
            ++y;
            m = 1;
            d = 1;
            hh = mm = ss = 0;
            continue;
        }
        if (unsigned(next_m) != m) {
            m = unsigned(next_m);
            d = 1;
            hh = mm = ss = 0;
        }
        const auto month_start = date::local_days{date::year{y} / date::month{m} / 1};
        if (month_start > limit_day) {
            return std::nullopt;
        }
        const unsigned length = detail::days_in_month(y, m);
        // 1970-01-01 was a Thursday (4); month_start is never before 1970 here.
        const auto first_weekday =
            static_cast<unsigned>((month_start.time_since_epoch().count() + 4) % 7);
        const std::uint32_t days = day_mask(y, m, length, first_weekday);

        // Within the month: the next matching day, then the time on it.
        for (int day = detail::next_bit(days, int(d)); day >= 0;
             day = detail::next_bit(days, day + 1)) {
            if (unsigned(day) != d) {
                d = unsigned(day);
                hh = mm = ss = 0;
            }
            const auto day_start = month_start + date::days{d - 1};
            if (day_start > limit_day) {
                return std::nullopt;
            }
            if (auto time = next_time_of_day(hh, mm, ss)) {
                local_seconds result = day_start + *time;
                if (result >= limit) {
                    return std::nullopt;
                }
                return result;
            }
            hh = mm = ss = 0;
        }
        if (++m > 12) {
            ++y;
            m = 1;
        }
        d = 1;
        hh = mm = ss = 0;
    }
}

} // namespace chime
