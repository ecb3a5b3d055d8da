// Tests of the interval, at, calendar_interval, combinator and jitter
// triggers and of their JSON forms. Expected fire times are worked out by
// hand from the zone rules, with the reasoning beside each table.
//   Europe/Berlin and Europe/Paris: CET (+01:00), and CEST (+02:00) from
//     31 March 2024 02:00 to 27 October 2024 03:00 and from 30 March 2025
//     to 26 October 2025.
//   America/New_York: EST (-05:00), and EDT (-04:00) from 10 March 2024
//     02:00 to 3 November 2024 02:00.
#include <chime/triggers.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using nlohmann::json;

chime::instant utc(std::string_view text) { return chime::parse_instant(text); }

chime::local_seconds wall(std::string_view text) { return chime::parse_date_time(text).local; }

chime::zone berlin() { return chime::zone::locate("Europe/Berlin"); }

const chime::dst_setting cronie = chime::dst_setting::of(chime::dst_cronie{});
const chime::dst_setting skip = chime::dst_setting::of(chime::dst_skip{});
const chime::dst_setting every_instant = chime::dst_setting::of(chime::dst_every_instant{});

// Up to `count` successive fire times after `from`, written in the
// trigger's zone, so a failed comparison shows readable times.
template <class Trigger>
std::vector<std::string> fires_after(const Trigger& trigger, chime::instant from,
                                     std::size_t count) {
    std::vector<std::string> out;
    for (auto next = trigger.next_after(from); next && out.size() < count;
         next = trigger.next_after(*next)) {
        out.push_back(chime::format_instant(*next, trigger.time_zone()));
    }
    return out;
}

using strings = std::vector<std::string>;

} // namespace

// ---------------------------------------------------------------------------
// interval

TEST_CASE("interval without start uses the epoch", "[interval]") {
    // Every UTC hour boundary is a multiple of 3600 s after 1970-01-01T00:00:00Z.
    chime::interval_trigger hourly(1h);
    CHECK(fires_after(hourly, utc("2024-05-01T10:20:00Z"), 3) ==
          strings{"2024-05-01T11:00:00+00:00", "2024-05-01T12:00:00+00:00",
                  "2024-05-01T13:00:00+00:00"});
    // Before the epoch the multiples continue: 23:00 on 31 December 1969 is -3600 s.
    CHECK(hourly.next_after(utc("1969-12-31T22:30:00Z")) == utc("1969-12-31T23:00:00Z"));
}

TEST_CASE("interval start is the first fire", "[interval]") {
    chime::time_window window{utc("2026-03-08T01:59:00-08:00"), std::nullopt};
    chime::interval_trigger every_30s(30s, window, chime::zone::locate("America/Los_Angeles"));
    CHECK(every_30s.next_after(utc("2026-03-01T00:00:00Z")) == utc("2026-03-08T09:59:00Z"));
    CHECK(every_30s.next_after(utc("2026-03-08T09:58:59Z")) == utc("2026-03-08T09:59:00Z"));
    // 01:59:30 PST plus 30 s is 02:00 PST, which the clock shows as 03:00 PDT.
    CHECK(fires_after(every_30s, utc("2026-03-08T09:59:00Z"), 3) ==
          strings{"2026-03-08T01:59:30-08:00", "2026-03-08T03:00:00-07:00",
                  "2026-03-08T03:00:30-07:00"});
}

TEST_CASE("interval end is inclusive", "[interval]") {
    chime::time_window window{utc("2024-01-01T00:00:00Z"), utc("2024-01-01T00:01:00Z")};
    chime::interval_trigger every_30s(30s, window);
    CHECK(fires_after(every_30s, utc("2023-12-31T00:00:00Z"), 10) ==
          strings{"2024-01-01T00:00:00+00:00", "2024-01-01T00:00:30+00:00",
                  "2024-01-01T00:01:00+00:00"});
}

