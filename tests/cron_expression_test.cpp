// Tests of chime::cron_expression: each field kind and each special form,
// the macros, weekday numbering, the day-of-month/day-of-week rule, the
// error messages, and random input that must parse or be rejected cleanly.
// Times here are local times, because zones and DST are tested in cron_test.cpp.
#include <chime/cron_expression.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace date::literals;
using chime::cron_expression;
using chime::cron_options;
using chime::day_rule;
using chime::weekday_numbering;
using date::local_seconds;

const local_seconds far_limit{date::local_days{2400_y / 1 / 1}};

local_seconds local(std::string_view text) { return chime::parse_date_time(text).local; }

// The first `count` local times at or after `from`, as text.
std::vector<std::string> fires(const cron_expression& expr, std::string_view from,
                               std::size_t count = 3) {
    std::vector<std::string> out;
    auto t = local(from);
    while (out.size() < count) {
        auto next = expr.next_local(t, far_limit);
        if (!next) {
            break;
        }
        out.push_back(chime::format_local(*next));
        t = *next + 1s;
    }
    return out;
}

std::vector<std::string> fires(std::string_view text, std::string_view from, std::size_t count = 3,
                               cron_options options = {}) {
    return fires(cron_expression::parse(text, options), from, count);
}

using values = std::vector<int>;

// The values of one field that match, found with matches() while the other
// fields are '*' (or the first value of their range).
values seconds_of(std::string_view field) {
    auto expr = cron_expression::parse(std::string(field) + " * * * * *");
    values out;
    for (int s = 0; s < 60; ++s) {
        if (expr.matches(date::local_days{2025_y / 1 / 1} + std::chrono::seconds{s})) {
            out.push_back(s);
        }
    }
    return out;
}

values minutes_of(std::string_view field) {
    auto expr = cron_expression::parse(std::string(field) + " * * * *");
    values out;
    for (int m = 0; m < 60; ++m) {
        if (expr.matches(date::local_days{2025_y / 1 / 1} + std::chrono::minutes{m})) {
            out.push_back(m);
        }
    }
    return out;
}

values hours_of(std::string_view field) {
    auto expr = cron_expression::parse("0 " + std::string(field) + " * * *");
    values out;
    for (int h = 0; h < 24; ++h) {
        if (expr.matches(date::local_days{2025_y / 1 / 1} + std::chrono::hours{h})) {
            out.push_back(h);
        }
    }
    return out;
}

// Days of January 2025 (1 January was a Wednesday).
values days_of(std::string_view field) {
    auto expr = cron_expression::parse("0 0 " + std::string(field) + " * *");
    values out;
    for (unsigned d = 1; d <= 31; ++d) {
        if (expr.matches(date::local_days{2025_y / 1 / date::day{d}})) {
            out.push_back(int(d));
        }
    }
    return out;
}

values months_of(std::string_view field) {
    auto expr = cron_expression::parse("0 0 1 " + std::string(field) + " *");
    values out;
    for (unsigned m = 1; m <= 12; ++m) {
        if (expr.matches(date::local_days{2025_y / date::month{m} / 1})) {
            out.push_back(int(m));
        }
    }
    return out;
}

// Weekdays, 0 = Sunday, read from the week of Sunday 5 January 2025.
values weekdays_of(std::string_view field, cron_options options = {}) {
    auto expr = cron_expression::parse("0 0 * * " + std::string(field), options);
    values out;
    for (int d = 0; d < 7; ++d) {
        if (expr.matches(date::local_days{2025_y / 1 / 5} + date::days{d})) {
            out.push_back(d);
        }
    }
    return out;
}

values years_of(std::string_view field) {
    auto expr = cron_expression::parse("0 0 0 1 1 ? " + std::string(field));
    values out;
    for (int y = 1960; y < 2410; ++y) {
        if (expr.matches(date::local_days{date::year{y} / 1 / 1})) {
            out.push_back(y);
        }
    }
    return out;
}

// The message up to the quoted expression that every field error ends with.
std::string message_head(const std::string& message) {
    auto end = message.rfind(" in \"");
    return end == std::string::npos ? message : message.substr(0, end);
}

std::string error_of(std::string_view text, cron_options options = {}) {
    try {
        cron_expression::parse(text, options);
    } catch (const chime::invalid_input& e) {
        return e.what();
    }
    return "(accepted)";
}

} // namespace

// ---------------------------------------------------------------------------
// Fields

TEST_CASE("seconds field reads lists, ranges and steps", "[cron_expression]") {
    CHECK(seconds_of("*").size() == 60);
    CHECK(seconds_of("0") == values{0});
    CHECK(seconds_of("59") == values{59});
    CHECK(seconds_of("0,30") == values{0, 30});
    CHECK(seconds_of("10-12") == values{10, 11, 12});
    CHECK(seconds_of("*/15") == values{0, 15, 30, 45});
    CHECK(seconds_of("5/15") == values{5, 20, 35, 50});
    CHECK(seconds_of("7-59/12") == values{7, 19, 31, 43, 55});
    CHECK(seconds_of("58-2") == values{0, 1, 2, 58, 59});
    CHECK(seconds_of("50-10/5") == values{0, 5, 10, 50, 55});
    CHECK(seconds_of("*/66") == values{0});
    CHECK(seconds_of("1,1,1") == values{1});
}

TEST_CASE("minute field reads lists, ranges and steps", "[cron_expression]") {
    CHECK(minutes_of("*").size() == 60);
    CHECK(minutes_of("*/15") == values{0, 15, 30, 45});
    CHECK(minutes_of("5/15") == values{5, 20, 35, 50});
    CHECK(minutes_of("7-59/12") == values{7, 19, 31, 43, 55});
    CHECK(minutes_of("0-10/5,30,45-47") == values{0, 5, 10, 30, 45, 46, 47});
    CHECK(minutes_of("55-5") == values{0, 1, 2, 3, 4, 5, 55, 56, 57, 58, 59});
    CHECK(minutes_of("55-5/3") == values{1, 4, 55, 58});
    CHECK(minutes_of("*/66") == values{0});
    CHECK(minutes_of("59/66") == values{59});
    CHECK(minutes_of("*/59") == values{0, 59});
    CHECK(minutes_of("00") == values{0});
    CHECK(minutes_of("07") == values{7});
}

