// Tests of chime::cron_trigger: cron expressions read in a time zone, the
// three DST policies at forward and backward jumps, notes and explanations,
// time windows, @reboot, searches that never match, and JSON.
#include <chime/cron.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Fire times print as UTC text in failure messages.
namespace Catch {
template <>
struct StringMaker<std::optional<chime::instant>> {
    static std::string convert(const std::optional<chime::instant>& t) {
        return t ? chime::format_utc(*t) : "none";
    }
};
template <>
struct StringMaker<chime::instant> {
    static std::string convert(chime::instant t) { return chime::format_utc(t); }
};
} // namespace Catch

namespace {

using namespace std::chrono_literals;
using chime::cron_trigger;
using chime::fire_note;

const chime::dst_setting cronie = chime::dst_setting::of(chime::dst_cronie{});
const chime::dst_setting skip = chime::dst_setting::of(chime::dst_skip{});
const chime::dst_setting every_instant = chime::dst_setting::of(chime::dst_every_instant{});

chime::instant at(std::string_view text) { return chime::parse_instant(text); }

// The next `count` fire times after `after`, formatted in the trigger's zone.
std::vector<std::string> fires(const cron_trigger& trigger, std::string_view after,
                               std::size_t count) {
    std::vector<std::string> out;
    auto t = at(after);
    while (out.size() < count) {
        auto next = trigger.next_after(t);
        if (!next) {
            break;
        }
        out.push_back(chime::format_instant(*next, trigger.time_zone()));
        t = *next;
    }
    return out;
}

std::vector<std::string> fires(std::string_view expression, const char* zone_name,
                               chime::dst_setting dst, std::string_view after,
                               std::size_t count) {
    return fires(cron_trigger(expression, chime::zone::locate(zone_name), dst), after, count);
}

using times = std::vector<std::string>;

} // namespace

TEST_CASE("cron trigger fires strictly after the given instant", "[cron]") {
    cron_trigger every_minute("* * * * *", chime::zone::locate("UTC"));
    CHECK(every_minute.next_after(at("2025-01-01T10:00:00Z")) == at("2025-01-01T10:01:00Z"));
    CHECK(every_minute.next_after(at("2025-01-01T10:00:30Z")) == at("2025-01-01T10:01:00Z"));
    CHECK(every_minute.next_after(at("2025-01-01T09:59:59Z")) == at("2025-01-01T10:00:00Z"));
}

TEST_CASE("cron trigger reads the expression in its zone", "[cron]") {
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2025-01-01T00:00:00Z", 2) ==
          times{"2025-01-01T02:30:00+01:00", "2025-01-02T02:30:00+01:00"});
    CHECK(fires("0 9 * * MON-FRI", "Asia/Kolkata", cronie, "2025-01-03T12:00:00Z", 2) ==
          times{"2025-01-06T09:00:00+05:30", "2025-01-07T09:00:00+05:30"});
    CHECK(fires("0 0 1 * *", "Etc/GMT+5", cronie, "2025-01-15T00:00:00Z", 1) ==
          times{"2025-02-01T00:00:00-05:00"});
}

// ---------------------------------------------------------------------------
// Forward jumps (gaps)

TEST_CASE("cronie runs a fixed-time job skipped by a jump after it", "[cron][dst]") {
    // Berlin, 30 March 2025: 02:00 jumps to 03:00.
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2025-03-29T12:00:00Z", 2) ==
          times{"2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"});
    // Several skipped times still give one run.
    CHECK(fires("0,15,30,45 2 * * *", "Europe/Berlin", cronie, "2025-03-29T12:00:00Z", 2) ==
          times{"2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00"});
    // A skipped 02:00 and an existing 03:00 meet at the same instant.
    CHECK(fires("0 2,3 * * *", "Europe/Berlin", cronie, "2025-03-29T12:00:00Z", 2) ==
          times{"2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00"});
    CHECK(fires("30 30 2 * * *", "Europe/Berlin", cronie, "2025-03-29T12:00:00Z", 1) ==
          times{"2025-03-30T03:00:00+02:00"});
}

