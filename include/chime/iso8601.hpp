// ISO 8601 text for instants, local date-times and durations, as chime reads
// them from JSON and the command line and writes them back.
//
//   2025-03-30T03:00:00+02:00   an instant (offset or Z required)
//   2015-03-08T02:30:00         a local date-time (no offset)
//   PT30S, P7D, P1M, P1Y2M3DT4H an ISO 8601 duration
//
// Thread safety: free functions without shared state.
#pragma once

#include <chime/error.hpp>
#include <chime/zone.hpp>

#include <date/date.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

// An instant with the microseconds that ISO 8601 text may carry. Fire times
// are whole seconds; precise instants only bound searches.
using precise_instant = std::chrono::sys_time<std::chrono::microseconds>;

// A date-time as written: the local fields, the fraction of a second and the
// UTC offset when one was given ("Z" is an offset of zero).
struct date_time_text {
    local_seconds local;
    std::chrono::microseconds fraction{0};
    std::optional<std::chrono::seconds> offset;
};

// An ISO 8601 duration split into its calendar and clock parts.
struct iso_duration {
    std::int64_t years = 0;
    std::int64_t months = 0;
    std::int64_t weeks = 0;
    std::int64_t days = 0;
    std::chrono::seconds clock{0}; // the part after 'T'

    bool has_calendar_part() const noexcept { return years != 0 || months != 0; }
    friend bool operator==(const iso_duration&, const iso_duration&) = default;
};

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]" (a space may stand
// for 'T'). Throws invalid_input naming `text` when it is not of that form or
// names a date that does not exist.
date_time_text parse_date_time(std::string_view text);

// Parses an instant; the offset or Z is required. Throws invalid_input.
precise_instant parse_precise_instant(std::string_view text);

// The whole-second instant at or before parse_precise_instant(text).
instant parse_instant(std::string_view text);

// Parses an ISO 8601 duration such as "PT30S", "P7D", "P1M" or "P1DT12H".
// Throws invalid_input naming `text`.
iso_duration parse_duration(std::string_view text);

// Parses a duration that has a fixed length in seconds: years and months are
// rejected, and days and weeks count as 86,400 and 604,800 seconds.
std::chrono::seconds parse_elapsed_duration(std::string_view text);

// "2025-03-30T03:00:00+02:00": the instant in `z` with the offset in force.
std::string format_instant(instant t, const zone& z);

// "2025-03-30T01:00:00Z".
std::string format_utc(instant t);

// "2015-03-08T02:30:00".
std::string format_local(local_seconds t);

// "PT30S", "P1DT2H": the shortest ISO 8601 form of an elapsed duration.
std::string format_duration(std::chrono::seconds d);

// "P1M", "P1Y2M3W4DT5S".
std::string format_duration(const iso_duration& d);

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

[[noreturn]] inline void throw_bad_date_time(std::string_view text, std::string_view why) {
    throw invalid_input("invalid date-time \"" + std::string(text) + "\": " + std::string(why) +
                        "; expected the form 2025-03-30T02:30:00+01:00");
}

inline bool read_digits(std::string_view text, std::size_t& pos, std::size_t count, int& value) {
    if (pos + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    pos += count;
    return true;
}

inline void append_two_digits(std::string& out, long long value) {
    out += static_cast<char>('0' + value / 10);
    out += static_cast<char>('0' + value % 10);
}

inline void append_offset(std::string& out, std::chrono::seconds offset) {
    auto total = offset.count();
    out += total < 0 ? '-' : '+';
    if (total < 0) {
        total = -total;
    }
    append_two_digits(out, total / 3600);
    out += ':';
    append_two_digits(out, total / 60 % 60);
    if (total % 60 != 0) {
        out += ':';
        append_two_digits(out, total % 60);
    }
}

} // namespace detail