TEST_CASE("hour field wraps past midnight", "[cron_expression]") {
    CHECK(hours_of("22-2") == values{0, 1, 2, 22, 23});
    CHECK(hours_of("23-1/2") == values{1, 23});
    CHECK(hours_of("*/5") == values{0, 5, 10, 15, 20});
    CHECK(hours_of("9-17/4") == values{9, 13, 17});
    CHECK(hours_of("12/5") == values{12, 17, 22});
    CHECK(hours_of("23") == values{23});
    CHECK(hours_of("0-23").size() == 24);
}

TEST_CASE("day-of-month field reads lists, ranges and steps", "[cron_expression]") {
    CHECK(days_of("1-7") == values{1, 2, 3, 4, 5, 6, 7});
    CHECK(days_of("*/10") == values{1, 11, 21, 31});
    CHECK(days_of("5/10") == values{5, 15, 25});
    CHECK(days_of("28-3") == values{1, 2, 3, 28, 29, 30, 31});
    CHECK(days_of("31") == values{31});
    CHECK(days_of("1,15") == values{1, 15});
}

TEST_CASE("month field reads numbers and names in any case", "[cron_expression]") {
    CHECK(months_of("jan") == values{1});
    CHECK(months_of("Jan") == values{1});
    CHECK(months_of("JAN") == values{1});
    CHECK(months_of("mar,Sep") == values{3, 9});
    CHECK(months_of("NOV-FEB") == values{1, 2, 11, 12});
    CHECK(months_of("11-2") == values{1, 2, 11, 12});
    CHECK(months_of("*/3") == values{1, 4, 7, 10});
    CHECK(months_of("JAN-DEC/5") == values{1, 6, 11});
    CHECK(months_of("feb/4") == values{2, 6, 10});
    CHECK(months_of("12") == values{12});
}

TEST_CASE("weekday field counts Sunday as 0 and 7", "[cron_expression]") {
    CHECK(weekdays_of("0") == values{0});
    CHECK(weekdays_of("7") == values{0});
    CHECK(weekdays_of("sun") == values{0});
    CHECK(weekdays_of("Sun") == values{0});
    CHECK(weekdays_of("SUN") == values{0});
    CHECK(weekdays_of("1-5") == values{1, 2, 3, 4, 5});
    CHECK(weekdays_of("MON-FRI") == values{1, 2, 3, 4, 5});
    CHECK(weekdays_of("5-7") == values{0, 5, 6});
    CHECK(weekdays_of("0-7") == values{0, 1, 2, 3, 4, 5, 6});
    CHECK(weekdays_of("*/2") == values{0, 2, 4, 6});
    CHECK(weekdays_of("*/3") == values{0, 3, 6});
    CHECK(weekdays_of("*/7") == values{0});
    CHECK(weekdays_of("1/2") == values{0, 1, 3, 5});
    CHECK(weekdays_of("tue,Thu") == values{2, 4});
}

TEST_CASE("weekday ranges wrap over the weekend", "[cron_expression]") {
    CHECK(weekdays_of("FRI-MON") == values{0, 1, 5, 6});
    CHECK(weekdays_of("SAT-SUN") == values{0, 6});
    CHECK(weekdays_of("6-0") == values{0, 6});
    CHECK(weekdays_of("7-2") == values{0, 1, 2});
    CHECK(weekdays_of("5-1") == values{0, 1, 5, 6});
    CHECK(weekdays_of("FRI-TUE/2") == values{0, 2, 5});
}

TEST_CASE("year field of the 7-field form", "[cron_expression]") {
    CHECK(years_of("2030") == values{2030});
    CHECK(years_of("2030-2032") == values{2030, 2031, 2032});
    CHECK(years_of("2030,2040") == values{2030, 2040});
    CHECK(years_of("*/100") == values{1970, 2070, 2170, 2270, 2370});
    CHECK(years_of("2390/4") == values{2390, 2394, 2398});
    CHECK(years_of("1970") == values{1970});
    CHECK(years_of("2399") == values{2399});
    CHECK(years_of("*").size() == 430);
    CHECK(years_of("?").size() == 430);
}

TEST_CASE("a step larger than any value overflows no counter", "[cron_expression]") {
    // A step near INT_MAX added to a start value must stop the walk, not wrap
    // around to small values.
    CHECK(minutes_of("59/2147483647") == values{59});
    CHECK(minutes_of("30-59/2147483647") == values{30});
    CHECK(hours_of("23/2147483647") == values{23});
    CHECK(days_of("31/2147483647") == values{31});
    CHECK(months_of("DEC/2147483647") == values{12});
    CHECK(weekdays_of("SAT/2147483647") == values{6});
    // A wrapped year counter would become a negative index into the year bits.
    CHECK(years_of("2399/2147483647") == values{2399});
    CHECK(years_of("2000-2399/2147483600") == values{2000});
}

// ---------------------------------------------------------------------------
// Six and seven fields

TEST_CASE("six fields start with seconds", "[cron_expression]") {
    CHECK(fires("30 0 0 * * *", "2025-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2025-01-01T00:00:30", "2025-01-02T00:00:30"});
    CHECK(fires("*/20 * * * * *", "2025-01-01T00:00:01", 3) ==
          std::vector<std::string>{"2025-01-01T00:00:20", "2025-01-01T00:00:40",
                                   "2025-01-01T00:01:00"});
}

TEST_CASE("five fields fire at second zero", "[cron_expression]") {
    CHECK(fires("* * * * *", "2025-01-01T00:00:01", 2) ==
          std::vector<std::string>{"2025-01-01T00:01:00", "2025-01-01T00:02:00"});
}

TEST_CASE("seven fields end with the year", "[cron_expression]") {
    CHECK(fires("0 0 0 1 1 ? 2030", "2025-06-01T00:00:00", 2) ==
          std::vector<std::string>{"2030-01-01T00:00:00"});
    CHECK(fires("0 30 12 * * ? 2026-2027", "2025-06-01T00:00:00", 1) ==
          std::vector<std::string>{"2026-01-01T12:30:00"});
    CHECK(fires("0 0 12 1 JAN ? */2", "2025-06-01T00:00:00", 2) ==
          std::vector<std::string>{"2026-01-01T12:00:00", "2028-01-01T12:00:00"});
}

