// Tests of chime/iso8601.hpp: instants, local date-times and durations in
// ISO 8601 text, their round trips and the messages for invalid text.
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>

namespace {

using namespace std::chrono_literals;
using namespace date::literals;
using Catch::Matchers::Contains;

constexpr chime::instant utc(date::year_month_day day, std::chrono::seconds time_of_day = 0s) {
    return chime::instant{date::sys_days{day}} + time_of_day;
}

} // namespace

TEST_CASE("instant with Z is read as UTC", "[iso8601]") {
    CHECK(chime::parse_instant("2025-03-30T01:00:00Z") == utc(2025_y / 3 / 30, 1h));
    CHECK(chime::parse_instant("2025-03-30t01:00:00z") == utc(2025_y / 3 / 30, 1h));
}

TEST_CASE("instant offsets move the instant", "[iso8601]") {
    CHECK(chime::parse_instant("2025-03-30T03:00:00+02:00") == utc(2025_y / 3 / 30, 1h));
    CHECK(chime::parse_instant("2025-01-01T05:30:00+05:30") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2025-01-01T05:30:00+0530") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2024-12-31T21:00:00-03:00") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2025-01-01T00:00:00+00:00") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2025-01-01T00:00:00-00:00") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2025-01-01T12:45:00+12:45") == utc(2025_y / 1 / 1));
}

TEST_CASE("space may stand for T", "[iso8601]") {
    CHECK(chime::parse_instant("2025-03-30 01:00:00Z") == utc(2025_y / 3 / 30, 1h));
}

TEST_CASE("seconds may be left out", "[iso8601]") {
    CHECK(chime::parse_instant("2025-03-30T01:02Z") == utc(2025_y / 3 / 30, 1h + 2min));
}

TEST_CASE("fractions of a second are kept to the microsecond", "[iso8601]") {
    using std::chrono::microseconds;
    auto base = chime::precise_instant{utc(2025_y / 1 / 1)};
    CHECK(chime::parse_precise_instant("2025-01-01T00:00:00.999Z") == base + microseconds{999000});
    CHECK(chime::parse_precise_instant("2025-01-01T00:00:00.000001Z") == base + microseconds{1});
    CHECK(chime::parse_precise_instant("2025-01-01T00:00:00,5Z") == base + microseconds{500000});
    // Digits past the sixth are dropped, which rounds toward the past.
    CHECK(chime::parse_precise_instant("2025-01-01T00:00:00.1234567Z") ==
          base + microseconds{123456});
}

TEST_CASE("parse_instant rounds a fraction down", "[iso8601]") {
    CHECK(chime::parse_instant("2025-01-01T00:00:00.999Z") == utc(2025_y / 1 / 1));
    CHECK(chime::parse_instant("2024-12-31T23:59:59.999Z") == utc(2024_y / 12 / 31, 86399s));
}

TEST_CASE("local date-time has no offset", "[iso8601]") {
    auto parsed = chime::parse_date_time("2015-03-08T02:30:00");
    CHECK(parsed.local == date::local_days{2015_y / 3 / 8} + 2h + 30min);
    CHECK_FALSE(parsed.offset.has_value());
    CHECK(parsed.fraction == 0us);
}

TEST_CASE("date-time keeps the offset as written", "[iso8601]") {
    auto parsed = chime::parse_date_time("2025-03-30T03:00:00.25+02:00");
    CHECK(parsed.local == date::local_days{2025_y / 3 / 30} + 3h);
    REQUIRE(parsed.offset.has_value());
    CHECK(*parsed.offset == 2h);
    CHECK(parsed.fraction == 250000us);
}

TEST_CASE("leap day exists only in leap years", "[iso8601]") {
    CHECK(chime::parse_instant("2024-02-29T00:00:00Z") == utc(2024_y / 2 / 29));
    CHECK(chime::parse_instant("2000-02-29T00:00:00Z") == utc(2000_y / 2 / 29));
    CHECK_THROWS_AS(chime::parse_instant("2100-02-29T00:00:00Z"), chime::invalid_input);
    CHECK_THROWS_AS(chime::parse_instant("2025-02-29T00:00:00Z"), chime::invalid_input);
}

TEST_CASE("invalid date-times name the text", "[iso8601]") {
    CHECK_THROWS_WITH(chime::parse_instant("2025-02-30T00:00:00Z"),
                      "invalid date-time \"2025-02-30T00:00:00Z\": that date does not exist; "
                      "expected the form 2025-03-30T02:30:00+01:00");
    CHECK_THROWS_WITH(chime::parse_instant("2025-01-01T25:00:00Z"),
                      "invalid date-time \"2025-01-01T25:00:00Z\": the time of day is outside "
                      "00:00:00-23:59:59; expected the form 2025-03-30T02:30:00+01:00");
    CHECK_THROWS_WITH(chime::parse_instant("2025-01-01T00:00:00Zjunk"),
                      Contains("\"2025-01-01T00:00:00Zjunk\"") &&
                          Contains("unexpected text after the time"));
    CHECK_THROWS_WITH(chime::parse_instant("2025-01-01"),
                      Contains("\"2025-01-01\"") && Contains("the time of day is missing"));
}