inline date_time_text parse_date_time(std::string_view text) {
    using namespace std::chrono;
    std::size_t pos = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!detail::read_digits(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-' ||
        !detail::read_digits(text, pos, 2, mo) || pos >= text.size() || text[pos++] != '-' ||
        !detail::read_digits(text, pos, 2, d)) {
        detail::throw_bad_date_time(text, "the date is not YYYY-MM-DD");
    }
    if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
        detail::throw_bad_date_time(text, "the time of day is missing");
    }
    ++pos;
    if (!detail::read_digits(text, pos, 2, h) || pos >= text.size() || text[pos++] != ':' ||
        !detail::read_digits(text, pos, 2, mi)) {
        detail::throw_bad_date_time(text, "the time is not HH:MM:SS");
    }
    if (pos < text.size() && text[pos] == ':') {
        ++pos;
        if (!detail::read_digits(text, pos, 2, s)) {
            detail::throw_bad_date_time(text, "the seconds are not two digits");
        }
    }
    date_time_text result;
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        std::int64_t micros = 0;
        std::size_t digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            // Digits past the sixth are dropped, which rounds toward the past.
            if (digits < 6) {
                micros = micros * 10 + (text[pos] - '0');
            }
            ++digits;
            ++pos;
        }
        if (digits == 0) {
            detail::throw_bad_date_time(text, "the fraction of a second has no digits");
        }
        for (auto i = digits; i < 6; ++i) {
            micros *= 10;
        }
        result.fraction = microseconds{micros};
    }
    if (pos < text.size()) {
        char sign = text[pos];
        if (sign == 'Z' || sign == 'z') {
            ++pos;
            result.offset = seconds{0};
        } else if (sign == '+' || sign == '-') {
            ++pos;
            int oh = 0, om = 0;
            if (!detail::read_digits(text, pos, 2, oh)) {
                detail::throw_bad_date_time(text, "the UTC offset is not +HH:MM");
            }
            bool colon = pos < text.size() && text[pos] == ':';
            if (colon) {
                ++pos;
            }
            if ((colon || pos < text.size()) && !detail::read_digits(text, pos, 2, om)) {
                detail::throw_bad_date_time(text, "the UTC offset is not +HH:MM");
            }
            if (oh > 23 || om > 59) {
                detail::throw_bad_date_time(text, "the UTC offset is outside -23:59 to +23:59");
            }
            auto offset = seconds{oh * 3600 + om * 60};
            result.offset = sign == '-' ? -offset : offset;
        }
    }
    if (pos != text.size()) {
        detail::throw_bad_date_time(text, "unexpected text after the time");
    }
    auto ymd = date::year{y} / date::month{static_cast<unsigned>(mo)} /
               date::day{static_cast<unsigned>(d)};
    if (!ymd.ok()) {
        detail::throw_bad_date_time(text, "that date does not exist");
    }
    if (h > 23 || mi > 59 || s > 59) {
        detail::throw_bad_date_time(text, "the time of day is outside 00:00:00-23:59:59");
    }
    result.local = local_seconds{date::local_days{ymd}} + hours{h} + minutes{mi} + seconds{s};
    return result;
}

inline precise_instant parse_precise_instant(std::string_view text) {
    auto parsed = parse_date_time(text);
    if (!parsed.offset) {
        throw invalid_input("invalid instant \"" + std::string(text) +
                            "\": the UTC offset is missing; add Z or an offset such as +01:00");
    }
    auto whole = instant{parsed.local.time_since_epoch() - *parsed.offset};
    return precise_instant{whole} + parsed.fraction;
}

inline instant parse_instant(std::string_view text) {
    return std::chrono::floor<std::chrono::seconds>(parse_precise_instant(text));
}

inline iso_duration parse_duration(std::string_view text) {
    auto fail = [&](std::string_view why) -> iso_duration {
        throw invalid_input("invalid duration \"" + std::string(text) + "\": " + std::string(why) +
                            "; expected ISO 8601 such as PT30S, PT5M or P1D");
    };
    if (text.size() < 3 || (text[0] != 'P' && text[0] != 'p')) {
        return fail("it does not start with P and a number");
    }
    iso_duration result;
    bool in_time = false;
    bool any = false;
    std::size_t pos = 1;
    std::string_view order_date = "YMWD", order_time = "HMS";
    std::size_t next_date = 0, next_time = 0;
    while (pos < text.size()) {
        if (text[pos] == 'T' || text[pos] == 't') {
            if (in_time) {
                return fail("T appears twice");
            }
            in_time = true;
            ++pos;
            continue;
        }
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
        if (ec != std::errc{} || value < 0) {
            return fail("a number is missing or too large");
        }
        pos = static_cast<std::size_t>(end - text.data());
        if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
            return fail("fractions are not supported; use a smaller unit");
        }
        if (pos >= text.size()) {
            return fail("the last number has no unit");
        }
        char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(text[pos++])));
        auto& order = in_time ? order_time : order_date;
        auto& next = in_time ? next_time : next_date;
        auto index = order.find(unit, next);
        if (index == std::string_view::npos) {
            return fail(std::string("unit ") + unit + " is unknown or out of order");
        }
        next = index + 1;
        any = true;
        if (in_time) {
            std::int64_t scale = 1;
            if (unit == 'H') {
                scale = 3600;
            } else if (unit == 'M') {
                scale = 60;
            }
            if (value > std::int64_t{1} << 40) {
                return fail("a number is too large");
            }
            result.clock += std::chrono::seconds{value * scale};
        } else if (unit == 'Y') {
            result.years = value;
        } else if (unit == 'M') {
            result.months = value;
        } else if (unit == 'W') {
            result.weeks = value;
        } else {
            result.days = value;
        }
    }
    if (!any) {
        return fail("it has no number");
    }
    if (in_time && next_time == 0) {
        return fail("T is not followed by hours, minutes or seconds");
    }
    return result;
}