TEST_CASE("next_local includes the start and excludes the limit", "[cron_expression]") {
    auto expr = cron_expression::parse("0 12 * * *");
    auto noon = local("2025-01-01T12:00:00");
    CHECK(expr.next_local(noon, far_limit) == noon);
    CHECK(expr.next_local(noon, noon) == std::nullopt);
    CHECK(expr.next_local(noon + 1s, local("2025-01-02T12:00:00")) == std::nullopt);
    CHECK(expr.next_local(noon + 1s, local("2025-01-02T12:00:01")) == local("2025-01-02T12:00:00"));
}

TEST_CASE("next_local crosses month and year ends", "[cron_expression]") {
    CHECK(fires("0 0 1 * *", "2025-12-15T00:00:00", 2) ==
          std::vector<std::string>{"2026-01-01T00:00:00", "2026-02-01T00:00:00"});
    CHECK(fires("59 23 31 12 *", "2025-12-31T23:59:01", 1) ==
          std::vector<std::string>{"2026-12-31T23:59:00"});
    CHECK(fires("0 0 29 2 *", "2025-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2028-02-29T00:00:00", "2032-02-29T00:00:00"});
    CHECK(fires("0 0 29 2 *", "2096-03-01T00:00:00", 1) ==
          std::vector<std::string>{"2104-02-29T00:00:00"});
}

TEST_CASE("next_local starts before 1970 at 1970", "[cron_expression]") {
    CHECK(fires("0 0 1 1 *", "1960-06-01T00:00:00", 1) ==
          std::vector<std::string>{"1970-01-01T00:00:00"});
}

TEST_CASE("next_local ends before the year 2400", "[cron_expression]") {
    CHECK(fires("0 0 1 1 *", "2399-01-01T00:00:01", 1).empty());
    CHECK(fires("59 23 31 12 *", "2399-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2399-12-31T23:59:00"});
    // Every day matches: only the time of day decides.
    CHECK(fires("0 0 * * *", "2399-12-30T12:00:00", 2) ==
          std::vector<std::string>{"2399-12-31T00:00:00"});
    CHECK(fires("*/20 * * * * *", "2399-12-31T23:59:30", 2) ==
          std::vector<std::string>{"2399-12-31T23:59:40"});
}

TEST_CASE("next_local stops at the limit inside a day", "[cron_expression]") {
    for (const char* text : {"0 12 * * *", "0 12 * * 3", "0 12 1-31 * *", "0 12 * 1 *"}) {
        INFO(text);
        auto expr = cron_expression::parse(text);
        // 1 January 2025 is a Wednesday.
        CHECK(expr.next_local(local("2025-01-01T06:00:00"), local("2025-01-01T12:00:00")) ==
              std::nullopt);
        CHECK(expr.next_local(local("2025-01-01T06:00:00"), local("2025-01-01T12:00:01")) ==
              local("2025-01-01T12:00:00"));
    }
}

// ---------------------------------------------------------------------------
// Day specials

TEST_CASE("L is the last day of the month", "[cron_expression]") {
    CHECK(fires("0 0 L * *", "2024-01-15T00:00:00", 3) ==
          std::vector<std::string>{"2024-01-31T00:00:00", "2024-02-29T00:00:00",
                                   "2024-03-31T00:00:00"});
    CHECK(fires("0 0 l * *", "2025-02-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-02-28T00:00:00"});
}

TEST_CASE("L-3 is three days before the last day", "[cron_expression]") {
    CHECK(fires("0 0 L-3 * *", "2025-01-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-01-28T00:00:00", "2025-02-25T00:00:00",
                                   "2025-03-28T00:00:00", "2025-04-27T00:00:00"});
    CHECK(fires("0 0 L-0 * *", "2025-02-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-02-28T00:00:00"});
    // L-30 exists only in 31-day months.
    CHECK(fires("0 0 L-30 * *", "2025-02-01T00:00:00", 2) ==
          std::vector<std::string>{"2025-03-01T00:00:00", "2025-05-01T00:00:00"});
}

TEST_CASE("15W is the weekday nearest the 15th", "[cron_expression]") {
    // 15 Feb 2025 is a Saturday, 15 June 2025 a Sunday, 15 Jan a Wednesday.
    CHECK(fires("0 0 15W * *", "2025-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2025-01-15T00:00:00", "2025-02-14T00:00:00"});
    CHECK(fires("0 0 15w * *", "2025-06-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-06-16T00:00:00"});
}

TEST_CASE("1W on a Saturday moves to Monday the 3rd", "[cron_expression]") {
    // 1 Feb 2025 is a Saturday, and Friday 31 January is in another month.
    CHECK(fires("0 0 1W * *", "2025-01-02T00:00:00", 1) ==
          std::vector<std::string>{"2025-02-03T00:00:00"});
    // 1 June 2025 is a Sunday.
    CHECK(fires("0 0 1W * *", "2025-05-02T00:00:00", 1) ==
          std::vector<std::string>{"2025-06-02T00:00:00"});
}

TEST_CASE("31W stays inside its month", "[cron_expression]") {
    // 31 May 2025 is a Saturday, 31 August 2025 a Sunday: both move back to
    // Friday, never forward into the next month.
    CHECK(fires("0 0 31W * *", "2025-05-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-05-30T00:00:00"});
    CHECK(fires("0 0 31W * *", "2025-08-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-08-29T00:00:00"});
    // 30 November 2025 is a Sunday and the last day of its month.
    CHECK(fires("0 0 30W * *", "2025-11-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-11-28T00:00:00"});
    // A 30-day month has no 31W at all.
    CHECK(fires("0 0 31W 4 *", "2025-01-01T00:00:00", 1).empty());
}

TEST_CASE("LW is the last weekday of the month", "[cron_expression]") {
    CHECK(fires("0 0 LW * *", "2025-05-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-05-30T00:00:00", "2025-06-30T00:00:00",
                                   "2025-07-31T00:00:00", "2025-08-29T00:00:00"});
    CHECK(fires("0 0 lw * *", "2025-11-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-11-28T00:00:00"});
}