TEST_CASE("interval does not drift", "[interval]") {
    // Days in sys_time are 86,400 s, so a daily interval anchored at 00:00:30Z
    // still fires at 00:00:30Z 274 years later.
    chime::interval_trigger daily(24h, {utc("2026-01-01T00:00:30Z"), std::nullopt});
    CHECK(daily.next_after(utc("2300-01-01T00:00:00Z")) == utc("2300-01-01T00:00:30Z"));

    // 7,000,000,000 s is exactly 10^9 periods of 7 s, so it is a fire time.
    chime::interval_trigger every_7s(7s);
    const chime::instant fire{7'000'000'000s};
    CHECK(every_7s.next_after(fire - 1s) == fire);
    CHECK(every_7s.next_after(fire) == fire + 7s);
    CHECK(every_7s.next_after(fire - 7s) == fire);

    const auto after = utc("2300-06-15T12:34:56Z");
    auto next = every_7s.next_after(after);
    REQUIRE(next.has_value());
    CHECK(*next > after);
    CHECK(*next - after <= 7s);
    CHECK(next->time_since_epoch().count() % 7 == 0);
}

TEST_CASE("interval stops at the search limit", "[interval]") {
    chime::interval_trigger hourly(1h);
    CHECK_FALSE(hourly.next_after(utc("2399-12-31T23:00:00Z")).has_value());
    CHECK_FALSE(hourly.next_after(chime::instant::max()).has_value());
    CHECK(hourly.next_after(utc("2399-12-31T21:59:59Z")) == utc("2399-12-31T22:00:00Z"));
}

TEST_CASE("interval rejects a non-positive length", "[interval]") {
    CHECK_THROWS_AS(chime::interval_trigger(0s), chime::invalid_input);
    CHECK_THROWS_AS(chime::interval_trigger(-5s), chime::invalid_input);
}

// ---------------------------------------------------------------------------
// at

TEST_CASE("at an exact instant fires once", "[at]") {
    chime::at_trigger once(utc("2025-03-30T03:00:00+02:00"), berlin());
    CHECK(fires_after(once, utc("2025-01-01T00:00:00Z"), 5) == strings{"2025-03-30T03:00:00+02:00"});
    CHECK(once.next_after(utc("2025-03-30T00:59:59Z")) == utc("2025-03-30T01:00:00Z"));
    CHECK_FALSE(once.next_after(utc("2025-03-30T01:00:00Z")).has_value());
}

namespace {

struct dst_case {
    const char* zone_name;
    const char* local;
    const char* policy;
    strings expected;
};

chime::dst_setting policy_named(std::string_view name) {
    return chime::dst_setting_named(name);
}

} // namespace

TEST_CASE("at local time follows DST policy", "[at][dst]") {
    // Gaps: 02:30 does not exist on 31 March 2024 in Berlin (02:00 CET became
    // 03:00 CEST) nor on 10 March 2024 in New York (02:00 EST became 03:00
    // EDT). cronie runs it at the jump, skip and every_instant never.
    // Overlaps: 02:30 occurs at +02:00 and +01:00 on 27 October 2024 in
    // Berlin, 01:30 at -04:00 and -05:00 on 3 November 2024 in New York.
    // cronie and skip run the first only, every_instant both.
    const std::vector<dst_case> cases = {
        {"Europe/Berlin", "2024-03-31T02:30:00", "cronie", {"2024-03-31T03:00:00+02:00"}},
        {"Europe/Berlin", "2024-03-31T02:30:00", "skip", {}},
        {"Europe/Berlin", "2024-03-31T02:30:00", "every_instant", {}},
        {"Europe/Berlin", "2024-10-27T02:30:00", "cronie", {"2024-10-27T02:30:00+02:00"}},
        {"Europe/Berlin", "2024-10-27T02:30:00", "skip", {"2024-10-27T02:30:00+02:00"}},
        {"Europe/Berlin",
         "2024-10-27T02:30:00",
         "every_instant",
         {"2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00"}},
        {"America/New_York", "2024-03-10T02:30:00", "cronie", {"2024-03-10T03:00:00-04:00"}},
        {"America/New_York", "2024-03-10T02:30:00", "skip", {}},
        {"America/New_York", "2024-03-10T02:30:00", "every_instant", {}},
        {"America/New_York", "2024-11-03T01:30:00", "cronie", {"2024-11-03T01:30:00-04:00"}},
        {"America/New_York", "2024-11-03T01:30:00", "skip", {"2024-11-03T01:30:00-04:00"}},
        {"America/New_York",
         "2024-11-03T01:30:00",
         "every_instant",
         {"2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00"}},
    };
    for (const auto& c : cases) {
        INFO(c.local << " in " << c.zone_name << " under " << c.policy);
        chime::at_trigger once(wall(c.local), chime::zone::locate(c.zone_name),
                               policy_named(c.policy));
        CHECK(fires_after(once, utc("2024-01-01T00:00:00Z"), 5) == c.expected);
    }
}

TEST_CASE("at explains a moved or doubled fire", "[at][dst]") {
    chime::at_trigger gap(wall("2024-03-31T02:30:00"), berlin(), cronie);
    auto fire = gap.next_fire_after(utc("2024-01-01T00:00:00Z"));
    REQUIRE(fire.has_value());
    CHECK(fire->note == chime::fire_note::after_jump);
    CHECK(chime::explain(*fire) == "02:30 does not exist; ran after the jump");

    chime::at_trigger twice(wall("2024-10-27T02:30:00"), berlin(), every_instant);
    auto first = twice.next_fire_after(utc("2024-01-01T00:00:00Z"));
    REQUIRE(first.has_value());
    CHECK(chime::explain(*first) == "02:30 occurs twice; first of two runs");
    auto second = twice.next_fire_after(first->at);
    REQUIRE(second.has_value());
    CHECK(chime::explain(*second) == "02:30 occurs twice; second of two runs");

    chime::at_trigger once(wall("2024-10-27T02:30:00"), berlin(), cronie);
    auto only = once.next_fire_after(utc("2024-01-01T00:00:00Z"));
    REQUIRE(only.has_value());
    CHECK(chime::explain(*only) == "02:30 occurs twice; runs at the first only");
}

TEST_CASE("at outside its window never fires", "[at]") {
    chime::time_window later{utc("2025-06-01T00:00:00Z"), std::nullopt};
    chime::at_trigger once(utc("2025-03-30T01:00:00Z"), chime::zone{}, later);
    CHECK_FALSE(once.next_after(utc("2025-01-01T00:00:00Z")).has_value());

    chime::time_window earlier{std::nullopt, utc("2025-03-30T00:59:59Z")};
    chime::at_trigger cut(utc("2025-03-30T01:00:00Z"), chime::zone{}, earlier);
    CHECK_FALSE(cut.next_after(utc("2025-01-01T00:00:00Z")).has_value());
}

TEST_CASE("at rejects a time past the search limit", "[at]") {
    CHECK_THROWS_AS(chime::at_trigger(utc("2400-01-01T00:00:00Z")), chime::invalid_input);
    CHECK_THROWS_AS(chime::at_trigger(wall("2400-01-01T00:00:00"), chime::zone{}),
                    chime::invalid_input);
}

// ---------------------------------------------------------------------------
// calendar_interval

TEST_CASE("calendar_interval skips short months", "[calendar_interval]") {
    // Only January, March, May, July, August, October and December have a
    // 31st. 09:00 Paris is 08:00Z in winter and 07:00Z in summer (from 31
    // March 2024 and 30 March 2025).
    chime::calendar_interval_trigger monthly(chime::calendar_step::parse("P1M"),
                                             wall("2024-01-31T09:00:00"),
                                             chime::zone::locate("Europe/Paris"));
    CHECK(fires_after(monthly, utc("2024-01-30T00:00:00Z"), 9) ==
          strings{"2024-01-31T09:00:00+01:00", "2024-03-31T09:00:00+02:00",
                  "2024-05-31T09:00:00+02:00", "2024-07-31T09:00:00+02:00",
                  "2024-08-31T09:00:00+02:00", "2024-10-31T09:00:00+01:00",
                  "2024-12-31T09:00:00+01:00", "2025-01-31T09:00:00+01:00",
                  "2025-03-31T09:00:00+02:00"});
}

TEST_CASE("calendar_interval bimonthly skips 30-day months", "[calendar_interval]") {
    // From 31 January by two months: March, May, July, then September and
    // November (30 days each) are skipped, then January and March again.
    chime::calendar_interval_trigger bimonthly(chime::calendar_step::parse("P2M"),
                                               wall("2024-01-31T00:00:00"), chime::zone{});
    CHECK(fires_after(bimonthly, utc("2024-01-01T00:00:00Z"), 6) ==
          strings{"2024-01-31T00:00:00+00:00", "2024-03-31T00:00:00+00:00",
                  "2024-05-31T00:00:00+00:00", "2024-07-31T00:00:00+00:00",
                  "2025-01-31T00:00:00+00:00", "2025-03-31T00:00:00+00:00"});
}

TEST_CASE("calendar_interval yearly leap day", "[calendar_interval]") {
    chime::calendar_interval_trigger yearly(chime::calendar_step::parse("P1Y"),
                                            wall("2024-02-29T12:00:00"), chime::zone{});
    CHECK(fires_after(yearly, utc("2024-01-01T00:00:00Z"), 3) ==
          strings{"2024-02-29T12:00:00+00:00", "2028-02-29T12:00:00+00:00",
                  "2032-02-29T12:00:00+00:00"});
    // 2100 is divisible by 100 but not by 400, so it has no 29 February.
    CHECK(fires_after(yearly, utc("2096-03-01T00:00:00Z"), 1) ==
          strings{"2104-02-29T12:00:00+00:00"});
}

TEST_CASE("calendar_interval reaches far occurrences", "[calendar_interval]") {
    // 2024-01-01 plus 154 days (11 fortnights) is 2024-06-03; 152 days from
    // 1 January to 1 June make 10 fortnights and 12 days.
    chime::calendar_interval_trigger fortnightly(chime::calendar_step::parse("P2W"),
                                                 wall("2024-01-01T08:00:00"), chime::zone{});
    CHECK(fires_after(fortnightly, utc("2024-06-01T00:00:00Z"), 2) ==
          strings{"2024-06-03T08:00:00+00:00", "2024-06-17T08:00:00+00:00"});

    // Summer time in Berlin in 2390 comes from the zone's POSIX rule.
    chime::calendar_interval_trigger daily(chime::calendar_step::parse("P1D"),
                                           wall("2024-01-01T09:00:00"), berlin());
    CHECK(fires_after(daily, utc("2390-07-01T00:00:00Z"), 1) ==
          strings{"2390-07-01T09:00:00+02:00"});
}

TEST_CASE("calendar_interval follows the DST policy", "[calendar_interval][dst]") {
    // The same gaps and overlaps as for at, reached by a daily trigger.
    const std::vector<dst_case> cases = {
        {"Europe/Berlin",
         "2024-03-29T02:30:00",
         "cronie",
         {"2024-03-29T02:30:00+01:00", "2024-03-30T02:30:00+01:00", "2024-03-31T03:00:00+02:00",
          "2024-04-01T02:30:00+02:00"}},
        {"Europe/Berlin",
         "2024-03-29T02:30:00",
         "skip",
         {"2024-03-29T02:30:00+01:00", "2024-03-30T02:30:00+01:00", "2024-04-01T02:30:00+02:00",
          "2024-04-02T02:30:00+02:00"}},
        {"Europe/Berlin",
         "2024-03-29T02:30:00",
         "every_instant",
         {"2024-03-29T02:30:00+01:00", "2024-03-30T02:30:00+01:00", "2024-04-01T02:30:00+02:00",
          "2024-04-02T02:30:00+02:00"}},
        {"Europe/Berlin",
         "2024-10-26T02:30:00",
         "cronie",
         {"2024-10-26T02:30:00+02:00", "2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00",
          "2024-10-29T02:30:00+01:00"}},
        {"Europe/Berlin",
         "2024-10-26T02:30:00",
         "skip",
         {"2024-10-26T02:30:00+02:00", "2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00",
          "2024-10-29T02:30:00+01:00"}},
        {"Europe/Berlin",
         "2024-10-26T02:30:00",
         "every_instant",
         {"2024-10-26T02:30:00+02:00", "2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00",
          "2024-10-28T02:30:00+01:00"}},
        {"America/New_York",
         "2024-03-09T02:30:00",
         "cronie",
         {"2024-03-09T02:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00",
          "2024-03-12T02:30:00-04:00"}},
        {"America/New_York",
         "2024-03-09T02:30:00",
         "skip",
         {"2024-03-09T02:30:00-05:00", "2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00",
          "2024-03-13T02:30:00-04:00"}},
        {"America/New_York",
         "2024-03-09T02:30:00",
         "every_instant",
         {"2024-03-09T02:30:00-05:00", "2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00",
          "2024-03-13T02:30:00-04:00"}},
        {"America/New_York",
         "2024-11-02T01:30:00",
         "cronie",
         {"2024-11-02T01:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00",
          "2024-11-05T01:30:00-05:00"}},
        {"America/New_York",
         "2024-11-02T01:30:00",
         "skip",
         {"2024-11-02T01:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00",
          "2024-11-05T01:30:00-05:00"}},
        {"America/New_York",
         "2024-11-02T01:30:00",
         "every_instant",
         {"2024-11-02T01:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00",
          "2024-11-04T01:30:00-05:00"}},
    };
    for (const auto& c : cases) {
        INFO("daily from " << c.local << " in " << c.zone_name << " under " << c.policy);
        chime::calendar_interval_trigger daily(chime::calendar_step::parse("P1D"), wall(c.local),
                                               chime::zone::locate(c.zone_name),
                                               policy_named(c.policy));
        CHECK(fires_after(daily, utc("2024-01-01T00:00:00Z"), 4) == c.expected);
    }
}

TEST_CASE("calendar_interval explains a moved fire", "[calendar_interval][dst]") {
    chime::calendar_interval_trigger daily(chime::calendar_step::parse("P1D"),
                                           wall("2024-03-29T02:30:00"), berlin(), cronie);
    auto fire = daily.next_fire_after(utc("2024-03-30T12:00:00Z"));
    REQUIRE(fire.has_value());
    CHECK(fire->at == utc("2024-03-31T01:00:00Z"));
    CHECK(chime::explain(*fire) == "02:30 does not exist; ran after the jump");
}

TEST_CASE("calendar_interval stops at end and limit", "[calendar_interval]") {
    chime::calendar_interval_trigger daily(chime::calendar_step::parse("P1D"),
                                           wall("2024-01-01T09:00:00"), chime::zone{}, cronie,
                                           utc("2024-01-03T09:00:00Z"));
    CHECK(fires_after(daily, utc("2023-12-01T00:00:00Z"), 10) ==
          strings{"2024-01-01T09:00:00+00:00", "2024-01-02T09:00:00+00:00",
                  "2024-01-03T09:00:00+00:00"});

    chime::calendar_interval_trigger yearly(chime::calendar_step::parse("P1Y"),
                                            wall("2399-06-01T00:00:00"), chime::zone{});
    CHECK(yearly.next_after(utc("2399-01-01T00:00:00Z")) == utc("2399-06-01T00:00:00Z"));
    CHECK_FALSE(yearly.next_after(utc("2399-06-01T00:00:00Z")).has_value());
    CHECK_FALSE(yearly.next_after(chime::instant::max()).has_value());
}

namespace {

// Up to `count` fire times of a calendar interval before the year 2400,
// listed from occurrence 0 on with the date library's own month and year
// arithmetic, for checking the direct jump to an occurrence in next_after.
std::vector<chime::instant> enumerate_fires(const chime::calendar_step& step,
                                            chime::local_seconds first, const chime::zone& tz,
                                            chime::dst_rule rule, std::size_t count) {
    using namespace date;
    const auto first_day = floor<days>(first);
    const auto time_of_day = first - first_day;
    const year_month_day first_date{first_day};
    std::vector<chime::instant> out;
    for (int k = 0; out.size() < count; ++k) {
        year_month_day date = first_date;
        switch (step.unit) {
        case chime::calendar_unit::day:
            date = year_month_day{first_day + days{k * step.count}};
            break;
        case chime::calendar_unit::week:
            date = year_month_day{first_day + days{7 * k * step.count}};
            break;
        case chime::calendar_unit::month: date = first_date + months{k * step.count}; break;
        case chime::calendar_unit::year: date = first_date + years{k * step.count}; break;
        }
        if (date.year() >= year{2400}) {
            break;
        }
        if (!date.ok()) {
            continue;
        }
        auto resolution = tz.resolve(local_days{date} + time_of_day);
        switch (resolution.kind) {
        case chime::local_kind::unique: out.push_back(resolution.first); break;
        case chime::local_kind::nonexistent:
            if (rule.gap == chime::gap_action::run_after_jump) {
                out.push_back(resolution.first);
            }
            break;
        case chime::local_kind::ambiguous:
            out.push_back(resolution.first);
            if (rule.overlap == chime::overlap_action::both) {
                out.push_back(resolution.second);
            }
            break;
        }
    }
    return out;
}

} // namespace

TEST_CASE("calendar_interval agrees with enumeration", "[calendar_interval]") {
    struct setup {
        const char* every;
        const char* first;
        const char* zone_name;
        const char* policy;
    };
    const std::vector<setup> setups = {
        {"P1D", "2020-01-01T02:30:00", "Europe/Berlin", "cronie"},
        {"P1D", "2020-01-01T01:30:00", "America/New_York", "every_instant"},
        {"P3D", "2020-01-02T02:15:00", "America/New_York", "skip"},
        {"P1W", "2020-01-05T02:00:00", "Australia/Lord_Howe", "every_instant"},
        {"P1M", "2020-01-31T09:00:00", "Europe/Paris", "cronie"},
        {"P5M", "2020-01-30T23:59:59", "Pacific/Apia", "cronie"},
        {"P1Y", "2020-02-29T02:30:00", "Europe/Berlin", "cronie"},
        {"P2Y", "2020-10-25T02:30:00", "Europe/Berlin", "every_instant"},
    };
    std::mt19937_64 random(20240131);
    for (const auto& s : setups) {
        INFO(s.every << " from " << s.first << " in " << s.zone_name << " under " << s.policy);
        const auto step = chime::calendar_step::parse(s.every);
        const auto tz = chime::zone::locate(s.zone_name);
        const auto dst = policy_named(s.policy);
        chime::calendar_interval_trigger trigger(step, wall(s.first), tz, dst);
        const auto fires = enumerate_fires(step, wall(s.first), tz, dst.rule_for({true}), 300);

        const auto low = (fires.front() - std::chrono::hours{72}).time_since_epoch().count();
        const auto high = fires.back().time_since_epoch().count() - 1;
        std::uniform_int_distribution<std::int64_t> pick(low, high);
        for (int i = 0; i < 2000; ++i) {
            const chime::instant t{std::chrono::seconds{pick(random)}};
            const auto expected = *std::upper_bound(fires.begin(), fires.end(), t);
            INFO("after " << chime::format_utc(t));
            REQUIRE(chime::format_utc(trigger.next_after(t).value()) ==
                    chime::format_utc(expected));
        }
        for (std::size_t i = 0; i + 1 < fires.size(); ++i) {
            INFO("after fire " << chime::format_utc(fires[i]));
            REQUIRE(chime::format_utc(trigger.next_after(fires[i]).value()) ==
                    chime::format_utc(fires[i + 1]));
        }
        if (fires.size() < 300) {
            // The enumeration reached the year 2400, where every search ends.
            CHECK_FALSE(trigger.next_after(fires.back()).has_value());
        }
    }
}

TEST_CASE("calendar_step parses one unit only", "[calendar_interval]") {
    CHECK(chime::calendar_step::parse("P3D") ==
          chime::calendar_step{3, chime::calendar_unit::day});
    CHECK(chime::calendar_step::parse("P2W") ==
          chime::calendar_step{2, chime::calendar_unit::week});
    CHECK(chime::calendar_step::parse("P6M") ==
          chime::calendar_step{6, chime::calendar_unit::month});
    CHECK(chime::calendar_step::parse("P1Y") ==
          chime::calendar_step{1, chime::calendar_unit::year});
    CHECK_THROWS_WITH(chime::calendar_step::parse("P1M2D"), Contains("P1M2D"));
    CHECK_THROWS_WITH(chime::calendar_step::parse("PT1H"), Contains("PT1H"));
    CHECK_THROWS_WITH(chime::calendar_step::parse("P0M"), Contains("P0M"));
}

// ---------------------------------------------------------------------------
// combinators

TEST_CASE("any_of fires at the earliest child fire", "[combinators]") {
    chime::any_of twice_daily({chime::cron_trigger("0 9 * * *", chime::zone{}),
                               chime::cron_trigger("0 17 * * *", chime::zone{})});
    CHECK(fires_after(twice_daily, utc("2024-01-01T10:00:00Z"), 3) ==
          strings{"2024-01-01T17:00:00+00:00", "2024-01-02T09:00:00+00:00",
                  "2024-01-02T17:00:00+00:00"});

    // The hourly fires are also half-hourly fires; each instant fires once.
    chime::any_of overlapping({chime::interval_trigger(1h), chime::interval_trigger(30min)});
    CHECK(fires_after(overlapping, utc("2024-01-01T00:00:00Z"), 3) ==
          strings{"2024-01-01T00:30:00+00:00", "2024-01-01T01:00:00+00:00",
                  "2024-01-01T01:30:00+00:00"});
}

TEST_CASE("all_of fires where every child fires", "[combinators]") {
    // 2024-01-01 is a Monday; the next Monday 09:00 after 10:00 that day is 8 January.
    chime::all_of monday_nine({chime::cron_trigger("0 9 * * *", chime::zone{}),
                               chime::cron_trigger("0 * * * 1", chime::zone{})});
    CHECK(fires_after(monday_nine, utc("2024-01-01T10:00:00Z"), 2) ==
          strings{"2024-01-08T09:00:00+00:00", "2024-01-15T09:00:00+00:00"});

    // Multiples of 7 s and of 11 s from the epoch meet every 77 s.
    chime::all_of both({chime::interval_trigger(7s), chime::interval_trigger(11s)});
    CHECK(fires_after(both, utc("1970-01-01T00:00:00Z"), 2) ==
          strings{"1970-01-01T00:01:17+00:00", "1970-01-01T00:02:34+00:00"});
}

TEST_CASE("all_of gives up on disjoint children", "[combinators]") {
    // Even and odd seconds never meet; the search ends after its round limit.
    chime::all_of never({chime::interval_trigger(2s),
                         chime::interval_trigger(2s, {utc("1970-01-01T00:00:01Z"), std::nullopt})});
    CHECK_FALSE(never.next_after(utc("2024-01-01T00:00:00Z")).has_value());
}

TEST_CASE("except drops fires of the unless trigger", "[combinators]") {
    // 2024-01-05 is a Friday: the next weekday 09:00 is Monday 8 January.
    chime::except weekdays(chime::cron_trigger("0 9 * * *", chime::zone{}),
                           chime::cron_trigger("0 9 * * 6,0", chime::zone{}));
    CHECK(fires_after(weekdays, utc("2024-01-05T10:00:00Z"), 2) ==
          strings{"2024-01-08T09:00:00+00:00", "2024-01-09T09:00:00+00:00"});

    chime::except nothing(chime::interval_trigger(1min), chime::interval_trigger(1min));
    CHECK_FALSE(nothing.next_after(utc("2024-01-01T00:00:00Z")).has_value());
}

TEST_CASE("combinators use first child's zone", "[combinators]") {
    chime::any_of mixed({chime::cron_trigger("0 9 * * *", berlin()), chime::interval_trigger(1h)});
    CHECK(mixed.time_zone().name() == "Europe/Berlin");
    chime::any_of wrapped({chime::at_trigger(wall("2024-03-31T02:30:00"), berlin(), cronie)});
    auto fire = wrapped.next_fire_after(utc("2024-01-01T00:00:00Z"));
    REQUIRE(fire.has_value());
    CHECK(fire->note == chime::fire_note::after_jump);
}

TEST_CASE("combinators reject an empty child list", "[combinators]") {
    CHECK_THROWS_AS(chime::any_of(std::vector<chime::any_trigger>{}), chime::invalid_input);
    CHECK_THROWS_AS(chime::all_of(std::vector<chime::any_trigger>{}), chime::invalid_input);
}

// ---------------------------------------------------------------------------
// jitter

TEST_CASE("jitter delays stay below the bound", "[jitter]") {
    // A seed from std::random_device: the bound must hold for any seed.
    chime::jitter hourly(chime::interval_trigger(1h), 5min);
    INFO("seed " << hourly.seed());
    auto from = utc("2024-01-01T00:00:00Z");
    auto hour = from;
    for (int i = 0; i < 200; ++i) {
        auto next = hourly.next_after(from);
        REQUIRE(next.has_value());
        CHECK(*next >= hour);
        CHECK(*next < hour + 5min);
        from = *next;
        hour += 1h;
    }
}

TEST_CASE("jitter random delays follow the seed", "[jitter]") {
    // splitmix64(42 ^ splitmix64(s)) % 300 for the inner fires s = 1704067200,
    // 1704070800, 1704074400 is 50, 196 and 283, computed with a separate
    // Python version of splitmix64.
    chime::jitter hourly(chime::interval_trigger(1h), 5min, chime::random_delay{42});
    CHECK(fires_after(hourly, utc("2023-12-31T23:59:59Z"), 3) ==
          strings{"2024-01-01T00:00:50+00:00", "2024-01-01T01:03:16+00:00",
                  "2024-01-01T02:04:43+00:00"});

    chime::jitter same(chime::interval_trigger(1h), 5min, chime::random_delay{42});
    chime::jitter other(chime::interval_trigger(1h), 5min, chime::random_delay{43});
    const auto from = utc("2024-01-01T00:00:00Z");
    CHECK(fires_after(same, from, 24) == fires_after(hourly, from, 24));
    CHECK(fires_after(other, from, 24) != fires_after(hourly, from, 24));
}

TEST_CASE("jitter stable delay is constant", "[jitter]") {
    // splitmix64(fnv1a64("backup-job")) % 300 is 56, computed in Python.
    chime::jitter hourly(chime::interval_trigger(1h), 5min, chime::stable_delay{"backup-job"});
    CHECK(hourly.delay_for(utc("2024-01-01T00:00:00Z")) == 56s);
    // The inner fire at 00:00:00 is not after the requested instant, but its
    // delayed time 00:00:56 is, so it is not lost.
    CHECK(fires_after(hourly, utc("2024-01-01T00:00:00Z"), 3) ==
          strings{"2024-01-01T00:00:56+00:00", "2024-01-01T01:00:56+00:00",
                  "2024-01-01T02:00:56+00:00"});
    CHECK(hourly.next_after(utc("2024-01-01T00:00:55Z")) == utc("2024-01-01T00:00:56Z"));
}

TEST_CASE("jitter hashes match published values", "[jitter]") {
    // FNV-1a 64 of "a" from the FNV reference test vectors, and the first
    // output of the splitmix64 reference generator seeded with 0.
    STATIC_REQUIRE(chime::detail::fnv1a64("a") == 0xaf63dc4c8601ec8c);
    STATIC_REQUIRE(chime::detail::splitmix64(0) == 0xe220a8397b1dcdaf);
}

TEST_CASE("jitter wider than period keeps order", "[jitter]") {
    // Fires one minute apart, delayed by up to ten minutes: the delayed
    // times interleave. Every delayed time in the range must come out once
    // and in order, matching the brute-force set built from delay_for.
    chime::interval_trigger every_minute(1min);
    chime::jitter shuffled(every_minute, 10min, chime::random_delay{7});
    const auto begin = utc("2024-01-01T01:00:00Z");
    const auto end = utc("2024-01-01T04:00:00Z");

    std::set<chime::instant> delayed_times;
    for (auto f = begin - 10min; f <= end; f += 1min) {
        auto delayed = f + shuffled.delay_for(f);
        if (delayed > begin && delayed <= end) {
            delayed_times.insert(delayed);
        }
    }
    strings expected;
    for (auto t : delayed_times) {
        expected.push_back(chime::format_utc(t));
    }
    strings seen;
    for (auto next = shuffled.next_after(begin); next && *next <= end;
         next = shuffled.next_after(*next)) {
        seen.push_back(chime::format_utc(*next));
    }
    CHECK(seen == expected);
    CHECK(seen.size() > 150);
}

TEST_CASE("jitter rejects a bound that is not positive", "[jitter]") {
    CHECK_THROWS_AS(chime::jitter(chime::interval_trigger(1h), 0s), chime::invalid_input);
}

// ---------------------------------------------------------------------------
// JSON

namespace {

template <class T>
void check_round_trip(const char* text) {
    INFO(text);
    auto first = chime::trigger_from_json(json::parse(text));
    const T* typed = first.template target<T>();
    REQUIRE(typed != nullptr);
    auto again = chime::trigger_from_json(typed->to_json());
    const T* typed_again = again.template target<T>();
    REQUIRE(typed_again != nullptr);
    CHECK(*typed == *typed_again);
    CHECK(typed->to_json() == typed_again->to_json());
}

template <class T>
void check_round_trip_with_children(const char* text) {
    INFO(text);
    auto first = chime::trigger_from_json(json::parse(text));
    const T* typed = first.template target<T>();
    REQUIRE(typed != nullptr);
    auto again = T::from_json(typed->to_json(), chime::trigger_from_json);
    CHECK(*typed == again);
    CHECK(typed->to_json() == again.to_json());
}

} // namespace

TEST_CASE("every trigger JSON form round-trips", "[json]") {
    check_round_trip<chime::interval_trigger>(
        R"({"kind":"interval","every":"PT30S","start":"2026-03-08T01:59:00-08:00",
            "end":"2026-03-09T00:00:00Z","tz":"America/Los_Angeles"})");
    check_round_trip<chime::interval_trigger>(R"({"kind":"interval","every":"P1W"})");

    check_round_trip<chime::at_trigger>(
        R"({"kind":"at","at":"2025-03-30T03:00:00+02:00","tz":"Europe/Berlin"})");
    check_round_trip<chime::at_trigger>(R"({"kind":"at","at":"2025-03-30T01:00:00Z"})");
    check_round_trip<chime::at_trigger>(
        R"({"kind":"at","at":"2015-03-08T02:30:00","tz":"America/New_York","dst":"skip",
            "start":"2015-01-01T00:00:00Z"})");

    check_round_trip<chime::calendar_interval_trigger>(
        R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
            "tz":"Europe/Paris","dst":"every_instant","end":"2030-01-01T00:00:00Z"})");
    check_round_trip<chime::calendar_interval_trigger>(
        R"({"kind":"calendar_interval","every":"P2W","start":"2024-01-01T08:00:00","tz":"UTC"})");

    check_round_trip_with_children<chime::any_of>(
        R"({"kind":"any_of","of":[{"kind":"cron","expr":"0 9 * * *","tz":"UTC"},
            {"kind":"interval","every":"PT1H"}],"end":"2030-01-01T00:00:00Z"})");
    check_round_trip_with_children<chime::all_of>(
        R"({"kind":"all_of","of":[{"kind":"cron","expr":"0 9 * * *","tz":"UTC"},
            {"kind":"cron","expr":"0 * * * 1","tz":"UTC"}]})");
    check_round_trip_with_children<chime::except>(
        R"({"kind":"except","trigger":{"kind":"cron","expr":"0 9 * * *","tz":"UTC"},
            "unless":{"kind":"cron","expr":"0 9 * * 6,0","tz":"UTC"},
            "start":"2024-01-01T00:00:00Z"})");

    check_round_trip_with_children<chime::jitter>(
        R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
            "mode":"stable","key":"backup-job"})");
    check_round_trip_with_children<chime::jitter>(
        R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
            "seed":"2a"})");
    check_round_trip_with_children<chime::jitter>(
        R"({"kind":"jitter","trigger":{"kind":"any_of","of":[{"kind":"interval","every":"PT1H"}]},
            "max":"PT5M","mode":"random"})");
}