TEST_CASE("skip and every_instant drop a skipped time", "[cron][dst]") {
    CHECK(fires("30 2 * * *", "Europe/Berlin", skip, "2025-03-29T12:00:00Z", 1) ==
          times{"2025-03-31T02:30:00+02:00"});
    CHECK(fires("30 2 * * *", "Europe/Berlin", every_instant, "2025-03-29T12:00:00Z", 1) ==
          times{"2025-03-31T02:30:00+02:00"});
}

TEST_CASE("cronie lets a wall-clock job skip the gap", "[cron][dst]") {
    CHECK(fires("*/30 2 * * *", "Europe/Berlin", cronie, "2025-03-29T12:00:00Z", 1) ==
          times{"2025-03-31T02:00:00+02:00"});
    CHECK(fires("0 * * * *", "Europe/Berlin", cronie, "2025-03-30T00:30:00Z", 2) ==
          times{"2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00"});
}

TEST_CASE("gap of thirty minutes at Lord Howe", "[cron][dst]") {
    // 5 October 2025: 02:00 +10:30 jumps to 02:30 +11:00.
    CHECK(fires("15 2 * * *", "Australia/Lord_Howe", cronie, "2025-10-04T00:00:00Z", 2) ==
          times{"2025-10-05T02:30:00+11:00", "2025-10-06T02:15:00+11:00"});
    CHECK(fires("15 2 * * *", "Australia/Lord_Howe", skip, "2025-10-04T00:00:00Z", 1) ==
          times{"2025-10-06T02:15:00+11:00"});
}

TEST_CASE("gap of Chatham at 02:45", "[cron][dst]") {
    // 28 September 2025: 02:45 +12:45 jumps to 03:45 +13:45.
    CHECK(fires("0 3 * * *", "Pacific/Chatham", cronie, "2025-09-27T00:00:00Z", 2) ==
          times{"2025-09-28T03:45:00+13:45", "2025-09-29T03:00:00+13:45"});
    CHECK(fires("0 3 * * *", "Pacific/Chatham", every_instant, "2025-09-27T00:00:00Z", 1) ==
          times{"2025-09-29T03:00:00+13:45"});
}

TEST_CASE("gap at midnight in Sao Paulo", "[cron][dst]") {
    // 4 November 2018: 00:00 -03:00 jumps to 01:00 -02:00.
    CHECK(fires("0 0 * * *", "America/Sao_Paulo", cronie, "2018-11-03T12:00:00Z", 2) ==
          times{"2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"});
    CHECK(fires("0 0 * * *", "America/Sao_Paulo", skip, "2018-11-03T12:00:00Z", 1) ==
          times{"2018-11-05T00:00:00-02:00"});
}

TEST_CASE("gap one second after the start still runs", "[cron][dst]") {
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2025-03-30T00:59:59Z", 1) ==
          times{"2025-03-30T03:00:00+02:00"});
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2025-03-30T01:00:00Z", 1) ==
          times{"2025-03-31T02:30:00+02:00"});
}

// ---------------------------------------------------------------------------
// Backward jumps (overlaps)

TEST_CASE("fixed-time job runs once in a repeated hour", "[cron][dst]") {
    // Berlin, 26 October 2025: 03:00 +02:00 falls back to 02:00 +01:00.
    for (auto dst : {cronie, skip}) {
        INFO(dst.kind);
        CHECK(fires("30 2 * * *", "Europe/Berlin", dst, "2025-10-25T12:00:00Z", 2) ==
              times{"2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"});
    }
}

TEST_CASE("every_instant runs in both repeated hours", "[cron][dst]") {
    CHECK(fires("30 2 * * *", "Europe/Berlin", every_instant, "2025-10-25T12:00:00Z", 3) ==
          times{"2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00",
                "2025-10-27T02:30:00+01:00"});
}