TEST_CASE("instant without an offset is rejected", "[iso8601]") {
    CHECK_THROWS_WITH(chime::parse_instant("2025-01-01T00:00:00"),
                      "invalid instant \"2025-01-01T00:00:00\": the UTC offset is missing; add Z "
                      "or an offset such as +01:00");
}

TEST_CASE("malformed date-times are rejected", "[iso8601]") {
    for (const char* text :
         {"", "2025", "2025-1-01T00:00:00Z", "2025-01-01T0:00:00Z", "2025-01-01T00:00:0Z",
          "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-01-00T00:00:00Z",
          "2025-01-32T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T23:60:00Z",
          "2025-01-01T23:59:60Z", "2025-01-01T00:00:00.Z", "2025-01-01T00:00:00+5:00",
          "2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00+05:60", "2025-01-01T00:00:00+05:3",
          "2025-01-01T00:00:00 Z", "2025/01/01T00:00:00Z", "2025-01-01X00:00:00Z",
          "+2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z ", " 2025-01-01T00:00:00Z"}) {
        INFO("text: \"" << text << "\"");
        CHECK_THROWS_AS(chime::parse_instant(text), chime::invalid_input);
    }
}

TEST_CASE("offset with a dangling colon is rejected", "[iso8601]") {
    CHECK_THROWS_AS(chime::parse_instant("2025-01-01T00:00:00+05:"), chime::invalid_input);
}

TEST_CASE("instants format with the zone offset", "[iso8601]") {
    auto berlin = chime::zone::locate("Europe/Berlin");
    CHECK(chime::format_instant(utc(2025_y / 3 / 30, 1h), berlin) == "2025-03-30T03:00:00+02:00");
    CHECK(chime::format_instant(utc(2025_y / 3 / 30, 1h) - 1s, berlin) ==
          "2025-03-30T01:59:59+01:00");
    auto kolkata = chime::zone::locate("Asia/Kolkata");
    CHECK(chime::format_instant(utc(2025_y / 1 / 1), kolkata) == "2025-01-01T05:30:00+05:30");
    auto sao_paulo = chime::zone::locate("America/Sao_Paulo");
    CHECK(chime::format_instant(utc(2025_y / 1 / 1), sao_paulo) == "2024-12-31T21:00:00-03:00");
    CHECK(chime::format_utc(utc(2025_y / 1 / 1, 12h + 3min + 4s)) == "2025-01-01T12:03:04Z");
}

TEST_CASE("offsets with seconds print the seconds", "[iso8601]") {
    // Amsterdam kept +00:19:32 until 1937.
    auto amsterdam = chime::zone::locate("Europe/Amsterdam");
    CHECK(chime::format_instant(utc(1930_y / 1 / 1), amsterdam) == "1930-01-01T00:19:32+00:19:32");
}

TEST_CASE("local date-times format without offset", "[iso8601]") {
    CHECK(chime::format_local(date::local_days{2015_y / 3 / 8} + 2h + 30min) ==
          "2015-03-08T02:30:00");
    CHECK(chime::format_local(date::local_days{1_y / 1 / 1}) == "0001-01-01T00:00:00");
}

TEST_CASE("formatted instants parse back to themselves", "[iso8601]") {
    std::mt19937_64 rng(8601);
    std::uniform_int_distribution<long long> seconds(0, (utc(2399_y / 12 / 31) - utc(1970_y / 1 / 1)).count());
    const char* zones[] = {"UTC", "Europe/Berlin", "America/St_Johns", "Pacific/Chatham",
                           "Asia/Kolkata", "America/Sao_Paulo"};
    for (const char* name : zones) {
        auto tz = chime::zone::locate(name);
        for (int i = 0; i < 200; ++i) {
            chime::instant t = utc(1970_y / 1 / 1) + std::chrono::seconds{seconds(rng)};
            auto text = chime::format_instant(t, tz);
            INFO(name << " " << text);
            CHECK(chime::parse_instant(text) == t);
        }
    }
}

TEST_CASE("durations read each unit", "[iso8601]") {
    CHECK(chime::parse_duration("PT30S").clock == 30s);
    CHECK(chime::parse_duration("PT5M").clock == 5min);
    CHECK(chime::parse_duration("P7D").days == 7);
    CHECK(chime::parse_duration("P1M").months == 1);
    CHECK(chime::parse_duration("P1M").clock == 0s);
    CHECK(chime::parse_duration("P2W").weeks == 2);
    CHECK(chime::parse_duration("pt1h").clock == 1h);

    auto full = chime::parse_duration("P1Y2M3W4DT5H6M7S");
    CHECK(full.years == 1);
    CHECK(full.months == 2);
    CHECK(full.weeks == 3);
    CHECK(full.days == 4);
    CHECK(full.clock == 5h + 6min + 7s);
    CHECK(full.has_calendar_part());
    CHECK_FALSE(chime::parse_duration("P3W4DT5H").has_calendar_part());
}

