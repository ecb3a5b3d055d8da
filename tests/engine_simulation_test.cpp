// Three simulated days of 10,000 jobs across the spring DST change of
// Europe/Berlin and Europe/London, on a manual clock. Every fire time the
// engine decides on is compared with fire times computed without chime's
// triggers: cron by the brute-force reference, intervals and one-shot dates by
// arithmetic, daily local times through date::zoned_time.
#include <chime/default_triggers.hpp>
#include <chime/engine.hpp>

#include <catch2/catch.hpp>

#include "support/brute_force_cron.hpp"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using chime::decision_kind;
using chime::instant;

namespace {

const instant sim_start = chime::parse_instant("2025-03-28T22:00:00Z");
const instant sim_end = chime::parse_instant("2025-03-31T22:00:00Z");
const char* const sim_zones[] = {"Europe/Berlin", "Europe/London", "America/New_York", "UTC"};

struct simulated_job {
    chime::default_triggers::variant trigger;
    std::vector<instant> expected; // fire times in (sim_start, sim_end], sorted
    std::vector<bool> accounted;
    std::string description;
};

std::string random_minute_field(std::mt19937& rng) {
    std::uniform_int_distribution<int> minute(0, 59), pick(0, 99);
    int p = pick(rng);
    if (p < 50) {
        return std::to_string(minute(rng));
    }
    if (p < 70) {
        int a = minute(rng), b = minute(rng);
        if (a == b) {
            return std::to_string(a);
        }
        return std::to_string(std::min(a, b)) + "," + std::to_string(std::max(a, b));
    }
    if (p < 95) {
        static const int steps[] = {5, 10, 15, 20, 30};
        return "*/" + std::to_string(steps[pick(rng) % 5]);
    }
    return "*";
}

// Hours 1 to 3 often, because they are the gap hours of the two zones.
std::string random_hour_field(std::mt19937& rng) {
    std::uniform_int_distribution<int> hour(0, 23), gap_hour(1, 3), pick(0, 99);
    int p = pick(rng);
    if (p < 30) {
        return std::to_string(gap_hour(rng));
    }
    if (p < 55) {
        return std::to_string(hour(rng));
    }
    if (p < 70) {
        int a = hour(rng), b = hour(rng);
        return std::to_string(std::min(a, b)) + "-" + std::to_string(std::max(a, b));
    }
    if (p < 80) {
        return "*/" + std::to_string(2 + pick(rng) % 5);
    }
    return "*";
}

std::vector<instant> reference_cron_fires(const std::string& expr, const char* tz) {
    chime_test::brute_force_cron reference(expr, date::locate_zone(tz),
                                           chime_test::reference_policy::cronie);
    std::vector<instant> out;
    instant t = sim_start;
    while (auto next = reference.next_after(t, sim_end - t + 1s)) {
        if (*next > sim_end) {
            break;
        }
        out.push_back(*next);
        t = *next;
    }
    return out;
}

// Daily at a local time, as cronie treats a fixed time: a time in a gap runs
// at the end of the jump, a repeated time at its first occurrence.
std::vector<instant> reference_daily_fires(std::chrono::seconds time_of_day, const char* tz) {
    const auto* zone = date::locate_zone(tz);
    std::vector<instant> out;
    auto first_day = date::floor<date::days>(sim_start) - date::days{1};
    for (auto day = first_day; day <= date::floor<date::days>(sim_end) + date::days{1};
         day += date::days{1}) {
        date::local_seconds local{day.time_since_epoch() + time_of_day};
        auto info = zone->get_info(local);
        instant fire;
        if (info.result == date::local_info::nonexistent) {
            fire = info.second.begin;
        } else {
            fire = instant{local.time_since_epoch() - info.first.offset};
        }
        if (fire > sim_start && fire <= sim_end) {
            out.push_back(fire);
        }
    }
    return out;
}

std::vector<simulated_job> make_jobs(std::size_t count, std::mt19937& rng) {
    std::vector<simulated_job> jobs;
    jobs.reserve(count);
    std::uniform_int_distribution<int> pick(0, 99), zone_pick(0, 3);
    for (std::size_t i = 0; i < count; ++i) {
        int p = pick(rng);
        const char* tz = sim_zones[zone_pick(rng)];
        if (p < 70) {
            auto expr = random_minute_field(rng) + " " + random_hour_field(rng) + " * * *";
            jobs.push_back({chime::cron_trigger(expr, chime::zone::locate(tz)),
                            reference_cron_fires(expr, tz), {}, "cron " + expr + " " + tz});
        } else if (p < 90) {
            std::uniform_int_distribution<long> period(7, 7200);
            std::chrono::seconds every{period(rng)};
            std::vector<instant> fires;
            auto k = sim_start.time_since_epoch() / every + 1;
            for (instant f{every * k}; f <= sim_end; f += every) {
                fires.push_back(f);
            }
            jobs.push_back({chime::interval_trigger(every), std::move(fires), {},
                            "interval " + chime::format_duration(every)});
        } else if (p < 97) {
            std::uniform_int_distribution<int> hour(0, 23), minute(0, 59);
            // Hour 2 in Berlin and hour 1 in London fall in the gap on 30 March.
            int h = pick(rng) < 40 ? 1 + pick(rng) % 2 : hour(rng);
            auto time_of_day = std::chrono::hours{h} + std::chrono::minutes{minute(rng)};
            auto first = date::local_days{date::year{2025} / 3 / 1} + time_of_day;
            jobs.push_back({chime::calendar_interval_trigger(chime::calendar_step::parse("P1D"),
                                                             first, chime::zone::locate(tz)),
                            reference_daily_fires(time_of_day, tz), {},
                            "daily at " + std::to_string(h) + "h " + tz});
        } else {
            std::uniform_int_distribution<long> offset(1, (sim_end - sim_start).count());
            instant when = sim_start + std::chrono::seconds{offset(rng)};
            jobs.push_back({chime::at_trigger(when), {when}, {}, "at " + chime::format_utc(when)});
        }
        jobs.back().accounted.assign(jobs.back().expected.size(), false);
    }
    return jobs;
}

// Marks the expected fire times from `first` to `last`; returns how many.
std::size_t account(simulated_job& job, instant first, instant last) {
    auto begin = std::lower_bound(job.expected.begin(), job.expected.end(), first);
    auto end = std::upper_bound(job.expected.begin(), job.expected.end(), last);
    std::size_t n = 0;
    for (auto it = begin; it != end; ++it) {
        auto index = std::size_t(it - job.expected.begin());
        if (!job.accounted[index]) {
            job.accounted[index] = true;
            ++n;
        }
    }
    return n;
}

} // namespace