TEST_CASE("jitter seed survives JSON round trip", "[json][jitter]") {
    auto first = chime::trigger_from_json(json::parse(
        R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT30M"})"));
    auto again = chime::trigger_from_json(first.to_json());
    const auto from = utc("2024-01-01T00:00:00Z");
    CHECK(fires_after(again, from, 24) == fires_after(first, from, 24));
    CHECK(first.to_json()["seed"].get<std::string>().size() == 16);
}

TEST_CASE("trigger JSON errors name the value", "[json]") {
    struct error_case {
        const char* text;
        const char* expected;
    };
    const std::vector<error_case> cases = {
        {R"({"kind":"sometimes"})",
         "unknown kind \"sometimes\"; expected one of cron, interval, at, calendar_interval, "
         "any_of, all_of, except, jitter"},

        {R"({"kind":"interval","every":"PT1M","evry":"PT2M"})", "unknown key \"evry\""},
        {R"({"kind":"interval","every":30})", "\"every\" must be a string, got 30"},
        {R"({"kind":"interval"})", "\"every\" is missing"},
        {R"({"kind":"interval","every":"PT1X"})", "PT1X"},
        {R"({"kind":"interval","every":"PT0S"})", "\"every\" is \"PT0S\""},
        {R"({"kind":"interval","every":"P1M"})", "P1M"},
        {R"({"kind":"interval","every":"PT1M","tz":"Mars/Olympus"})", "Mars/Olympus"},
        {R"({"kind":"interval","every":"PT1M","start":"2024-02-01T00:00:00Z",
             "end":"2024-01-01T00:00:00Z"})",
         "\"end\" 2024-01-01T00:00:00Z is before \"start\" 2024-02-01T00:00:00Z"},
        {R"({"kind":"interval","every":"PT1M","start":"2024-01-01T00:00:00"})",
         "2024-01-01T00:00:00"},

        {R"({"kind":"at"})", "\"at\" is missing"},
        {R"({"kind":"at","at":5})", "\"at\" must be a string, got 5"},
        {R"({"kind":"at","at":"2015-02-30T02:30:00","tz":"UTC"})", "2015-02-30T02:30:00"},
        {R"({"kind":"at","at":"2015-03-08T02:30:00","tz":"Mars/Olympus"})", "Mars/Olympus"},
        {R"({"kind":"at","at":"2015-03-08T02:30:00","tz":"UTC","dst":"sometimes"})",
         "unknown policy \"sometimes\""},
        {R"({"kind":"at","at":"2015-03-08T02:30:00Z","dst":"cronie"})",
         "\"dst\" is \"cronie\" but \"at\" \"2015-03-08T02:30:00Z\" is an exact instant"},
        {R"({"kind":"at","at":"2015-03-08T02:30:00Z","when":"now"})", "unknown key \"when\""},
        {R"({"kind":"at","at":"2400-03-08T02:30:00Z"})", "2400-03-08T02:30:00Z"},
        {R"({"kind":"at","at":"2015-03-08T02:30:00Z","start":"2015-04-01T00:00:00Z",
             "end":"2015-03-01T00:00:00Z"})",
         "\"end\" 2015-03-01T00:00:00Z is before \"start\" 2015-04-01T00:00:00Z"},

        {R"({"kind":"calendar_interval","every":"PT1H","start":"2024-01-31T09:00:00"})",
         "\"PT1H\""},
        {R"({"kind":"calendar_interval","every":"P1M2D","start":"2024-01-31T09:00:00"})",
         "\"P1M2D\""},
        {R"({"kind":"calendar_interval","every":"P0D","start":"2024-01-31T09:00:00"})",
         "\"P0D\""},
        {R"({"kind":"calendar_interval","every":"P1M"})", "\"start\" is missing"},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00+01:00"})",
         "\"start\" \"2024-01-31T09:00:00+01:00\" has a UTC offset"},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
             "tz":"Mars/Olympus"})",
         "Mars/Olympus"},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
             "tz":"UTC","dst":"sometimes"})",
         "\"sometimes\""},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
             "tz":"UTC","end":"2024-01-01T00:00:00Z"})",
         "\"end\" 2024-01-01T00:00:00Z is before \"start\" 2024-01-31T09:00:00"},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
             "tz":"UTC","end":"tomorrow"})",
         "\"tomorrow\""},
        {R"({"kind":"calendar_interval","every":["P1M"],"start":"2024-01-31T09:00:00"})",
         "\"every\" must be a string, got an array of 1 element"},
        {R"({"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
             "timezone":"UTC"})",
         "unknown key \"timezone\""},

        {R"({"kind":"any_of","of":[]})", "\"of\" is empty"},
        {R"({"kind":"any_of"})", "\"of\" is missing"},
        {R"({"kind":"all_of","of":[]})", "\"of\" is empty"},
        {R"({"kind":"all_of","of":{"kind":"interval","every":"PT1M"}})",
         "\"of\" must be an array of triggers"},
        {R"({"kind":"any_of","of":[{"kind":"interval","every":"PT0S"}]})", "\"PT0S\""},
        {R"({"kind":"any_of","of":[{"kind":"interval","every":"PT1M"}],"off":[]})",
         "unknown key \"off\""},
        {R"({"kind":"except","trigger":{"kind":"interval","every":"PT1M"}})",
         "\"unless\" is missing"},
        {R"({"kind":"except","trigger":"hourly","unless":{"kind":"interval","every":"PT1M"}})",
         "\"trigger\" must be a trigger object, got \"hourly\""},

        {R"({"kind":"jitter","max":"PT5M"})", "\"trigger\" is missing"},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT0S"})",
         "\"max\" is \"PT0S\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"5 minutes"})",
         "\"5 minutes\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "mode":"sometimes"})",
         "\"mode\" is \"sometimes\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "seed":"xyz"})",
         "\"seed\" is \"xyz\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "seed":"12345678901234567"})",
         "\"seed\" is \"12345678901234567\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "mode":"stable"})",
         "\"key\" is missing"},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "mode":"stable","key":"job","seed":"2a"})",
         "\"seed\" applies only to \"mode\" \"random\""},
        {R"({"kind":"jitter","trigger":{"kind":"interval","every":"PT1H"},"max":"PT5M",
             "key":"job"})",
         "\"key\" applies only to \"mode\" \"stable\""},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        auto j = json::parse(c.text);
        CHECK_THROWS_AS(chime::trigger_from_json(j), chime::invalid_input);
        CHECK_THROWS_WITH(chime::trigger_from_json(j), Contains(c.expected));
    }
}

