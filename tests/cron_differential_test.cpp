// Compares chime::cron_trigger with the brute-force reference of
// tests/support/brute_force_cron.hpp on random expressions, zones, start
// instants and DST policies. Start instants lean towards the day before a
// transition, where the policies differ. The seed is fixed, so a failure
// repeats; its message prints the expression, zone, policy and start.
#include "support/brute_force_cron.hpp"

#include <chime/cron.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>

#include <initializer_list>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using chime_test::reference_policy;

// Zones with whole-hour, half-hour and 45-minute offsets and with northern
// and southern DST. Lord_Howe shifts by 30 minutes and Troll by 2 hours.
// Sao_Paulo (until 2019), Tehran (until 2022), Havana and Santiago jump at
// midnight. Dublin has negative DST, Apia skipped 30 December 2011, and UTC
// has no transitions at all.
const std::vector<std::string> zone_names = {
    "UTC",              "Europe/Berlin",    "America/New_York", "Australia/Lord_Howe",
    "America/Sao_Paulo", "Asia/Tehran",     "Pacific/Chatham",  "Europe/Dublin",
    "America/Santiago", "America/Havana",   "America/St_Johns", "Antarctica/Troll",
    "Pacific/Apia"};

class case_generator {
public:
    explicit case_generator(std::uint32_t seed) : rng_(seed) {}

    std::string expression() {
        std::string text;
        if (chance(0.3)) {
            text += pick({"0", "0", "30", "*/20", "15,45", "0-10/5", "*/30", "*", "59"}) + " ";
        }
        text += minute() + " " + hour() + " " + day_of_month() + " " + month() + " " +
                day_of_week();
        return text;
    }

    const std::string& zone_name() {
        return zone_names[std::uniform_int_distribution<std::size_t>(0, zone_names.size() - 1)(rng_)];
    }

    // An instant between 1995 and 2035. More often than not it lies within
    // a day (often within three hours) before a transition of `tz`, and
    // sometimes on the transition itself or one second before it.
    chime::instant start(const date::time_zone* tz) {
        auto first = date::sys_days{date::year{1995} / 1 / 1};
        auto last = date::sys_days{date::year{2036} / 1 / 1};
        std::uniform_int_distribution<long long> any(0, (last - first).count() * 86400LL - 1);
        chime::instant t = first + std::chrono::seconds{any(rng_)};
        if (!chance(0.7)) {
            return t;
        }
        auto transition = tz->get_info(t).end;
        if (transition >= chime::instant{last}) {
            return t;
        }
        double shape = std::uniform_real_distribution<double>(0, 1)(rng_);
        if (shape < 0.1) {
            return transition;
        }
        if (shape < 0.2) {
            return transition - 1s;
        }
        int window = chance(0.5) ? 3 * 3600 : 86400;
        auto before = std::chrono::seconds{std::uniform_int_distribution<int>(1, window)(rng_)};
        if (shape < 0.6) {
            before = std::chrono::floor<std::chrono::minutes>(before);
        }
        return transition - before;
    }

private:
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

    std::string pick(std::initializer_list<const char*> options) {
        auto i = std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng_);
        return *(options.begin() + i);
    }

    std::string number(int low, int high) {
        return std::to_string(std::uniform_int_distribution<int>(low, high)(rng_));
    }

    std::string minute() {
        if (chance(0.15)) {
            return number(0, 59);
        }
        return pick({"0", "30", "*/15", "*", "15", "45", "0,30", "5-20/5", "*/7", "59", "50-10/20",
                     "0-30/30"});
    }

    // Hours around the transitions of the zones above: 0 (midnight jumps),
    // 1-3 (Europe, North America, Australia), 23 (midnight jumps backwards).
    std::string hour() {
        if (chance(0.1)) {
            return number(0, 23);
        }
        return pick({"*", "2", "3", "1", "0", "23", "2,3", "1-3", "*/2", "22-3", "2-4/2", "0,1",
                     "*/3"});
    }

    std::string day_of_month() {
        if (chance(0.75)) {
            return "*";
        }
        if (chance(0.2)) {
            return number(1, 31);
        }
        return pick({"1", "15", "*/2", "1-7", "10-20", "28-3", "1,15,28", "31", "*/10"});
    }

    std::string month() {
        if (chance(0.75)) {
            return "*";
        }
        return pick({"3", "10", "3,10", "4,9,10,11", "2-4", "9-3", "*/2", "11", "1-6"});
    }

    std::string day_of_week() {
        if (chance(0.75)) {
            return "*";
        }
        return pick({"0", "1-5", "6,0", "*/2", "7", "0-2", "5", "3-6/2", "1"});
    }

    std::mt19937 rng_;
};