TEST_CASE("engine simulation matches independent fire times", "[engine][simulation]") {
    std::mt19937 rng(20250330);
    auto jobs = make_jobs(10000, rng);

    chime::engine<chime::default_triggers> engine;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        engine.add(i, {jobs[i].trigger, {}}, sim_start);
    }

    // The worker wakes at next_wakeup(), a quarter of the time up to 20 s late
    // (within the one-minute grace time), and every run ends at once.
    std::uniform_int_distribution<int> late_pick(0, 3), lateness(1, 20);
    std::vector<chime::decision> out;
    std::size_t starts = 0, coalesced = 0, wakeups = 0;
    instant now = sim_start;
    while (true) {
        auto wake = engine.next_wakeup();
        if (!wake || *wake > sim_end) {
            break;
        }
        now = std::max(now, *wake);
        if (late_pick(rng) == 0) {
            now = std::min(now + std::chrono::seconds{lateness(rng)}, sim_end);
        }
        ++wakeups;
        out.clear();
        engine.due(now, out);
        for (const auto& d : out) {
            auto& job = jobs[d.job];
            INFO(job.description << ": " << chime::to_string(d.kind) << " "
                                 << chime::format_utc(d.scheduled) << " " << d.reason);
            REQUIRE(d.kind != decision_kind::missed);
            REQUIRE(d.kind != decision_kind::cancel);
            if (d.kind == decision_kind::start) {
                REQUIRE(account(job, d.scheduled, d.scheduled) == 1);
                REQUIRE(d.scheduled <= now);
                REQUIRE(now - d.scheduled <= 20s);
                REQUIRE(engine.finished(d.run, chime::run_status::succeeded, now));
                ++starts;
            } else {
                REQUIRE(d.kind == decision_kind::skipped);
                REQUIRE(account(job, d.scheduled, d.last_scheduled) == d.count);
                coalesced += d.count;
            }
        }
    }

    std::size_t expected_total = 0;
    for (const auto& job : jobs) {
        expected_total += job.expected.size();
        for (std::size_t k = 0; k < job.expected.size(); ++k) {
            INFO(job.description << ": fire time " << chime::format_utc(job.expected[k])
                                 << " never decided");
            REQUIRE(job.accounted[k]);
        }
    }
    CHECK(starts + coalesced == expected_total);
    CHECK(starts > 100000);
    CHECK(engine.running() == 0);
}