TEST_CASE("trigger JSON nesting is bounded", "[json][combinators]") {
    auto nested = [](int depth) {
        json j = {{"kind", "interval"}, {"every", "PT1M"}};
        for (int i = 0; i < depth; ++i) {
            j = json{{"kind", "any_of"}, {"of", json::array({j})}};
        }
        return j;
    };
    CHECK(chime::trigger_from_json(nested(chime::max_trigger_nesting)).kind() == "any_of");
    CHECK_THROWS_WITH(chime::trigger_from_json(nested(chime::max_trigger_nesting + 1)),
                      Contains("nested more than 32 deep"));
}

TEST_CASE("deeply nested JSON value in an error", "[json]") {
    // Serialising the value for the message would recurse once per level.
    nlohmann::json deep = nlohmann::json::array();
    for (int i = 0; i < 100000; ++i) {
        deep = nlohmann::json::array({std::move(deep)});
    }
    nlohmann::json j = {{"kind", "cron"}, {"expr", std::move(deep)}};
    CHECK_THROWS_WITH(chime::trigger_from_json(j),
                      Catch::Matchers::Contains("\"expr\" must be a string, got an array of 1 element"));
}

TEST_CASE("control characters in messages are escaped", "[json]") {
    nlohmann::json j = {{"kind", "cron"}, {"expr", "0 * * * *"}, {"tz", std::string("UTC\0x", 5)}};
    CHECK_THROWS_WITH(chime::trigger_from_json(j), Catch::Matchers::Contains("\"UTC\\x00x\""));
}