TEST_CASE("cronie lets a wall-clock job run in both repeated hours", "[cron][dst]") {
    CHECK(fires("*/30 2 * * *", "Europe/Berlin", cronie, "2025-10-25T12:00:00Z", 5) ==
          times{"2025-10-26T02:00:00+02:00", "2025-10-26T02:30:00+02:00",
                "2025-10-26T02:00:00+01:00", "2025-10-26T02:30:00+01:00",
                "2025-10-27T02:00:00+01:00"});
    // New York, 2 November 2025: 02:00 EDT falls back to 01:00 EST.
    CHECK(fires("0 * * * *", "America/New_York", cronie, "2025-11-02T03:30:00Z", 4) ==
          times{"2025-11-02T00:00:00-04:00", "2025-11-02T01:00:00-04:00",
                "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"});
    CHECK(fires("0 * * * *", "America/New_York", skip, "2025-11-02T03:30:00Z", 3) ==
          times{"2025-11-02T00:00:00-04:00", "2025-11-02T01:00:00-04:00",
                "2025-11-02T02:00:00-05:00"});
}

TEST_CASE("second occurrence is skipped when the first was before the start", "[cron][dst]") {
    // Asked at 02:45 +02:00, after the first 02:30 and before the second.
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2025-10-26T00:45:00Z", 1) ==
          times{"2025-10-27T02:30:00+01:00"});
    CHECK(fires("30 2 * * *", "Europe/Berlin", every_instant, "2025-10-26T00:45:00Z", 1) ==
          times{"2025-10-26T02:30:00+01:00"});
    // Asked inside the second occurrence itself.
    CHECK(fires("45 2 * * *", "Europe/Berlin", skip, "2025-10-26T01:30:00Z", 1) ==
          times{"2025-10-27T02:45:00+01:00"});
    CHECK(fires("45 2 * * *", "Europe/Berlin", every_instant, "2025-10-26T01:30:00Z", 1) ==
          times{"2025-10-26T02:45:00+01:00"});
}

TEST_CASE("repeated hour before midnight in Sao Paulo", "[cron][dst]") {
    // 17 February 2019: 00:00 -02:00 falls back to 23:00 -03:00 on the 16th.
    CHECK(fires("30 23 * * *", "America/Sao_Paulo", cronie, "2019-02-16T12:00:00Z", 2) ==
          times{"2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00"});
    CHECK(fires("30 23 * * *", "America/Sao_Paulo", every_instant, "2019-02-16T12:00:00Z", 2) ==
          times{"2019-02-16T23:30:00-02:00", "2019-02-16T23:30:00-03:00"});
}

TEST_CASE("summer time rules apply after 2037", "[cron][dst]") {
    // 25 March 2040 is the last Sunday of March.
    CHECK(fires("30 2 * * *", "Europe/Berlin", cronie, "2040-03-24T12:00:00Z", 2) ==
          times{"2040-03-25T03:00:00+02:00", "2040-03-26T02:30:00+02:00"});
    CHECK(fires("0 12 1 7 *", "Europe/Berlin", cronie, "2040-01-01T00:00:00Z", 1) ==
          times{"2040-07-01T12:00:00+02:00"});
    CHECK(fires("0 12 1 7 *", "America/New_York", cronie, "2050-01-01T00:00:00Z", 1) ==
          times{"2050-07-01T12:00:00-04:00"});
}

// ---------------------------------------------------------------------------
// Notes and explanations

TEST_CASE("fire times carry a note about DST", "[cron][dst]") {
    auto berlin = chime::zone::locate("Europe/Berlin");

    auto jumped = cron_trigger("30 2 * * *", berlin, cronie)
                      .next_fire_after(at("2025-03-29T12:00:00Z"));
    REQUIRE(jumped.has_value());
    CHECK(jumped->at == at("2025-03-30T01:00:00Z"));
    CHECK(jumped->note == fire_note::after_jump);
    CHECK(chime::format_local(jumped->wall) == "2025-03-30T02:30:00");
    CHECK(chime::explain(*jumped) == "02:30 does not exist; ran after the jump");

    auto once = cron_trigger("30 2 * * *", berlin, cronie)
                    .next_fire_after(at("2025-10-25T12:00:00Z"));
    REQUIRE(once.has_value());
    CHECK(once->note == fire_note::first_of_two);
    CHECK_FALSE(once->repeats);
    CHECK(chime::explain(*once) == "02:30 occurs twice; runs at the first only");

    cron_trigger both("30 2 * * *", berlin, every_instant);
    auto first = both.next_fire_after(at("2025-10-25T12:00:00Z"));
    REQUIRE(first.has_value());
    CHECK(first->note == fire_note::first_of_two);
    CHECK(first->repeats);
    CHECK(chime::explain(*first) == "02:30 occurs twice; first of two runs");
    auto second = both.next_fire_after(first->at);
    REQUIRE(second.has_value());
    CHECK(second->note == fire_note::second_of_two);
    CHECK(chime::explain(*second) == "02:30 occurs twice; second of two runs");

    auto plain = both.next_fire_after(second->at);
    REQUIRE(plain.has_value());
    CHECK(plain->note == fire_note::none);
    CHECK(chime::explain(*plain).empty());
}

