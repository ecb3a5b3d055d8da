// Tests of chime::zone: lookup errors, offsets of zones with unusual rules,
// resolve() on unique, skipped and repeated local times, and the extension of
// every zone past 2037 with its TZif footer rule. A sweep compares every zone
// of the system tz database with date::time_zone, which is correct before 2037.
#include <chime/zone.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace date::literals;
using chime::instant;

constexpr instant utc(date::year_month_day day, std::chrono::seconds time_of_day = 0s) {
    return instant{date::sys_days{day}} + time_of_day;
}

constexpr date::local_seconds local(date::year_month_day day, std::chrono::seconds time_of_day) {
    return date::local_days{day} + time_of_day;
}

std::chrono::seconds offset(const char* zone_name, instant t) {
    return chime::zone::locate(zone_name).offset_at(t);
}

// Restores an environment variable when a test that changed it ends.
class environment_variable {
public:
    explicit environment_variable(const char* name) : name_(name) {
        if (const char* value = std::getenv(name)) {
            saved_ = value;
        }
    }
    environment_variable(const environment_variable&) = delete;
    environment_variable& operator=(const environment_variable&) = delete;
    ~environment_variable() {
        if (saved_) {
            ::setenv(name_, saved_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    void set(const char* value) { ::setenv(name_, value, 1); }

private:
    const char* name_;
    std::optional<std::string> saved_;
};

} // namespace

TEST_CASE("unknown zone name is rejected with its name", "[zone]") {
    CHECK_THROWS_AS(chime::zone::locate("Mars/Olympus"), chime::zone_error);
    CHECK_THROWS_WITH(chime::zone::locate("Mars/Olympus"),
                      Catch::Matchers::Contains("\"Mars/Olympus\"") &&
                          Catch::Matchers::Contains("not found"));
    try {
        chime::zone::locate("Mars/Olympus");
        FAIL("no exception");
    } catch (const chime::zone_error& e) {
        CHECK(e.zone_name() == "Mars/Olympus");
    }
}

TEST_CASE("offset written as a zone name gets a hint", "[zone]") {
    for (const char* name : {"UTC+2", "GMT-5", "+02:00", "-0300"}) {
        INFO(name);
        CHECK_THROWS_WITH(chime::zone::locate(name),
                          Catch::Matchers::Contains("Etc/GMT-2 for UTC+02:00"));
    }
    CHECK_THROWS_WITH(chime::zone::locate("Mars/Olympus"), !Catch::Matchers::Contains("Etc/GMT"));
}

TEST_CASE("empty zone name is rejected", "[zone]") {
    CHECK_THROWS_AS(chime::zone::locate(""), chime::zone_error);
}

TEST_CASE("zone errors are invalid input", "[zone]") {
    CHECK_THROWS_AS(chime::zone::locate("Europe/Nowhere"), chime::invalid_input);
    CHECK_THROWS_AS(chime::zone::locate("Europe/Nowhere"), chime::error);
}

TEST_CASE("zone names cannot leave the tz database", "[zone]") {
    CHECK_THROWS_AS(chime::zone::locate("../../../etc/passwd"), chime::zone_error);
    CHECK_THROWS_AS(chime::zone::locate("/etc/localtime"), chime::zone_error);
    CHECK_THROWS_AS(chime::zone::locate("europe/berlin"), chime::zone_error);
}

TEST_CASE("UTC and Etc/UTC have offset zero", "[zone]") {
    auto plain = chime::zone::locate("UTC");
    auto etc = chime::zone::locate("Etc/UTC");
    CHECK(plain.name() == "UTC");
    CHECK(etc.name() == "Etc/UTC");
    CHECK(plain.is_fixed());
    CHECK(etc.is_fixed());
    for (auto t : {utc(1970_y / 1 / 1), utc(2025_y / 7 / 1), utc(2399_y / 12 / 31)}) {
        CHECK(plain.offset_at(t) == 0s);
        CHECK(etc.offset_at(t) == 0s);
    }
    CHECK(chime::zone().name() == "UTC");
    CHECK(chime::zone() == plain);
}

TEST_CASE("Etc/GMT+5 is five hours west of UTC", "[zone]") {
    // POSIX style names invert the sign: Etc/GMT+5 is UTC-05:00.
    auto tz = chime::zone::locate("Etc/GMT+5");
    CHECK(tz.is_fixed());
    CHECK(tz.offset_at(utc(2025_y / 1 / 1)) == -5h);
}

TEST_CASE("zone keeps the name it was located by", "[zone]") {
    CHECK(chime::zone::locate("US/Eastern").name() == "US/Eastern");
    CHECK(chime::zone::locate("US/Eastern").offset_at(utc(2025_y / 7 / 1)) == -4h);
}

TEST_CASE("zones compare by name", "[zone]") {
    CHECK(chime::zone::locate("Europe/Berlin") == chime::zone::locate("Europe/Berlin"));
    CHECK_FALSE(chime::zone::locate("Europe/Berlin") == chime::zone::locate("Europe/Paris"));
}

TEST_CASE("Berlin switches at 01:00 UTC on the last Sundays", "[zone]") {
    CHECK(offset("Europe/Berlin", utc(2025_y / 1 / 15)) == 1h);
    CHECK(offset("Europe/Berlin", utc(2025_y / 7 / 15)) == 2h);
    CHECK(offset("Europe/Berlin", utc(2025_y / 3 / 30, 1h) - 1s) == 1h);
    CHECK(offset("Europe/Berlin", utc(2025_y / 3 / 30, 1h)) == 2h);
    CHECK(offset("Europe/Berlin", utc(2025_y / 10 / 26, 1h) - 1s) == 2h);
    CHECK(offset("Europe/Berlin", utc(2025_y / 10 / 26, 1h)) == 1h);
}

TEST_CASE("New York switches at 02:00 local time", "[zone]") {
    CHECK(offset("America/New_York", utc(2025_y / 1 / 15)) == -5h);
    CHECK(offset("America/New_York", utc(2025_y / 7 / 15)) == -4h);
    CHECK(offset("America/New_York", utc(2025_y / 3 / 9, 7h) - 1s) == -5h);
    CHECK(offset("America/New_York", utc(2025_y / 3 / 9, 7h)) == -4h);
    CHECK(offset("America/New_York", utc(2025_y / 11 / 2, 6h) - 1s) == -4h);
    CHECK(offset("America/New_York", utc(2025_y / 11 / 2, 6h)) == -5h);
}

TEST_CASE("Lord Howe shifts by thirty minutes", "[zone]") {
    // +10:30 in winter and +11:00 in summer. Clocks jump forward at 02:00
    // local on the first Sunday of October and back at 02:00 summer time on
    // the first Sunday of April.
    CHECK(offset("Australia/Lord_Howe", utc(2025_y / 7 / 1)) == 10h + 30min);
    CHECK(offset("Australia/Lord_Howe", utc(2025_y / 1 / 1)) == 11h);
    auto spring = utc(2025_y / 10 / 4, 15h + 30min);
    CHECK(offset("Australia/Lord_Howe", spring - 1s) == 10h + 30min);
    CHECK(offset("Australia/Lord_Howe", spring) == 11h);
    auto autumn = utc(2026_y / 4 / 4, 15h);
    CHECK(offset("Australia/Lord_Howe", autumn - 1s) == 11h);
    CHECK(offset("Australia/Lord_Howe", autumn) == 10h + 30min);
}

TEST_CASE("Kolkata is five and a half hours east all year", "[zone]") {
    CHECK(offset("Asia/Kolkata", utc(1990_y / 1 / 1)) == 5h + 30min);
    CHECK(offset("Asia/Kolkata", utc(2025_y / 7 / 1)) == 5h + 30min);
    CHECK(offset("Asia/Kolkata", utc(2300_y / 7 / 1)) == 5h + 30min);
}

TEST_CASE("Sao Paulo had summer time until 2019", "[zone]") {
    CHECK(offset("America/Sao_Paulo", utc(2018_y / 1 / 15)) == -2h);
    CHECK(offset("America/Sao_Paulo", utc(2018_y / 7 / 15)) == -3h);
    // The jump forward of 4 November 2018 was at local midnight.
    CHECK(offset("America/Sao_Paulo", utc(2018_y / 11 / 4, 3h) - 1s) == -3h);
    CHECK(offset("America/Sao_Paulo", utc(2018_y / 11 / 4, 3h)) == -2h);
    CHECK(offset("America/Sao_Paulo", utc(2020_y / 1 / 15)) == -3h);
    CHECK(offset("America/Sao_Paulo", utc(2045_y / 1 / 15)) == -3h);
}

TEST_CASE("summer time continues after 2037", "[zone]") {
    // date 3.0.1 ignores the rule in the TZif footer, so these offsets come
    // from chime's own reading of it.
    CHECK(offset("Europe/Berlin", utc(2040_y / 7 / 1)) == 2h);
    CHECK(offset("Europe/Berlin", utc(2040_y / 1 / 1)) == 1h);
    CHECK(offset("America/New_York", utc(2050_y / 7 / 1)) == -4h);
    CHECK(offset("America/New_York", utc(2050_y / 1 / 1)) == -5h);
    CHECK(offset("Australia/Sydney", utc(2045_y / 1 / 1)) == 11h);
    CHECK(offset("Australia/Sydney", utc(2045_y / 7 / 1)) == 10h);
    CHECK(offset("Australia/Lord_Howe", utc(2060_y / 1 / 1)) == 11h);
    CHECK(offset("Australia/Lord_Howe", utc(2060_y / 7 / 1)) == 10h + 30min);
    CHECK(offset("Pacific/Chatham", utc(2060_y / 1 / 1)) == 13h + 45min);
    CHECK(offset("Pacific/Chatham", utc(2060_y / 7 / 1)) == 12h + 45min);
    CHECK(offset("Australia/Sydney", utc(2399_y / 12 / 31)) == 11h);
}

TEST_CASE("negative summer time of Dublin continues after 2037", "[zone]") {
    // Irish Standard Time (+01:00) is the standard time in the footer and GMT
    // the winter "daylight" time. 25 March 2040 is the last Sunday of March.
    CHECK(offset("Europe/Dublin", utc(2040_y / 7 / 1)) == 1h);
    CHECK(offset("Europe/Dublin", utc(2040_y / 1 / 15)) == 0h);
    auto spring = utc(2040_y / 3 / 25, 1h);
    CHECK(offset("Europe/Dublin", spring - 1s) == 0h);
    CHECK(offset("Europe/Dublin", spring) == 1h);
}

namespace {

instant nth_weekday_utc(date::year y, date::month m, date::weekday_indexed wd,
                        std::chrono::seconds at) {
    return instant{date::sys_days{y / m / wd}} + at;
}

instant last_weekday_utc(date::year y, date::month m, date::weekday wd, std::chrono::seconds at) {
    return instant{date::sys_days{y / m / wd[date::last]}} + at;
}

void check_switch(const char* zone_name, instant at, std::chrono::seconds before,
                  std::chrono::seconds after) {
    INFO(zone_name << " at " << date::format("%F %T", at));
    CHECK(offset(zone_name, at - 1s) == before);
    CHECK(offset(zone_name, at) == after);
}

} // namespace

TEST_CASE("footer rules give exact transitions far ahead", "[zone]") {
    using date::Sunday;
    using date::Saturday;
    using date::Friday;
    using date::Thursday;
    for (int y : {2038, 2041, 2100, 2250, 2399}) {
        auto year = date::year{y};
        INFO("year " << y);
        // European Union: 01:00 UTC on the last Sundays of March and October.
        check_switch("Europe/Berlin", last_weekday_utc(year, date::March, Sunday, 1h), 1h, 2h);
        check_switch("Europe/Berlin", last_weekday_utc(year, date::October, Sunday, 1h), 2h, 1h);
        // United States: 02:00 local on the second Sunday of March and the
        // first Sunday of November.
        check_switch("America/New_York", nth_weekday_utc(year, date::March, Sunday[2], 7h), -5h,
                     -4h);
        check_switch("America/New_York", nth_weekday_utc(year, date::November, Sunday[1], 6h), -4h,
                     -5h);
        // Nuuk (<-02>2<-01>,M3.5.0/-1,M10.5.0/0): a rule time of -1 hour is
        // 23:00 on the Saturday before the last Sunday of March.
        check_switch("America/Nuuk", last_weekday_utc(year, date::March, Sunday, 1h), -2h, -1h);
        check_switch("America/Nuuk", last_weekday_utc(year, date::October, Sunday, 1h), -1h, -2h);
        // Santiago (M9.1.6/24,M4.1.6/24): 24:00 on the first Saturday.
        check_switch("America/Santiago",
                     nth_weekday_utc(year, date::September, Saturday[1], 24h + 4h), -4h, -3h);
        check_switch("America/Santiago",
                     nth_weekday_utc(year, date::April, Saturday[1], 24h + 3h), -3h, -4h);
        // Cairo (M4.5.5/0,M10.5.4/24): 00:00 on the last Friday of April and
        // 24:00 summer time on the last Thursday of October.
        check_switch("Africa/Cairo", last_weekday_utc(year, date::April, Friday, -2h), 2h, 3h);
        check_switch("Africa/Cairo", last_weekday_utc(year, date::October, Thursday, 24h - 3h), 3h,
                     2h);
        // Chatham (M9.5.0/2:45,M4.1.0/3:45): 02:45 standard time, +12:45.
        check_switch("Pacific/Chatham",
                     last_weekday_utc(year, date::September, Sunday, 2h + 45min - 12h - 45min),
                     12h + 45min, 13h + 45min);
        check_switch("Pacific/Chatham",
                     nth_weekday_utc(year, date::April, Sunday[1], 3h + 45min - 13h - 45min),
                     13h + 45min, 12h + 45min);
    }
}

TEST_CASE("zones repeat their 2024-2035 offsets 28 years later", "[zone]") {
    // The Gregorian calendar repeats every 28 years between 1901 and 2099, so
    // a zone whose rules have not changed since 2024 must show the same
    // offset at t and at t - 28 years. date is the reference before 2037.
    const std::vector<const char*> stable = {
        "Europe/Berlin",      "Europe/London",    "Europe/Dublin",    "Europe/Helsinki",
        "America/New_York",   "America/Chicago",  "America/Denver",   "America/Los_Angeles",
        "America/St_Johns",   "America/Havana",   "America/Santiago", "America/Nuuk",
        "Australia/Sydney",   "Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Auckland",
        "Pacific/Chatham",    "Asia/Jerusalem",   "Africa/Cairo",     "Antarctica/Troll",
        "America/Sao_Paulo",  "Asia/Tehran",      "Asia/Kolkata"};
    const auto cycle = date::days{10227}; // 28 years of 365.25 days
    for (const char* name : stable) {
        auto tz = chime::zone::locate(name);
        const date::time_zone* reference = date::locate_zone(name);
        int mismatches = 0;
        for (instant t = utc(2052_y / 1 / 1); t < utc(2064_y / 1 / 1); t += 5h + 17min) {
            if (tz.offset_at(t) != reference->get_info(t - cycle).offset) {
                ++mismatches;
            }
        }
        INFO(name);
        CHECK(mismatches == 0);
    }
}

TEST_CASE("every zone matches date before 2037", "[zone][sweep]") {
    // date 3.0.1 reads the same TZif files and is exact up to 2037. Each
    // zone is checked at both sides of every transition and at random instants.
    const auto& zones = date::get_tzdb().zones;
    REQUIRE(zones.size() > 300);
    std::mt19937_64 rng(1970);
    const instant first = utc(1970_y / 1 / 1);
    const instant last = utc(2037_y / 1 / 1);
    std::uniform_int_distribution<long long> any(0, (last - first).count() - 1);
    int checked_zones = 0;
    for (const auto& reference : zones) {
        auto tz = chime::zone::locate(reference.name());
        int mismatches = 0;
        std::string first_mismatch;
        auto compare = [&](instant t) {
            auto expected = reference.get_info(t).offset;
            if (tz.offset_at(t) != expected) {
                if (mismatches++ == 0) {
                    first_mismatch = date::format("%F %T", t);
                }
            }
        };
        for (instant t = first; t < last;) {
            auto info = reference.get_info(t);
            compare(t);
            if (info.end > first) {
                compare(info.end - 1s);
            }
            if (info.end >= last) {
                break;
            }
            t = info.end;
        }
        for (int i = 0; i < 2000; ++i) {
            compare(first + std::chrono::seconds{any(rng)});
        }
        INFO(reference.name() << ", first mismatch at " << first_mismatch);
        CHECK(mismatches == 0);
        ++checked_zones;
    }
    CHECK(checked_zones == static_cast<int>(zones.size()));
}

TEST_CASE("segment and span agree with offset_at", "[zone]") {
    auto tz = chime::zone::locate("Europe/Berlin");
    auto t = utc(2025_y / 6 / 1);
    auto segment = tz.segment_at(t);
    CHECK(segment.begin == utc(2025_y / 3 / 30, 1h));
    CHECK(segment.end == utc(2025_y / 10 / 26, 1h));
    CHECK(segment.offset == 2h);
    auto span = tz.span_at(t);
    CHECK(span.begin == segment.begin);
    CHECK(span.end == segment.end);
    CHECK(span.offset == 2h);
    CHECK(span.previous_offset == 1h);
    CHECK(span.next_offset == 1h);
    CHECK(tz.to_local(t) == local(2025_y / 6 / 1, 2h));
}

TEST_CASE("span of a fixed zone is open at both ends", "[zone]") {
    auto span = chime::zone::locate("Etc/GMT-3").span_at(utc(2025_y / 1 / 1));
    CHECK(span.begin == instant::min());
    CHECK(span.end == instant::max());
    CHECK(span.offset == 3h);
    CHECK(span.previous_offset == 3h);
    CHECK(span.next_offset == 3h);
}

TEST_CASE("resolve maps an ordinary local time to one instant", "[zone]") {
    auto r = chime::zone::locate("Europe/Berlin").resolve(local(2025_y / 6 / 1, 12h));
    CHECK(r.kind == chime::local_kind::unique);
    CHECK(r.first == utc(2025_y / 6 / 1, 10h));
    CHECK(r.second == r.first);
}

TEST_CASE("resolve maps a skipped local time to the end of the jump", "[zone]") {
    auto berlin = chime::zone::locate("Europe/Berlin").resolve(local(2025_y / 3 / 30, 2h + 30min));
    CHECK(berlin.kind == chime::local_kind::nonexistent);
    CHECK(berlin.first == utc(2025_y / 3 / 30, 1h));

    auto lord_howe =
        chime::zone::locate("Australia/Lord_Howe").resolve(local(2025_y / 10 / 5, 2h + 15min));
    CHECK(lord_howe.kind == chime::local_kind::nonexistent);
    CHECK(lord_howe.first == utc(2025_y / 10 / 4, 15h + 30min));

    auto gap_start = chime::zone::locate("Europe/Berlin").resolve(local(2025_y / 3 / 30, 2h));
    CHECK(gap_start.kind == chime::local_kind::nonexistent);
    auto gap_end = chime::zone::locate("Europe/Berlin").resolve(local(2025_y / 3 / 30, 3h));
    CHECK(gap_end.kind == chime::local_kind::unique);
    CHECK(gap_end.first == utc(2025_y / 3 / 30, 1h));
}

TEST_CASE("resolve maps a repeated local time to both instants", "[zone]") {
    auto berlin = chime::zone::locate("Europe/Berlin").resolve(local(2025_y / 10 / 26, 2h + 30min));
    CHECK(berlin.kind == chime::local_kind::ambiguous);
    CHECK(berlin.first == utc(2025_y / 10 / 26, 30min));
    CHECK(berlin.second == utc(2025_y / 10 / 26, 1h + 30min));

    auto lord_howe =
        chime::zone::locate("Australia/Lord_Howe").resolve(local(2026_y / 4 / 5, 1h + 45min));
    CHECK(lord_howe.kind == chime::local_kind::ambiguous);
    CHECK(lord_howe.first == utc(2026_y / 4 / 4, 14h + 45min));
    CHECK(lord_howe.second == utc(2026_y / 4 / 4, 15h + 15min));
}

TEST_CASE("resolve uses the footer rule far ahead", "[zone]") {
    auto berlin = chime::zone::locate("Europe/Berlin");
    auto spring = date::local_days{2300_y / date::March / date::Sunday[date::last]};
    auto gap = berlin.resolve(spring + 2h + 30min);
    CHECK(gap.kind == chime::local_kind::nonexistent);
    CHECK(gap.first == instant{date::sys_days{2300_y / date::March / date::Sunday[date::last]}} + 1h);

    auto autumn = date::local_days{2300_y / date::October / date::Sunday[date::last]};
    auto repeated = berlin.resolve(autumn + 2h + 30min);
    CHECK(repeated.kind == chime::local_kind::ambiguous);
    CHECK(repeated.second - repeated.first == 1h);
}

TEST_CASE("resolve agrees with date around every transition", "[zone]") {
    for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                             "America/Sao_Paulo", "Asia/Tehran", "Pacific/Chatham",
                             "Europe/Dublin", "America/Havana", "Asia/Kolkata"}) {
        auto tz = chime::zone::locate(name);
        const date::time_zone* reference = date::locate_zone(name);
        int mismatches = 0;
        std::string first_mismatch;
        for (instant t = utc(1970_y / 1 / 1); t < utc(2037_y / 1 / 1);) {
            auto info = reference->get_info(t);
            if (info.end >= utc(2037_y / 1 / 1)) {
                break;
            }
            auto after = reference->get_info(info.end);
            // Local times from 2 hours before the transition (read with the
            // old offset) to 2 hours after it (read with the new one).
            date::local_seconds begin{info.end.time_since_epoch() + info.offset - 2h};
            date::local_seconds end{info.end.time_since_epoch() + after.offset + 2h};
            for (auto l = begin; l <= end; l += 5min) {
                auto expected = reference->get_info(l);
                auto actual = tz.resolve(l);
                bool same = false;
                switch (expected.result) {
                case date::local_info::unique:
                    same = actual.kind == chime::local_kind::unique &&
                           actual.first == instant{l.time_since_epoch() - expected.first.offset};
                    break;
                case date::local_info::nonexistent:
                    same = actual.kind == chime::local_kind::nonexistent &&
                           actual.first == expected.second.begin;
                    break;
                case date::local_info::ambiguous:
                    same = actual.kind == chime::local_kind::ambiguous &&
                           actual.first == instant{l.time_since_epoch() - expected.first.offset} &&
                           actual.second == instant{l.time_since_epoch() - expected.second.offset};
                    break;
                }
                if (!same && mismatches++ == 0) {
                    first_mismatch = date::format("%F %T", l);
                }
            }
            t = info.end;
        }
        INFO(name << ", first mismatch at local " << first_mismatch);
        CHECK(mismatches == 0);
    }
}

TEST_CASE("local zone follows the TZ variable", "[zone]") {
    environment_variable tz("TZ");
    tz.set(":Europe/Berlin");
    CHECK(chime::zone::local().name() == "Europe/Berlin");
    tz.set("America/New_York");
    CHECK(chime::zone::local().name() == "America/New_York");
}

TEST_CASE("local zone survives a TZ that names no zone", "[zone]") {
    environment_variable tz("TZ");
    tz.set("CET-1CEST,M3.5.0,M10.5.0/3");
    CHECK_NOTHROW(chime::zone::local());
}

TEST_CASE("resolve at the representation limits", "[zone]") {
    auto berlin = chime::zone::locate("Europe/Berlin");
    auto low = berlin.resolve(chime::local_seconds::min());
    auto high = berlin.resolve(chime::local_seconds::max());
    CHECK(low.kind == chime::local_kind::unique);
    CHECK(high.kind == chime::local_kind::unique);
    CHECK(high.first == chime::instant{chime::local_seconds::max().time_since_epoch() -
                                       std::chrono::hours{1}});
}