inline std::chrono::seconds parse_elapsed_duration(std::string_view text) {
    auto d = parse_duration(text);
    if (d.has_calendar_part()) {
        throw invalid_input("invalid duration \"" + std::string(text) +
                            "\": years and months have no fixed length; use days or a "
                            "calendar_interval trigger");
    }
    if (d.days > 1'000'000 || d.weeks > 100'000) {
        throw invalid_input("invalid duration \"" + std::string(text) + "\": it is too large");
    }
    return std::chrono::seconds{(d.weeks * 7 + d.days) * 86400} + d.clock;
}

inline std::string format_local(local_seconds t) {
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    auto secs = (t - day).count();
    std::string out;
    out.reserve(32);
    int y = int(ymd.year());
    if (y < 0 || y > 9999) {
        out += std::to_string(y);
    } else {
        out += static_cast<char>('0' + y / 1000);
        out += static_cast<char>('0' + y / 100 % 10);
        detail::append_two_digits(out, y % 100);
    }
    out += '-';
    detail::append_two_digits(out, unsigned(ymd.month()));
    out += '-';
    detail::append_two_digits(out, unsigned(ymd.day()));
    out += 'T';
    detail::append_two_digits(out, secs / 3600);
    out += ':';
    detail::append_two_digits(out, secs / 60 % 60);
    out += ':';
    detail::append_two_digits(out, secs % 60);
    return out;
}

inline std::string format_instant(instant t, const zone& z) {
    // Adding the offset to an instant near the limits of the representation
    // would overflow; so far from the present, the UTC form is as good.
    constexpr std::chrono::seconds far{std::int64_t{1} << 60};
    if (t.time_since_epoch() > far || t.time_since_epoch() < -far) {
        return format_utc(t);
    }
    auto offset = z.offset_at(t);
    auto out = format_local(local_seconds{t.time_since_epoch() + offset});
    detail::append_offset(out, offset);
    return out;
}

inline std::string format_utc(instant t) {
    return format_local(local_seconds{t.time_since_epoch()}) + "Z";
}

inline std::string format_duration(const iso_duration& d) {
    std::string out = "P";
    auto part = [&](std::int64_t value, char unit) {
        if (value != 0) {
            out += std::to_string(value);
            out += unit;
        }
    };
    part(d.years, 'Y');
    part(d.months, 'M');
    part(d.weeks, 'W');
    part(d.days, 'D');
    auto secs = d.clock.count();
    if (secs != 0) {
        out += 'T';
        part(secs / 3600, 'H');
        part(secs / 60 % 60, 'M');
        part(secs % 60, 'S');
    }
    if (out == "P") {
        out += "T0S";
    }
    return out;
}

inline std::string format_duration(std::chrono::seconds d) {
    if (d < std::chrono::seconds{0}) {
        // The sign prefix of ISO 8601-2. The magnitude is computed unsigned,
        // because negating the smallest value would overflow.
        auto magnitude = std::uint64_t{0} - static_cast<std::uint64_t>(d.count());
        iso_duration parts;
        parts.days = static_cast<std::int64_t>(magnitude / 86400);
        parts.clock = std::chrono::seconds{static_cast<std::int64_t>(magnitude % 86400)};
        return "-" + format_duration(parts);
    }
    iso_duration parts;
    parts.days = d.count() / 86400;
    parts.clock = std::chrono::seconds{d.count() % 86400};
    return format_duration(parts);
}

} // namespace chime