TEST_CASE("explanation keeps seconds when they are not zero", "[cron][dst]") {
    auto fire = cron_trigger("30 30 2 * * *", chime::zone::locate("Europe/Berlin"), cronie)
                    .next_fire_after(at("2025-03-29T12:00:00Z"));
    REQUIRE(fire.has_value());
    CHECK(chime::explain(*fire) == "02:30:30 does not exist; ran after the jump");
}

// ---------------------------------------------------------------------------
// Reboot, windows, limits

TEST_CASE("reboot fires at start and never by the clock", "[cron]") {
    cron_trigger reboot("@reboot", chime::zone::locate("Europe/Berlin"));
    CHECK(reboot.fires_at_start());
    CHECK(reboot.next_after(at("2025-01-01T00:00:00Z")) == std::nullopt);
    CHECK(reboot.next_fire_after(at("2025-01-01T00:00:00Z")) == std::nullopt);
    CHECK_FALSE(cron_trigger("0 0 * * *", chime::zone::locate("UTC")).fires_at_start());
}

TEST_CASE("window bounds the fire times", "[cron]") {
    chime::time_window window{at("2025-01-10T12:00:00Z"), at("2025-01-11T12:00:00Z")};
    cron_trigger noon("0 12 * * *", chime::zone::locate("UTC"), {}, {}, window);
    CHECK(noon.next_after(at("2025-01-01T00:00:00Z")) == at("2025-01-10T12:00:00Z"));
    CHECK(noon.next_after(at("2025-01-10T12:00:00Z")) == at("2025-01-11T12:00:00Z"));
    CHECK(noon.next_after(at("2025-01-11T12:00:00Z")) == std::nullopt);
}

TEST_CASE("never-matching schedules return none", "[cron]") {
    // Each search is bounded by the year 2400 and ends without a hang.
    auto berlin = chime::zone::locate("Europe/Berlin");
    auto from = at("2020-01-01T00:00:00Z");
    for (auto dst : {cronie, skip, every_instant}) {
        INFO(dst.kind);
        CHECK(cron_trigger("0 0 30 2 *", berlin, dst).next_after(from) == std::nullopt);
        CHECK(cron_trigger("0 0 31 4,6,9,11 *", berlin, dst).next_after(from) == std::nullopt);
        CHECK(cron_trigger("0 0 31 2 1#5", berlin, dst, {chime::day_rule::both})
                  .next_after(from) == std::nullopt);
        CHECK(cron_trigger("0 0 0 * * ? 1975", berlin, dst).next_after(from) == std::nullopt);
        CHECK(cron_trigger("0 0 0 29 2 ? 2100", berlin, dst).next_after(from) == std::nullopt);
    }
    CHECK(cron_trigger("0 0 30 2 *", chime::zone::locate("UTC")).next_after(from) ==
          std::nullopt);
}

TEST_CASE("search ends before the year 2400", "[cron]") {
    auto utc = chime::zone::locate("UTC");
    cron_trigger new_year("0 0 1 1 *", utc);
    CHECK(new_year.next_after(at("2398-06-01T00:00:00Z")) == at("2399-01-01T00:00:00Z"));
    CHECK(new_year.next_after(at("2399-01-01T00:00:00Z")) == std::nullopt);
    CHECK(new_year.next_after(chime::search_limit) == std::nullopt);
    CHECK(new_year.next_after(chime::instant::max()) == std::nullopt);
    cron_trigger berlin("0 0 1 1 *", chime::zone::locate("Europe/Berlin"));
    CHECK(berlin.next_after(at("2398-06-01T00:00:00Z")) == at("2398-12-31T23:00:00Z"));
}