TEST_CASE("M before T is months and after T is minutes", "[iso8601]") {
    auto d = chime::parse_duration("P1MT1M");
    CHECK(d.months == 1);
    CHECK(d.clock == 1min);
}

TEST_CASE("elapsed durations count days as 86400 seconds", "[iso8601]") {
    CHECK(chime::parse_elapsed_duration("P1DT12H") == 36h);
    CHECK(chime::parse_elapsed_duration("P1W") == 168h);
    CHECK(chime::parse_elapsed_duration("PT90M") == 90min);
    CHECK_THROWS_WITH(chime::parse_elapsed_duration("P1M"),
                      Contains("\"P1M\"") && Contains("years and months have no fixed length"));
    CHECK_THROWS_AS(chime::parse_elapsed_duration("P1Y"), chime::invalid_input);
    CHECK_THROWS_AS(chime::parse_elapsed_duration("P99999999D"), chime::invalid_input);
}

TEST_CASE("invalid durations name the text", "[iso8601]") {
    CHECK_THROWS_WITH(chime::parse_duration("1D"),
                      "invalid duration \"1D\": it does not start with P and a number; expected "
                      "ISO 8601 such as PT30S, PT5M or P1D");
    CHECK_THROWS_WITH(chime::parse_duration("P1.5D"),
                      Contains("\"P1.5D\"") && Contains("fractions are not supported"));
    CHECK_THROWS_WITH(chime::parse_duration("PT5X"),
                      Contains("\"PT5X\"") && Contains("unit X is unknown or out of order"));
    CHECK_THROWS_WITH(chime::parse_duration("P"), Contains("\"P\""));
    CHECK_THROWS_WITH(chime::parse_duration("PT"), Contains("\"PT\""));
}

TEST_CASE("malformed durations are rejected", "[iso8601]") {
    for (const char* text : {"", "P", "PT", "1D", "P1.5D", "PT5X", "P1", "PT1", "P1H", "PT1D",
                             "P1D1D", "P1DT1H1H", "PT1S1M", "P1D2Y", "PTT1H", "P-1D", "P+1D",
                             "P1DT", "P1YT", "PT1,5S", "P 1D", "P1D ", "P99999999999999999999D"}) {
        INFO("text: \"" << text << "\"");
        CHECK_THROWS_AS(chime::parse_duration(text), chime::invalid_input);
    }
}

TEST_CASE("durations format in their shortest form", "[iso8601]") {
    CHECK(chime::format_duration(30s) == "PT30S");
    CHECK(chime::format_duration(0s) == "PT0S");
    CHECK(chime::format_duration(36h) == "P1DT12H");
    CHECK(chime::format_duration(7 * 24h) == "P7D");
    CHECK(chime::format_duration(1h + 1s) == "PT1H1S");
    chime::iso_duration d;
    d.years = 1;
    d.months = 2;
    d.weeks = 3;
    d.days = 4;
    d.clock = 5h + 6min + 7s;
    CHECK(chime::format_duration(d) == "P1Y2M3W4DT5H6M7S");
}

TEST_CASE("durations round trip through text", "[iso8601]") {
    for (const char* text : {"PT30S", "P7D", "P1M", "P1Y2M3W4DT5H6M7S", "P1DT12H", "PT1H1S",
                             "P2W", "P1Y"}) {
        INFO(text);
        CHECK(chime::format_duration(chime::parse_duration(text)) == text);
    }
    for (auto d : {1s, 59s, 60s, 3599s, 3600s, 86399s, 86400s, 86401s, 1000000s}) {
        auto text = chime::format_duration(d);
        INFO(text);
        CHECK(chime::parse_elapsed_duration(text) == d);
    }
}

TEST_CASE("format far instants without overflow", "[iso8601]") {
    auto berlin = chime::zone::locate("Europe/Berlin");
    CHECK(chime::format_instant(chime::instant::max(), berlin) ==
          chime::format_utc(chime::instant::max()));
    CHECK(chime::format_instant(chime::instant::min(), berlin) ==
          chime::format_utc(chime::instant::min()));
}

TEST_CASE("negative duration has a sign prefix", "[iso8601]") {
    CHECK(chime::format_duration(std::chrono::seconds{-30}) == "-PT30S");
    CHECK(chime::format_duration(std::chrono::seconds{-90061}) == "-P1DT1H1M1S");
}