chime::dst_setting setting_for(reference_policy policy) {
    switch (policy) {
    case reference_policy::every_instant: return chime::dst_setting::of(chime::dst_every_instant{});
    case reference_policy::skip: return chime::dst_setting::of(chime::dst_skip{});
    case reference_policy::cronie: return chime::dst_setting::of(chime::dst_cronie{});
    }
    return {};
}

const char* policy_name(reference_policy policy) {
    switch (policy) {
    case reference_policy::every_instant: return "every_instant";
    case reference_policy::skip: return "skip";
    case reference_policy::cronie: return "cronie";
    }
    return "";
}

std::string describe(const std::vector<chime::instant>& fires, const chime::zone& z) {
    std::string out;
    for (auto t : fires) {
        out += chime::format_instant(t, z) + " ";
    }
    return out.empty() ? "none" : out;
}

} // namespace

TEST_CASE("cron trigger agrees with brute force", "[cron][differential]") {
    constexpr int case_count = 20000;
    constexpr int fires_per_case = 3;
    constexpr auto horizon = std::chrono::seconds{std::chrono::hours{24 * 400}};

    case_generator generate(20250330);
    int compared = 0;
    int policies_differ = 0;
    for (int i = 0; i < case_count; ++i) {
        auto expression = generate.expression();
        const auto& name = generate.zone_name();
        const date::time_zone* reference_zone = date::locate_zone(name);
        auto start = generate.start(reference_zone);
        auto tz = chime::zone::locate(name);

        std::vector<std::string> expected_by_policy;
        for (auto policy : {reference_policy::every_instant, reference_policy::skip,
                            reference_policy::cronie}) {
            chime_test::brute_force_cron reference(expression, reference_zone, policy);
            chime::cron_trigger trigger(expression, tz, setting_for(policy));

            std::vector<chime::instant> expected;
            std::vector<chime::instant> actual;
            chime::instant from = start;
            for (int k = 0; k < fires_per_case; ++k) {
                auto next = reference.next_after(from, horizon);
                if (!next) {
                    break;
                }
                expected.push_back(*next);
                from = *next;
            }
            if (expected.empty()) {
                continue;
            }
            from = start;
            for (std::size_t k = 0; k < expected.size(); ++k) {
                auto next = trigger.next_after(from);
                if (!next) {
                    break;
                }
                actual.push_back(*next);
                from = *next;
            }

            INFO("case " << i << ": \"" << expression << "\" in " << name << ", policy "
                         << policy_name(policy) << ", after " << chime::format_instant(start, tz));
            CHECK(describe(actual, tz) == describe(expected, tz));
            ++compared;
            expected_by_policy.push_back(describe(expected, tz));
        }
        if (expected_by_policy.size() == 3 && (expected_by_policy[0] != expected_by_policy[1] ||
                                               expected_by_policy[1] != expected_by_policy[2])) {
            ++policies_differ;
        }
    }
    // Most generated expressions fire within the horizon. If few do, the
    // generator has drifted and the test checks little.
    CHECK(compared > case_count * 3 / 2);
    // The start instants are chosen so that the DST policies often give
    // different fire times, which are the cases this test is for.
    CHECK(policies_differ > case_count / 50);
}