TEST_CASE("search from before 1970 starts in 1970", "[cron]") {
    cron_trigger new_year("0 0 1 1 *", chime::zone::locate("Europe/Berlin"));
    CHECK(new_year.next_after(at("1900-06-01T00:00:00Z")) == at("1969-12-31T23:00:00Z"));
    cron_trigger utc_new_year("0 0 1 1 *", chime::zone::locate("UTC"));
    CHECK(utc_new_year.next_after(at("1900-06-01T00:00:00Z")) == at("1970-01-01T00:00:00Z"));
}

TEST_CASE("search from the earliest instant west of UTC", "[cron]") {
    // instant::min() plus a negative offset must not overflow.
    for (const char* name : {"Etc/GMT+5", "America/New_York"}) {
        INFO(name);
        cron_trigger new_year("0 0 1 1 *", chime::zone::locate(name));
        CHECK(new_year.next_after(chime::instant::min()) == at("1970-01-01T05:00:00Z"));
    }
}

// ---------------------------------------------------------------------------
// JSON

TEST_CASE("cron trigger round trips through JSON", "[cron][json]") {
    chime::time_window window{at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z")};
    cron_trigger original("30 2 * * 1", chime::zone::locate("Europe/Berlin"), skip,
                          {chime::day_rule::both, chime::weekday_numbering::cron}, window);
    auto j = original.to_json();
    CHECK(j["kind"] == "cron");
    CHECK(j["expr"] == "30 2 * * 1");
    CHECK(j["tz"] == "Europe/Berlin");
    CHECK(j["dst"] == "skip");
    CHECK(j["day_rule"] == "and");
    CHECK(j["weekdays"] == "cron");
    CHECK(j["start"] == "2025-01-01T00:00:00Z");
    auto copy = cron_trigger::from_json(j);
    CHECK(copy == original);
}

TEST_CASE("cron trigger JSON errors name the key", "[cron][json]") {
    using nlohmann::json;
    CHECK_THROWS_WITH(cron_trigger::from_json(json{{"kind", "cron"}}),
                      "cron trigger: \"expr\" is missing");
    CHECK_THROWS_WITH(cron_trigger::from_json(json{{"expr", "* * * * *"}, {"day_rule", "xor"}}),
                      "cron trigger: \"day_rule\" is \"xor\"; expected \"or\" or \"and\"");
    CHECK_THROWS_WITH(cron_trigger::from_json(json{{"expr", "* * * * *"}, {"timezone", "UTC"}}),
                      Catch::Matchers::Contains("unknown key \"timezone\""));
    CHECK_THROWS_AS(cron_trigger::from_json(json{{"expr", "* * * * *"}, {"tz", "Mars/Olympus"}}),
                    chime::invalid_input);
    CHECK_THROWS_WITH(cron_trigger::from_json(json{{"expr", "* * * * *"}, {"tz", "Mars/Olympus"}}),
                      Catch::Matchers::Contains("\"tz\"") &&
                          Catch::Matchers::Contains("\"Mars/Olympus\""));
    CHECK_THROWS_AS(cron_trigger::from_json(json{{"expr", "61 * * * *"}, {"tz", "UTC"}}),
                    chime::invalid_input);
    CHECK_THROWS_WITH(cron_trigger::from_json(json{{"expr", "* * * * *"}, {"dst", "never"}}),
                      "cron trigger: \"dst\" is invalid: dst: unknown policy \"never\"; expected one of "
                      "cronie, skip, every_instant");
}

TEST_CASE("cron stops at 2400 west of UTC", "[cron]") {
    // 2399-12-31 23:00 in New York is 2400-01-01T04:00Z, past every search.
    cron_trigger late("0 23 * * *", chime::zone::locate("America/New_York"));
    auto last = late.next_after(chime::parse_instant("2399-12-31T00:00:00Z"));
    REQUIRE(last.has_value());
    CHECK(chime::format_utc(*last) == "2399-12-31T04:00:00Z");
    CHECK_FALSE(late.next_after(*last).has_value());
}