TEST_CASE("5L is the last Friday of the month", "[cron_expression]") {
    CHECK(fires("0 0 * * 5L", "2025-01-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-01-31T00:00:00", "2025-02-28T00:00:00",
                                   "2025-03-28T00:00:00", "2025-04-25T00:00:00"});
    CHECK(fires("0 0 * * FRIL", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-31T00:00:00"});
    CHECK(fires("0 0 * * 0L", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-26T00:00:00"});
    CHECK(fires("0 0 * * 7L", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-26T00:00:00"});
}

TEST_CASE("2#1 is the first Tuesday", "[cron_expression]") {
    CHECK(fires("0 0 * * 2#1", "2025-01-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-01-07T00:00:00", "2025-02-04T00:00:00",
                                   "2025-03-04T00:00:00", "2025-04-01T00:00:00"});
    CHECK(fires("0 0 * * tue#1", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-07T00:00:00"});
    CHECK(fires("0 0 * * 7#1", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-05T00:00:00"});
}

TEST_CASE("MON#5 skips months without a fifth Monday", "[cron_expression]") {
    CHECK(fires("0 0 * * MON#5", "2025-01-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-03-31T00:00:00", "2025-06-30T00:00:00",
                                   "2025-09-29T00:00:00", "2025-12-29T00:00:00"});
}

TEST_CASE("day specials combine in lists", "[cron_expression]") {
    CHECK(fires("0 0 1,L * *", "2025-02-02T00:00:00", 3) ==
          std::vector<std::string>{"2025-02-28T00:00:00", "2025-03-01T00:00:00",
                                   "2025-03-31T00:00:00"});
    CHECK(fires("0 0 * * 1#1,5L", "2025-01-01T00:00:00", 3) ==
          std::vector<std::string>{"2025-01-06T00:00:00", "2025-01-31T00:00:00",
                                   "2025-02-03T00:00:00"});
}

// ---------------------------------------------------------------------------
// Day-of-month and day-of-week together

TEST_CASE("restricted day fields match either by default", "[cron_expression]") {
    // The 13th and every Friday of January 2025.
    CHECK(days_of("13") == values{13});
    auto expr = cron_expression::parse("0 0 13 * 5");
    values days;
    for (unsigned d = 1; d <= 31; ++d) {
        if (expr.matches(date::local_days{2025_y / 1 / date::day{d}})) {
            days.push_back(int(d));
        }
    }
    CHECK(days == values{3, 10, 13, 17, 24, 31});
}

TEST_CASE("day_rule both requires both day fields", "[cron_expression]") {
    cron_options both{day_rule::both};
    CHECK(fires("0 0 13 * 5", "2025-01-01T00:00:00", 3, both) ==
          std::vector<std::string>{"2025-06-13T00:00:00", "2026-02-13T00:00:00",
                                   "2026-03-13T00:00:00"});
    CHECK(fires("0 0 29 2 1", "2025-01-01T00:00:00", 1, both) ==
          std::vector<std::string>{"2044-02-29T00:00:00"});
}

TEST_CASE("a day field starting with a star makes both apply", "[cron_expression]") {
    // Vixie cron: */2 in day-of-month is "restricted" but starts with '*',
    // so only odd days that are Mondays match.
    CHECK(fires("0 0 */2 * 1", "2025-01-01T00:00:00", 3) ==
          std::vector<std::string>{"2025-01-13T00:00:00", "2025-01-27T00:00:00",
                                   "2025-02-03T00:00:00"});
    // The same days written without '*' match either field.
    CHECK(fires("0 0 1-31/2 * 1", "2025-01-01T00:00:00", 3) ==
          std::vector<std::string>{"2025-01-01T00:00:00", "2025-01-03T00:00:00",
                                   "2025-01-05T00:00:00"});
    CHECK(fires("0 0 1-31/2 * 1", "2025-01-05T00:00:01", 2) ==
          std::vector<std::string>{"2025-01-06T00:00:00", "2025-01-07T00:00:00"});
    // '*/2' in day-of-week: the 1st of a month that is a Sunday, Tuesday,
    // Thursday or Saturday. 1 January 2025 is a Wednesday, 1 February a Saturday.
    CHECK(fires("0 0 1 * */2", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-02-01T00:00:00"});
}

TEST_CASE("question mark leaves the day to the other field", "[cron_expression]") {
    CHECK(fires("0 0 0 ? * MON", "2025-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2025-01-06T00:00:00", "2025-01-13T00:00:00"});
    CHECK(fires("0 0 0 15 * ?", "2025-01-01T00:00:00", 2) ==
          std::vector<std::string>{"2025-01-15T00:00:00", "2025-02-15T00:00:00"});
    CHECK(fires("0 0 ? * 1", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-06T00:00:00"});
}

// ---------------------------------------------------------------------------
// Weekday numbering

TEST_CASE("seven fields with a question mark use Quartz weekdays", "[cron_expression]") {
    auto quartz = cron_expression::parse("0 0 0 ? * 1 *");
    CHECK(quartz.uses_quartz_weekdays());
    CHECK(fires(quartz, "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-05T00:00:00"}); // Sunday
    CHECK(fires("0 0 12 ? * 6L *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-31T12:00:00"}); // last Friday
    CHECK(fires("0 0 12 ? * 2#1 *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-06T12:00:00"}); // first Monday
    CHECK(fires("0 0 12 ? * 7 *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-04T12:00:00"}); // Saturday
    CHECK(fires("0 0 12 ? * 6-2 *", "2025-01-01T00:00:00", 4) ==
          std::vector<std::string>{"2025-01-03T12:00:00", "2025-01-04T12:00:00",
                                   "2025-01-05T12:00:00", "2025-01-06T12:00:00"});
    CHECK(fires("0 0 12 ? * SUN *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-05T12:00:00"});
}

TEST_CASE("six fields and seven without a question mark use cron weekdays",
          "[cron_expression]") {
    CHECK_FALSE(cron_expression::parse("0 0 0 ? * 1").uses_quartz_weekdays());
    CHECK(fires("0 0 0 ? * 1", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-06T00:00:00"}); // Monday
    CHECK_FALSE(cron_expression::parse("0 0 0 * * 1 *").uses_quartz_weekdays());
    CHECK(fires("0 0 0 * * 0 2025", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-05T00:00:00"});
}

TEST_CASE("weekday numbering can be chosen", "[cron_expression]") {
    cron_options quartz{day_rule::either, weekday_numbering::quartz};
    cron_options cron{day_rule::either, weekday_numbering::cron};
    CHECK(cron_expression::parse("0 0 * * 1", quartz).uses_quartz_weekdays());
    CHECK(weekdays_of("1", quartz) == values{0});
    CHECK(weekdays_of("7", quartz) == values{6});
    CHECK(weekdays_of("2-6", quartz) == values{1, 2, 3, 4, 5});
    CHECK(weekdays_of("SUN", quartz) == values{0});
    CHECK(weekdays_of("*/2", quartz) == values{0, 2, 4, 6});
    CHECK_FALSE(cron_expression::parse("0 0 0 ? * 1 *", cron).uses_quartz_weekdays());
    CHECK(fires("0 0 0 ? * 1 *", "2025-01-01T00:00:00", 1, cron) ==
          std::vector<std::string>{"2025-01-06T00:00:00"}); // Monday
}

// ---------------------------------------------------------------------------
// Macros

TEST_CASE("macros expand to their five fields", "[cron_expression]") {
    struct macro_case {
        const char* macro;
        const char* fields;
    };
    const macro_case cases[] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},  {"@YEARLY", "0 0 1 1 *"},   {"@Daily", "0 0 * * *"},
        {"@HoUrLy", "0 * * * *"},  {" @weekly ", "0 0 * * 0"}};
    for (const auto& c : cases) {
        INFO(c.macro);
        auto macro = cron_expression::parse(c.macro);
        auto expansion = cron_expression::parse(c.fields);
        for (const char* from : {"2025-01-01T00:00:00", "2025-03-30T12:34:56", "2028-02-29T23:59:59"}) {
            CHECK(fires(macro, from, 3) == fires(expansion, from, 3));
        }
        CHECK(macro.is_fixed_time() == expansion.is_fixed_time());
        CHECK_FALSE(macro.is_reboot());
    }
}

TEST_CASE("macro results are pinned", "[cron_expression]") {
    CHECK(fires("@weekly", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-01-05T00:00:00"});
    CHECK(fires("@yearly", "2025-01-01T00:00:01", 1) ==
          std::vector<std::string>{"2026-01-01T00:00:00"});
    CHECK(fires("@hourly", "2025-01-01T00:00:01", 1) ==
          std::vector<std::string>{"2025-01-01T01:00:00"});
}

TEST_CASE("reboot has no clock time", "[cron_expression]") {
    for (const char* text : {"@reboot", "@REBOOT", "@Reboot"}) {
        auto expr = cron_expression::parse(text);
        INFO(text);
        CHECK(expr.is_reboot());
        CHECK_FALSE(expr.is_fixed_time());
        CHECK(expr.next_local(local("2025-01-01T00:00:00"), far_limit) == std::nullopt);
        CHECK_FALSE(expr.matches(local("2025-01-01T00:00:00")));
    }
}

// ---------------------------------------------------------------------------
// Shape and text

TEST_CASE("fixed time means neither minute nor hour starts with a star", "[cron_expression]") {
    CHECK(cron_expression::parse("30 2 * * *").is_fixed_time());
    CHECK(cron_expression::parse("0 0-23 * * *").is_fixed_time());
    CHECK(cron_expression::parse("* 30 2 * * *").is_fixed_time());
    CHECK_FALSE(cron_expression::parse("* 2 * * *").is_fixed_time());
    CHECK_FALSE(cron_expression::parse("0 */2 * * *").is_fixed_time());
    CHECK_FALSE(cron_expression::parse("*/5 1 * * *").is_fixed_time());
    CHECK_FALSE(cron_expression::parse("0 * 2 * * *").is_fixed_time());
}

TEST_CASE("blanks between fields may be spaces or tabs", "[cron_expression]") {
    auto plain = cron_expression::parse("30 2 * * 1");
    for (const char* text : {"  30 2 * * 1", "30  2\t*  * 1 ", "\t30\t2\t*\t*\t1\t", "30 2 * * 1\n"}) {
        INFO('"' << text << '"');
        CHECK(fires(cron_expression::parse(text), "2025-01-01T00:00:00", 2) ==
              fires(plain, "2025-01-01T00:00:00", 2));
    }
}

TEST_CASE("expression keeps its text and options", "[cron_expression]") {
    cron_options options{day_rule::both, weekday_numbering::cron};
    auto expr = cron_expression::parse("0 0 13 * 5", options);
    CHECK(expr.text() == "0 0 13 * 5");
    CHECK(expr.options() == options);
    CHECK(expr == cron_expression::parse("0 0 13 * 5", options));
    CHECK_FALSE(expr == cron_expression::parse("0 0 13 * 5"));
}

// ---------------------------------------------------------------------------
// Never matching

TEST_CASE("impossible dates never match", "[cron_expression]") {
    for (const char* text : {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 31 2 ? *",
                             "0 0 0 1 1 ? 1975", "0 0 31W 2,4 *"}) {
        INFO(text);
        auto expr = cron_expression::parse(text);
        CHECK(expr.next_local(local("2020-01-01T00:00:00"), far_limit) == std::nullopt);
    }
    cron_options both{day_rule::both};
    CHECK(cron_expression::parse("0 0 31 2 1#5", both)
              .next_local(local("2020-01-01T00:00:00"), far_limit) == std::nullopt);
    CHECK(cron_expression::parse("0 0 30 2 MON", both)
              .next_local(local("2020-01-01T00:00:00"), far_limit) == std::nullopt);
    CHECK(cron_expression::parse("0 0 0 29 2 ? 2100")
              .next_local(local("2020-01-01T00:00:00"), far_limit) == std::nullopt);
}

TEST_CASE("a day that fits one listed month still matches", "[cron_expression]") {
    CHECK(fires("0 0 30 2,3 *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-03-30T00:00:00"});
    CHECK(fires("0 0 31 4,6,9-12 *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2025-10-31T00:00:00"});
    CHECK(fires("0 0 29 FEB *", "2025-01-01T00:00:00", 1) ==
          std::vector<std::string>{"2028-02-29T00:00:00"});
}

// ---------------------------------------------------------------------------
// Errors

TEST_CASE("out-of-range values name field, token and range", "[cron_expression][errors]") {
    CHECK(error_of("0 0 32 * *") == "day-of-month: 32 is outside 1-31 in \"0 0 32 * *\"");
    CHECK(error_of("0 0 0 * *") == "day-of-month: 0 is outside 1-31 in \"0 0 0 * *\"");
    CHECK(error_of("60 * * * *") == "minute: 60 is outside 0-59 in \"60 * * * *\"");
    CHECK(error_of("0 24 * * *") == "hour: 24 is outside 0-23 in \"0 24 * * *\"");
    CHECK(error_of("0 0 1 13 *") == "month: 13 is outside 1-12 or JAN-DEC in \"0 0 1 13 *\"");
    CHECK(error_of("0 0 1 0 *") == "month: 0 is outside 1-12 or JAN-DEC in \"0 0 1 0 *\"");
    CHECK(error_of("0 0 * * 8") ==
          "day-of-week: 8 is outside 0-7 (0 and 7 = Sunday) or SUN-SAT in \"0 0 * * 8\"");
    CHECK(error_of("60 * * * * *") == "second: 60 is outside 0-59 in \"60 * * * * *\"");
    CHECK(error_of("0 0 0 1 1 ? 2400") ==
          "year: 2400 is outside 1970-2399 in \"0 0 0 1 1 ? 2400\"");
    CHECK(error_of("0 0 0 1 1 ? 1969") ==
          "year: 1969 is outside 1970-2399 in \"0 0 0 1 1 ? 1969\"");
    CHECK(error_of("0 0 0 ? * 0 *") ==
          "day-of-week: 0 is outside 1-7 (1 = Sunday) or SUN-SAT in \"0 0 0 ? * 0 *\"");
    CHECK(error_of("0 0 * * 8#1") ==
          "day-of-week: 8 is outside 0-7 (0 and 7 = Sunday) or SUN-SAT in \"0 0 * * 8#1\"");
    CHECK(error_of("5-60 * * * *") == "minute: 60 is outside 0-59 in \"5-60 * * * *\"");
}

TEST_CASE("full month and weekday names suggest the short form", "[cron_expression][errors]") {
    CHECK(error_of("0 0 1 January *") ==
          "month: \"January\" is not a valid name; use the three-letter form JAN in "
          "\"0 0 1 January *\"");
    CHECK(error_of("0 0 * * Sunday") ==
          "day-of-week: \"Sunday\" is not a valid name; use the three-letter form SUN in "
          "\"0 0 * * Sunday\"");
    CHECK_THROWS_WITH(cron_expression::parse("0 0 * * MONDAY-FRIDAY"),
                      Catch::Matchers::Contains("MON"));
}

TEST_CASE("crontab line with its command gets a hint", "[cron_expression][errors]") {
    CHECK(error_of("0 5 * * * /usr/bin/backup.sh") ==
          "day-of-week: step \"usr/bin/backup.sh\" in \"/usr/bin/backup.sh\" is not a number in "
          "\"0 5 * * * /usr/bin/backup.sh\"; 6 or 7 fields start with seconds, so if this is a "
          "crontab line, leave out the command");
    CHECK_THROWS_WITH(cron_expression::parse("0 5 * * * ./run"),
                      Catch::Matchers::Contains("leave out the command"));
    CHECK_THROWS_WITH(cron_expression::parse("0 5 * * * * backup.sh"),
                      Catch::Matchers::Contains("leave out the command"));
    CHECK_THROWS_WITH(cron_expression::parse("0 5 * * * * echo"),
                      Catch::Matchers::Contains("leave out the command"));
    // A wrong value in an ordinary 6-field expression gets no hint.
    CHECK_THROWS_WITH(cron_expression::parse("0 5 * * * 8"),
                      !Catch::Matchers::Contains("command"));
}

TEST_CASE("wrong field counts are rejected", "[cron_expression][errors]") {
    CHECK(error_of("* * * *") == "expected 5, 6 or 7 fields, got 4 in \"* * * *\"");
    CHECK(error_of("* * * * * * * *") ==
          "expected 5, 6 or 7 fields, got 8 in \"* * * * * * * *\"");
    CHECK(error_of("* * * * * * * * * * * *") ==
          "expected 5, 6 or 7 fields, got 12 in \"* * * * * * * * * * * *\"");
    CHECK(error_of("*") == "expected 5, 6 or 7 fields, got 1 in \"*\"");
}

TEST_CASE("empty expression is rejected", "[cron_expression][errors]") {
    CHECK(error_of("") ==
          "cron expression is empty; expected 5, 6 or 7 fields such as \"30 2 * * *\"");
    CHECK(error_of(" \t ") ==
          "cron expression is empty; expected 5, 6 or 7 fields such as \"30 2 * * *\"");
}

TEST_CASE("bad steps are rejected", "[cron_expression][errors]") {
    CHECK(error_of("*/0 * * * *") ==
          "minute: step 0 in \"*/0\" is invalid; use 1 or more in \"*/0 * * * *\"");
    CHECK(error_of("*/x * * * *") ==
          "minute: step \"x\" in \"*/x\" is not a number in \"*/x * * * *\"");
    CHECK(error_of("0 */ * * *") == "hour: step \"\" in \"*/\" is not a number in \"0 */ * * *\"");
    CHECK(error_of("/5 * * * *") == "minute: \"/5\" has no range before the step in \"/5 * * * *\"");
}

TEST_CASE("empty list elements are rejected", "[cron_expression][errors]") {
    CHECK(error_of("1,,2 * * * *") ==
          "minute: empty list element in \"1,,2\" in \"1,,2 * * * *\"");
    CHECK_THROWS_AS(cron_expression::parse("1, * * * *"), chime::invalid_input);
    CHECK_THROWS_AS(cron_expression::parse(",1 * * * *"), chime::invalid_input);
    CHECK_THROWS_AS(cron_expression::parse("0 0 1,,L * *"), chime::invalid_input);
}

TEST_CASE("reversed year range is rejected", "[cron_expression][errors]") {
    CHECK(error_of("0 0 0 1 1 ? 2030-2020") ==
          "year: range \"2030-2020\" is reversed; write the smaller year first in "
          "\"0 0 0 1 1 ? 2030-2020\"");
}

TEST_CASE("misplaced specials are rejected", "[cron_expression][errors]") {
    CHECK(error_of("? * * * *") ==
          "minute: '?' is only valid in day-of-month and day-of-week in \"? * * * *\"");
    CHECK(error_of("0 0 * * L") ==
          "day-of-week: \"L\" alone is ambiguous; write SAT, or nL for the last weekday n of "
          "the month (5L is the last Friday) in \"0 0 * * L\"");
    CHECK(error_of("0 0 W * *") ==
          "day-of-month: \"W\" needs a day number (15W) or L (LW) in \"0 0 W * *\"");
    CHECK(error_of("0 0 * * MON#6") ==
          "day-of-week: \"MON#6\" is invalid; the number after # must be 1-5 in "
          "\"0 0 * * MON#6\"");
    CHECK(error_of("0 0 L-31 * *") ==
          "day-of-month: \"L-31\" is invalid; L-n needs n in 0-30 in \"0 0 L-31 * *\"");
    CHECK(error_of("0 0 L--1 * *") ==
          "day-of-month: \"L--1\" is invalid; L-n needs n in 0-30 in \"0 0 L--1 * *\"");
    CHECK(error_of("0 0 ?,1 * *") ==
          "day-of-month: '?' must be the whole field in \"0 0 ?,1 * *\"");
    CHECK(error_of("@fortnightly") ==
          "unknown cron macro \"@fortnightly\"; expected @yearly, @annually, @monthly, "
          "@weekly, @daily, @midnight, @hourly or @reboot");
}

TEST_CASE("every field error names its field and token", "[cron_expression][errors]") {
    struct bad_case {
        const char* text;
        const char* field;
        const char* token; // must appear before the quoted expression
    };
    const bad_case cases[] = {
        {"a * * * *", "minute", "a"},
        {"0 0 1-x * *", "day-of-month", "x"},
        {"0 0 * * MON-", "day-of-week", "MON-"},
        {"0 0 1- * *", "day-of-month", "1-"},
        {"0 0 -1 * *", "day-of-month", "-1"},
        {"*-5 * * * *", "minute", "*"},
        {"*/5/2 * * * *", "minute", "5/2"},
        {"1-2-3 * * * *", "minute", "2-3"},
        {"0x10 * * * *", "minute", "0x10"},
        {"1e2 * * * *", "minute", "1e2"},
        {"99999999999 * * * *", "minute", "99999999999"},
        {"0 0 * * 1#", "day-of-week", "1#"},
        {"0 0 * * #1", "day-of-week", "#1"},
        {"0 0 * * 1#0", "day-of-week", "1#0"},
        {"0 0 LW-1 * *", "day-of-month", "LW"},
        {"0 0 1WW * *", "day-of-month", "1WW"},
        {"0 0 0W * *", "day-of-month", "0"},
        {"0 0 32W * *", "day-of-month", "32"},
        {"0 0 * * 8L", "day-of-week", "8"},
        {"0 0 ?/2 * *", "day-of-month", "?"},
        {"0 0 L/2 * *", "day-of-month", "L"},
        {"0 0 L-x * *", "day-of-month", "L-x"},
        {"0 0 * JANUARY-MAR *", "month", "JANUARY"},
        {"0 0 * FOO *", "month", "FOO"},
        {"0 0 * * FUNDAY", "day-of-week", "FUNDAY"},
        {"0 0 15L * *", "day-of-month", "15L"},
        {"0 0 * * ;", "day-of-week", ";"},
        {"0 0 0 1 1 ? 20x0", "year", "20x0"},
        {"0 0 0 1 1 ? L", "year", "L"},
    };
    for (const auto& c : cases) {
        INFO("expression \"" << c.text << "\"");
        auto message = error_of(c.text);
        INFO("message: " << message);
        CHECK(message.rfind(std::string(c.field) + ": ", 0) == 0);
        CHECK(message_head(message).find(c.token) != std::string::npos);
    }
}

TEST_CASE("random input parses or is rejected cleanly", "[cron_expression][errors]") {
    // Short strings over the cron alphabet, half of them shaped as 5 to 7
    // fields. Each must parse or throw invalid_input, and next_local on a
    // parsed one must return a time that matches, or none.
    const std::string alphabet = "0123456789*/,-?LW#JANFEBMONSUNlwjx @";
    const std::vector<std::string> pieces = {
        "*", "0", "1", "5", "7", "12", "23", "31", "59", "60", "2025", "-", "/", ",", "?", "L",
        "W", "#", "LW", "L-", "JAN", "mon", "Sun", "*/", "0-", "#5", "#6", "x", ""};
    // Forms valid in every field but the year, and day specials, so that
    // many inputs parse.
    const std::vector<std::string> valid_fields = {"*", "1", "5", "*/7", "1-5", "3/4", "5-1",
                                                   "1,2", "*/13", "2-3,5"};
    const std::vector<std::string> day_fields = {"?", "L", "L-2", "15W", "LW", "1,L", "*/2"};
    const std::vector<std::string> weekday_fields = {"?", "5L", "1#2", "MON#5", "SAT-SUN"};
    std::mt19937 rng(5);
    auto below = [&](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };

    int parsed = 0;
    int rejected = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string text;
        if (i % 2 == 0) {
            auto length = below(20);
            for (std::size_t k = 0; k < length; ++k) {
                text += alphabet[below(alphabet.size())];
            }
        } else {
            auto fields = 5 + below(3);
            // Positions of day-of-month and day-of-week in this field count.
            std::size_t day_of_month = fields == 5 ? 2 : 3;
            for (std::size_t f = 0; f < fields; ++f) {
                if (below(10) < 8) {
                    if (f == day_of_month && below(2) == 0) {
                        text += day_fields[below(day_fields.size())];
                    } else if (f == day_of_month + 2 && below(2) == 0) {
                        text += weekday_fields[below(weekday_fields.size())];
                    } else if (f == 6) {
                        text += "2030-2040/3";
                    } else {
                        text += valid_fields[below(valid_fields.size())];
                    }
                } else {
                    auto length = 1 + below(3);
                    for (std::size_t k = 0; k < length; ++k) {
                        text += pieces[below(pieces.size())];
                    }
                }
                text += ' ';
            }
        }

        INFO("input \"" << text << "\"");
        try {
            auto expr = cron_expression::parse(text);
            auto from = local("2025-01-01T00:00:00");
            auto next = expr.next_local(from, far_limit);
            if (next) {
                CHECK(*next >= from);
                CHECK(expr.matches(*next));
            }
            ++parsed;
        } catch (const chime::invalid_input& e) {
            CHECK(std::string(e.what()).size() > 0);
            ++rejected;
        } catch (const std::exception& e) {
            FAIL("unexpected exception: " << e.what());
        }
    }
    CHECK(parsed > 300);
    CHECK(rejected > 1000);
}

namespace {

// The days of month `ym` that `expected` picks, checked against matches()
// at midnight of every day of that month.
template <class Pick>
int count_wrong_days(const cron_expression& expr, date::year_month ym, Pick expected) {
    auto last = unsigned((ym / date::last).day());
    auto expected_day = expected(ym);
    int wrong = 0;
    for (unsigned d = 1; d <= last; ++d) {
        bool should = expected_day && *expected_day == d;
        if (expr.matches(date::local_days{ym / date::day{d}}) != should) {
            ++wrong;
        }
    }
    return wrong;
}

std::optional<unsigned> nearest_weekday(date::year_month ym, unsigned n) {
    auto last = unsigned((ym / date::last).day());
    if (n > last) {
        return std::nullopt;
    }
    auto wd = date::weekday{date::local_days{ym / date::day{n}}};
    if (wd == date::Saturday) {
        return n == 1 ? 3 : n - 1;
    }
    if (wd == date::Sunday) {
        return n == last ? n - 2 : n + 1;
    }
    return n;
}

} // namespace

TEST_CASE("day specials agree with the calendar in every month", "[cron_expression]") {
    // Each special is checked in every month from 1970 to 2399 against a
    // day computed here with date's calendar.
    struct special_case {
        const char* text;
        std::optional<unsigned> (*expected)(date::year_month);
    };
    const special_case cases[] = {
        {"0 0 L * *", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned((ym / date::last).day());
         }},
        {"0 0 L-5 * *", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned((ym / date::last).day()) - 5;
         }},
        {"0 0 LW * *", [](date::year_month ym) -> std::optional<unsigned> {
             auto day = date::local_days{ym / date::last};
             while (date::weekday{day} == date::Saturday || date::weekday{day} == date::Sunday) {
                 day -= date::days{1};
             }
             return unsigned(date::year_month_day{day}.day());
         }},
        {"0 0 1W * *", [](date::year_month ym) { return nearest_weekday(ym, 1); }},
        {"0 0 15W * *", [](date::year_month ym) { return nearest_weekday(ym, 15); }},
        {"0 0 30W * *", [](date::year_month ym) { return nearest_weekday(ym, 30); }},
        {"0 0 31W * *", [](date::year_month ym) { return nearest_weekday(ym, 31); }},
        {"0 0 * * 5L", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned(date::year_month_day{ym / date::Friday[date::last]}.day());
         }},
        {"0 0 * * 0L", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned(date::year_month_day{ym / date::Sunday[date::last]}.day());
         }},
        {"0 0 * * 2#1", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned(date::year_month_day{ym / date::Tuesday[1]}.day());
         }},
        {"0 0 * * MON#5", [](date::year_month ym) -> std::optional<unsigned> {
             auto fifth = ym / date::Monday[5];
             if (!fifth.ok()) {
                 return std::nullopt;
             }
             return unsigned(date::year_month_day{fifth}.day());
         }},
        {"0 0 * * SAT#4", [](date::year_month ym) -> std::optional<unsigned> {
             return unsigned(date::year_month_day{ym / date::Saturday[4]}.day());
         }},
    };
    for (const auto& c : cases) {
        auto expr = cron_expression::parse(c.text);
        int wrong_months = 0;
        std::string first_wrong;
        for (int y = 1970; y < 2400; ++y) {
            for (unsigned m = 1; m <= 12; ++m) {
                date::year_month ym{date::year{y}, date::month{m}};
                if (count_wrong_days(expr, ym, c.expected) != 0 && wrong_months++ == 0) {
                    first_wrong = std::to_string(y) + "-" + std::to_string(m);
                }
            }
        }
        INFO(c.text << ", first wrong month " << first_wrong);
        CHECK(wrong_months == 0);
    }
}

TEST_CASE("next_local walks to the next matching day", "[cron_expression]") {
    // With a midnight time each day has one candidate, so between a start
    // and the result of next_local no midnight may match.
    std::mt19937 rng(1024);
    auto pick = [&](std::initializer_list<const char*> options) {
        auto i = std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng);
        return std::string(*(options.begin() + i));
    };
    int found = 0;
    for (int i = 0; i < 300; ++i) {
        auto text = "0 0 " + pick({"*", "L", "15W", "LW", "L-2", "1,15", "31", "29", "*/9", "1W"}) +
                    " " + pick({"*", "2", "FEB,MAR", "*/4", "NOV-FEB"}) + " " +
                    pick({"*", "5L", "MON#5", "1-5", "SAT,SUN", "2#1", "0", "?"});
        INFO(text);
        auto expr = cron_expression::parse(text);
        auto from = date::local_days{2023_y / 12 / 20} +
                    date::days{std::uniform_int_distribution<int>(0, 3 * 365)(rng)};
        auto next = expr.next_local(from, from + date::days{800});
        if (!next) {
            continue;
        }
        ++found;
        CHECK(expr.matches(*next));
        int earlier = 0;
        for (auto day = from; day < *next; day += date::days{1}) {
            earlier += expr.matches(day) ? 1 : 0;
        }
        CHECK(earlier == 0);
    }
    CHECK(found > 200);
}