TEST_CASE("jitter max above 31 days is rejected", "[jitter]") {
    nlohmann::json j = {{"kind", "jitter"},
                        {"trigger", {{"kind", "interval"}, {"every", "PT1S"}}},
                        {"max", "P32D"}};
    CHECK_THROWS_WITH(chime::trigger_from_json(j), Catch::Matchers::Contains("P31D"));
}

TEST_CASE("reboot inside combinators", "[combinators]") {
    auto reboot = nlohmann::json{{"kind", "cron"}, {"expr", "@reboot"}};
    auto hourly = nlohmann::json{{"kind", "cron"}, {"expr", "0 * * * *"}, {"tz", "UTC"}};
    auto either = chime::trigger_from_json({{"kind", "any_of"}, {"of", {reboot, hourly}}});
    CHECK(either.fires_at_start());
    CHECK(either.next_after(chime::parse_instant("2026-01-01T00:30:00Z")) ==
          chime::parse_instant("2026-01-01T01:00:00Z"));
    CHECK_THROWS_WITH(chime::trigger_from_json({{"kind", "all_of"}, {"of", {reboot, hourly}}}),
                      Catch::Matchers::Contains("@reboot has no clock time"));
    CHECK_THROWS_WITH(
        chime::trigger_from_json({{"kind", "except"}, {"trigger", hourly}, {"unless", reboot}}),
        Catch::Matchers::Contains("@reboot has no clock time"));
    CHECK_THROWS_WITH(
        chime::trigger_from_json({{"kind", "jitter"}, {"trigger", reboot}, {"max", "PT5M"}}),
        Catch::Matchers::Contains("@reboot has no clock time"));
}
