// The engine's rules on a manual clock: each test passes instants by hand,
// so no test waits for time to pass.
#include <chime/engine.hpp>
#include <chime/heap_timer_queue.hpp>
#include <chime/hierarchical_wheel.hpp>
#include <chime/hashed_wheel.hpp>
#include <chime/default_triggers.hpp>

#include <catch2/catch.hpp>

#include "support/manual_clock.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using chime::decision;
using chime::decision_kind;
using chime::instant;
using chime::run_cause;
using chime::run_status;

namespace {

using test_engine = chime::engine<chime::default_triggers>;

instant at(const char* text) { return chime::parse_instant(text); }

chime::interval_trigger every(std::chrono::seconds period) { return chime::interval_trigger(period); }

chime::cron_trigger cron(const char* expr, const char* tz = "UTC") {
    return chime::cron_trigger(expr, chime::zone::locate(tz));
}

std::vector<decision> of_kind(const std::vector<decision>& all, decision_kind kind) {
    std::vector<decision> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out),
                 [kind](const decision& d) { return d.kind == kind; });
    return out;
}

// Finishes every run that `decisions` started, with `status`.
void finish_all(test_engine& e, const std::vector<decision>& decisions, run_status status,
                instant now) {
    for (const auto& d : decisions) {
        if (d.kind == decision_kind::start) {
            REQUIRE(e.finished(d.run, status, now));
        }
    }
}

} // namespace

TEST_CASE("engine starts a job at each fire time", "[engine]") {
    test_engine e;
    chime::testing::manual_clock clock(at("2025-01-01T00:00:00Z"));
    e.add(1, {every(60s), {}}, clock.now());

    CHECK(e.next_wakeup() == at("2025-01-01T00:01:00Z"));
    CHECK(e.due(at("2025-01-01T00:00:59Z")).empty());

    clock.set(at("2025-01-01T00:01:00Z"));
    auto d = e.due(clock.now());
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].job == 1);
    CHECK(d[0].run == 1);
    CHECK(d[0].scheduled == at("2025-01-01T00:01:00Z"));
    CHECK(d[0].cause == run_cause::schedule);
    CHECK(d[0].reason == "scheduled");
    CHECK_FALSE(d[0].deadline);
    CHECK(e.running() == 1);
    CHECK(e.next_wakeup() == at("2025-01-01T00:02:00Z"));

    CHECK(e.finished(d[0].run, run_status::succeeded, clock.now()));
    CHECK(e.running() == 0);
    CHECK_FALSE(e.finished(d[0].run, run_status::succeeded, clock.now()));
}

TEST_CASE("engine does not run a new job at the instant it is added", "[engine]") {
    test_engine e;
    e.add(1, {every(60s), {}}, at("2025-01-01T00:01:00Z"));
    CHECK(e.due(at("2025-01-01T00:01:00Z")).empty());
    CHECK(e.next_fire(1) == at("2025-01-01T00:02:00Z"));
}

TEST_CASE("engine rejects a second job with the same id", "[engine]") {
    test_engine e;
    e.add(7, {every(60s), {}}, at("2025-01-01T00:00:00Z"));
    CHECK_THROWS_WITH(e.add(7, {every(60s), {}}, at("2025-01-01T00:00:00Z")),
                      "engine: a job with id 7 already exists");
}

TEST_CASE("engine records a fire time beyond the grace time missed", "[engine][misfire]") {
    test_engine e;
    chime::run_policy p;
    p.misfire_grace = 60s;
    e.add(1, {every(120s), p}, at("2025-01-01T00:00:00Z"));

    // 00:02:00 is 61 s late at 00:03:01; 00:04:00 is not due yet.
    auto d = e.due(at("2025-01-01T00:03:01Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].scheduled == at("2025-01-01T00:02:00Z"));
    CHECK(d[0].count == 1);
    CHECK(d[0].reason ==
          "the fire time 2025-01-01T00:02:00Z found more than the misfire grace time (PT1M) "
          "late, at 2025-01-01T00:03:01Z");

    // Exactly the grace time late still runs.
    d = e.due(at("2025-01-01T00:05:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].scheduled == at("2025-01-01T00:04:00Z"));
}

TEST_CASE("engine without a grace limit runs any late fire time", "[engine][misfire]") {
    test_engine e;
    chime::run_policy p;
    p.misfire_grace.reset();
    e.add(1, {every(3600s), p}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-03T00:30:00Z"));
    auto starts = of_kind(d, decision_kind::start);
    REQUIRE(starts.size() == 1);
    CHECK(starts[0].scheduled == at("2025-01-03T00:00:00Z"));
    auto skipped = of_kind(d, decision_kind::skipped);
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].count == 47);
}

TEST_CASE("engine coalesces runnable fire times into the latest", "[engine][coalesce]") {
    test_engine e;
    chime::run_policy p;
    p.coalesce = chime::coalesce_mode::latest;
    e.add(1, {every(10s), p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T00:00:35Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].scheduled == at("2025-01-01T00:00:10Z"));
    CHECK(d[0].last_scheduled == at("2025-01-01T00:00:20Z"));
    CHECK(d[0].count == 2);
    CHECK(d[0].reason == "2 fire times from 2025-01-01T00:00:10Z to 2025-01-01T00:00:20Z "
                         "coalesced into the run for 2025-01-01T00:00:30Z (coalesce latest)");
    CHECK(d[1].kind == decision_kind::start);
    CHECK(d[1].scheduled == at("2025-01-01T00:00:30Z"));
}

TEST_CASE("engine coalesces runnable fire times into the earliest", "[engine][coalesce]") {
    test_engine e;
    chime::run_policy p;
    p.coalesce = chime::coalesce_mode::earliest;
    e.add(1, {every(10s), p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T00:00:35Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].scheduled == at("2025-01-01T00:00:10Z"));
    CHECK(d[1].kind == decision_kind::skipped);
    CHECK(d[1].scheduled == at("2025-01-01T00:00:20Z"));
    CHECK(d[1].last_scheduled == at("2025-01-01T00:00:30Z"));
    CHECK(d[1].count == 2);
}

TEST_CASE("engine with coalesce all starts each fire time", "[engine][coalesce]") {
    test_engine e;
    chime::run_policy p;
    p.coalesce = chime::coalesce_mode::all;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 5;
    e.add(1, {every(10s), p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T00:00:35Z"));
    REQUIRE(d.size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(d[i].kind == decision_kind::start);
        CHECK(d[i].scheduled == at("2025-01-01T00:00:10Z") + std::chrono::seconds{10 * i});
    }
    CHECK(e.running() == 3);
}

TEST_CASE("engine coalesce all still applies the overlap rule", "[engine][coalesce]") {
    test_engine e;
    chime::run_policy p;
    p.coalesce = chime::coalesce_mode::all;
    e.add(1, {every(10s), p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T00:00:35Z"));
    REQUIRE(d.size() == 3);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[1].kind == decision_kind::skipped);
    CHECK(d[1].reason == "run 1 is still running (overlap skip)");
    CHECK(d[2].kind == decision_kind::skipped);
}

TEST_CASE("engine splits late and runnable fire times", "[engine][misfire][coalesce]") {
    test_engine e;
    chime::run_policy p;
    p.misfire_grace = 30s;
    e.add(1, {every(10s), p}, at("2025-01-01T00:00:00Z"));

    // At 00:01:05 fire times up to 00:00:30 are more than 30 s late.
    auto d = e.due(at("2025-01-01T00:01:05Z"));
    REQUIRE(d.size() == 3);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].scheduled == at("2025-01-01T00:00:10Z"));
    CHECK(d[0].last_scheduled == at("2025-01-01T00:00:30Z"));
    CHECK(d[0].count == 3);
    CHECK(d[1].kind == decision_kind::skipped);
    CHECK(d[1].scheduled == at("2025-01-01T00:00:40Z"));
    CHECK(d[1].last_scheduled == at("2025-01-01T00:00:50Z"));
    CHECK(d[1].count == 2);
    CHECK(d[2].kind == decision_kind::start);
    CHECK(d[2].scheduled == at("2025-01-01T00:01:00Z"));
}

TEST_CASE("engine counts a long missed range and then jumps", "[engine][misfire]") {
    test_engine e;
    e.add(1, {every(1s), {}}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-02T00:00:00Z"));
    auto missed = of_kind(d, decision_kind::missed);
    REQUIRE(missed.size() == 1);
    CHECK(missed[0].count == chime::engine_limits::counted_fires);
    CHECK(missed[0].count_is_lower_bound);
    CHECK(missed[0].last_scheduled == at("2025-01-01T23:58:59Z"));
    CHECK(missed[0].reason ==
          "at least 10000 fire times from 2025-01-01T00:00:01Z up to 2025-01-01T23:58:59Z found "
          "more than the misfire grace time (PT1M) late, at 2025-01-02T00:00:00Z");
    auto starts = of_kind(d, decision_kind::start);
    REQUIRE(starts.size() == 1);
    CHECK(starts[0].scheduled == at("2025-01-02T00:00:00Z"));
    CHECK(e.next_fire(1) == at("2025-01-02T00:00:01Z"));
}

TEST_CASE("engine catch-up none records the downtime missed", "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::none;
    chime::add_options o;
    o.last_fire = at("2025-01-01T00:00:00Z");
    // Down from just after 00:00 to 05:30; the job fires hourly.
    e.add(1, {every(3600s), p}, at("2025-01-01T05:30:00Z"), o);

    auto d = e.due(at("2025-01-01T05:30:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].cause == run_cause::catch_up);
    CHECK(d[0].scheduled == at("2025-01-01T01:00:00Z"));
    CHECK(d[0].last_scheduled == at("2025-01-01T05:00:00Z"));
    CHECK(d[0].count == 5);
    CHECK(d[0].reason == "5 fire times from 2025-01-01T01:00:00Z to 2025-01-01T05:00:00Z passed "
                         "while the worker was not running (catch_up none)");
    CHECK(e.next_fire(1) == at("2025-01-01T06:00:00Z"));
}

TEST_CASE("engine catch-up once runs the latest downtime fire", "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::once;
    chime::add_options o;
    o.last_fire = at("2025-01-01T00:00:00Z");
    e.add(1, {every(3600s), p}, at("2025-01-01T05:30:00Z"), o);

    auto d = e.due(at("2025-01-01T05:30:00Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].count == 4);
    CHECK(d[0].last_scheduled == at("2025-01-01T04:00:00Z"));
    CHECK(d[1].kind == decision_kind::start);
    CHECK(d[1].cause == run_cause::catch_up);
    CHECK(d[1].scheduled == at("2025-01-01T05:00:00Z"));
}

TEST_CASE("engine catch-up once finds the latest fire of a long downtime", "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::once;
    p.misfire_grace = 0s;
    chime::add_options o;
    o.last_fire = at("2025-01-01T00:00:00Z");
    // Every 7 s for 30 days: far more fire times than the engine counts.
    e.add(1, {every(7s), p}, at("2025-01-31T00:00:00Z"), o);
    auto d = e.due(at("2025-01-31T00:00:00Z"));
    auto starts = of_kind(d, decision_kind::start);
    REQUIRE(starts.size() == 1);
    // The latest multiple of 7 s before 2025-01-31T00:00:00Z (1738281600).
    CHECK(starts[0].scheduled == instant{std::chrono::seconds{1738281600 / 7 * 7}});
    auto skipped = of_kind(d, decision_kind::skipped);
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].count_is_lower_bound);
}

TEST_CASE("engine catch-up all runs every downtime fire", "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::all;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 10;
    chime::add_options o;
    o.last_fire = at("2025-01-01T00:00:00Z");
    e.add(1, {every(3600s), p}, at("2025-01-01T05:30:00Z"), o);

    auto d = e.due(at("2025-01-01T05:30:00Z"));
    REQUIRE(d.size() == 5);
    for (int i = 0; i < 5; ++i) {
        CHECK(d[i].kind == decision_kind::start);
        CHECK(d[i].cause == run_cause::catch_up);
        CHECK(d[i].scheduled == at("2025-01-01T01:00:00Z") + std::chrono::hours{i});
    }
}

TEST_CASE("engine catch-up leaves fire times within grace to the normal rules",
          "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::none;
    chime::add_options o;
    o.last_fire = at("2025-01-01T04:00:00Z");
    // Back 20 s after the 05:00 fire time: it is within the grace time.
    e.add(1, {every(3600s), p}, at("2025-01-01T05:00:20Z"), o);
    auto d = e.due(at("2025-01-01T05:00:20Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].scheduled == at("2025-01-01T05:00:00Z"));
}

TEST_CASE("engine catch-up applies only to the downtime", "[engine][catch_up]") {
    test_engine e;
    chime::run_policy p;
    p.catch_up = chime::catch_up_mode::once;
    chime::add_options o;
    o.last_fire = at("2025-01-01T05:00:00Z");
    e.add(1, {every(3600s), p}, at("2025-01-01T05:30:00Z"), o);
    CHECK(e.due(at("2025-01-01T05:30:00Z")).empty());
    // Later lateness is a misfire, not downtime.
    auto d = e.due(at("2025-01-01T08:30:00Z"));
    auto missed = of_kind(d, decision_kind::missed);
    REQUIRE(missed.size() == 1);
    CHECK(missed[0].cause == run_cause::schedule);
    CHECK(missed[0].count == 3);
}

TEST_CASE("engine overlap skip skips while a run is running", "[engine][overlap]") {
    test_engine e;
    e.add(1, {every(60s), {}}, at("2025-01-01T00:00:00Z"));
    auto first = e.due(at("2025-01-01T00:01:00Z"));
    REQUIRE(first.size() == 1);

    auto d = e.due(at("2025-01-01T00:02:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].scheduled == at("2025-01-01T00:02:00Z"));
    CHECK(d[0].reason == "run 1 is still running (overlap skip)");

    e.finished(first[0].run, run_status::succeeded, at("2025-01-01T00:02:30Z"));
    d = e.due(at("2025-01-01T00:03:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
}

TEST_CASE("engine overlap queue_one starts the queued run after the running one",
          "[engine][overlap]") {
    test_engine e;
    chime::run_policy p;
    p.overlap = chime::overlap_mode::queue_one;
    e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z"));
    auto first = e.due(at("2025-01-01T00:01:00Z"));
    REQUIRE(first.size() == 1);

    CHECK(e.due(at("2025-01-01T00:02:00Z")).empty()); // queued
    auto d = e.due(at("2025-01-01T00:03:00Z"));        // a second one is skipped
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].scheduled == at("2025-01-01T00:03:00Z"));
    CHECK(d[0].reason ==
          "a run for 2025-01-01T00:02:00Z is already queued behind run 1 (overlap queue_one)");

    e.finished(first[0].run, run_status::succeeded, at("2025-01-01T00:03:10Z"));
    CHECK(e.next_wakeup() == at("2025-01-01T00:03:10Z"));
    d = e.due(at("2025-01-01T00:03:10Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].scheduled == at("2025-01-01T00:02:00Z"));
    CHECK(d[0].reason == "started after the run it was queued behind finished");
}

TEST_CASE("engine overlap replace cancels the running run", "[engine][overlap]") {
    test_engine e;
    chime::run_policy p;
    p.overlap = chime::overlap_mode::replace;
    e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z"));
    auto first = e.due(at("2025-01-01T00:01:00Z"));
    REQUIRE(first.size() == 1);

    auto d = e.due(at("2025-01-01T00:02:00Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::cancel);
    CHECK(d[0].run == first[0].run);
    CHECK(d[0].reason == "replaced by a new run for 2025-01-01T00:02:00Z (overlap replace)");
    CHECK(d[1].kind == decision_kind::start);
    CHECK(d[1].run != first[0].run);
    CHECK(e.running() == 2);

    // A replaced run that ends failed is not retried.
    CHECK(e.finished(first[0].run, run_status::failed, at("2025-01-01T00:02:01Z")));
    CHECK(e.next_wakeup() == at("2025-01-01T00:03:00Z"));
}

TEST_CASE("engine overlap allow runs up to max_instances", "[engine][overlap]") {
    test_engine e;
    chime::run_policy p;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 2;
    e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z"));
    CHECK(of_kind(e.due(at("2025-01-01T00:01:00Z")), decision_kind::start).size() == 1);
    CHECK(of_kind(e.due(at("2025-01-01T00:02:00Z")), decision_kind::start).size() == 1);
    auto d = e.due(at("2025-01-01T00:03:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].reason == "2 runs are running, the limit of overlap allow");
}

TEST_CASE("engine retries a failed run with backoff", "[engine][retry]") {
    test_engine e;
    chime::run_policy p;
    p.retry = {.count = 3, .initial_delay = 10s, .factor = 3.0, .max_delay = 60s};
    chime::cron_trigger daily = cron("0 3 * * *");
    e.add(1, {daily, p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T03:00:00Z"));
    REQUIRE(d.size() == 1);
    auto scheduled = d[0].scheduled;

    // Delays 10 s, 30 s, then 90 s capped at 60 s.
    instant now = at("2025-01-01T03:00:05Z");
    for (auto [attempt, delay] : {std::pair{1u, 10s}, std::pair{2u, 30s}, std::pair{3u, 60s}}) {
        REQUIRE(e.finished(d[0].run, run_status::failed, now));
        CHECK(e.next_wakeup() == now + delay);
        CHECK(e.due(now + delay - 1s).empty());
        d = e.due(now + delay);
        REQUIRE(d.size() == 1);
        CHECK(d[0].kind == decision_kind::start);
        CHECK(d[0].cause == run_cause::retry);
        CHECK(d[0].attempt == attempt);
        CHECK(d[0].scheduled == scheduled);
        now = now + delay + 1s;
    }
    CHECK(d[0].reason == "retry 3 of 3 after run 3 failed");

    // The retries are used up.
    REQUIRE(e.finished(d[0].run, run_status::failed, now));
    CHECK(e.next_wakeup() == at("2025-01-02T03:00:00Z"));
}

TEST_CASE("engine retries a timed-out run but not a succeeded one", "[engine][retry]") {
    test_engine e;
    chime::run_policy p;
    p.retry.count = 1;
    p.retry.initial_delay = 5s;
    e.add(1, {every(3600s), p}, at("2025-01-01T00:00:00Z"));

    auto d = e.due(at("2025-01-01T01:00:00Z"));
    e.finished(d[0].run, run_status::timed_out, at("2025-01-01T01:00:10Z"));
    CHECK(e.next_wakeup() == at("2025-01-01T01:00:15Z"));

    d = e.due(at("2025-01-01T01:00:15Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].reason == "retry 1 of 1 after run 1 timed out");
    e.finished(d[0].run, run_status::succeeded, at("2025-01-01T01:00:20Z"));
    CHECK(e.next_wakeup() == at("2025-01-01T02:00:00Z"));
}

TEST_CASE("engine hands the timeout to the executor as a deadline", "[engine][timeout]") {
    test_engine e;
    chime::run_policy p;
    p.timeout = 90s;
    e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z"));
    // Started 5 s late: the deadline counts from the start, not the fire time.
    auto d = e.due(at("2025-01-01T00:01:05Z"));
    REQUIRE(d.size() == 1);
    REQUIRE(d[0].deadline);
    CHECK(*d[0].deadline == at("2025-01-01T00:02:35Z"));
}

TEST_CASE("engine starts jittered fire times at the delayed instant", "[engine][jitter]") {
    test_engine e;
    chime::jitter j(chime::any_trigger(cron("0 2 * * *")), 300s, chime::stable_delay{"backup"});
    auto delay = j.delay_for(at("2025-01-02T02:00:00Z"));
    e.add(1, {j, {}}, at("2025-01-01T12:00:00Z"));

    CHECK(e.next_wakeup() == at("2025-01-02T02:00:00Z") + delay);
    if (delay > 0s) {
        CHECK(e.due(at("2025-01-02T02:00:00Z") + delay - 1s).empty());
    }
    auto d = e.due(at("2025-01-02T02:00:00Z") + delay);
    REQUIRE(d.size() == 1);
    CHECK(d[0].scheduled == at("2025-01-02T02:00:00Z") + delay);
}

TEST_CASE("engine never reruns a fire time after the clock steps back", "[engine][clock]") {
    test_engine e;
    e.add(1, {every(60s), {}}, at("2025-01-01T09:58:30Z"));
    auto d = e.due(at("2025-01-01T10:00:00Z"));
    REQUIRE(d.size() == 2); // 09:59 coalesced into 10:00
    finish_all(e, d, run_status::succeeded, at("2025-01-01T10:00:00Z"));

    // The clock steps back an hour, then walks forward to 10:00 again.
    for (auto t = at("2025-01-01T09:00:00Z"); t <= at("2025-01-01T10:00:00Z"); t += 30s) {
        CHECK(e.due(t).empty());
    }
    CHECK(e.backward_steps() == 1);
    d = e.due(at("2025-01-01T10:01:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].scheduled == at("2025-01-01T10:01:00Z"));
}

TEST_CASE("engine schedules a job added after the clock stepped back", "[engine][clock]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T10:00:00Z"));
    CHECK(e.due(at("2025-01-01T10:00:00Z")).empty());

    e.add(2, {every(600s), {}}, at("2025-01-01T09:00:00Z"));
    auto d = e.due(at("2025-01-01T09:10:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].job == 2);
    CHECK(d[0].scheduled == at("2025-01-01T09:10:00Z"));
    // Job 1 keeps its fire time.
    CHECK(e.next_fire(1) == at("2025-01-01T11:00:00Z"));
}

TEST_CASE("engine treats a forward clock step as lateness", "[engine][clock]") {
    test_engine e;
    e.add(1, {every(600s), {}}, at("2025-01-01T10:00:00Z"));
    auto d = e.due(at("2025-01-01T13:00:30Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].count == 17);
    CHECK(d[1].kind == decision_kind::start);
    CHECK(d[1].scheduled == at("2025-01-01T13:00:00Z"));
}

TEST_CASE("engine pause stops runs and resume starts after now", "[engine][pause]") {
    test_engine e;
    e.add(1, {every(60s), {}}, at("2025-01-01T00:00:00Z"));
    REQUIRE(e.pause(1, at("2025-01-01T00:00:30Z")));
    CHECK(e.paused(1));
    CHECK_FALSE(e.next_fire(1));
    CHECK_FALSE(e.next_wakeup());
    CHECK(e.due(at("2025-01-01T00:10:00Z")).empty());

    REQUIRE(e.resume(1, at("2025-01-01T00:10:30Z")));
    CHECK(e.next_fire(1) == at("2025-01-01T00:11:00Z"));
    CHECK(e.due(at("2025-01-01T00:10:59Z")).empty());
    CHECK(e.due(at("2025-01-01T00:11:00Z")).size() == 1);
    CHECK_FALSE(e.pause(99, at("2025-01-01T00:11:00Z")));
}

TEST_CASE("engine pause drops a pending retry visibly", "[engine][pause][retry]") {
    test_engine e;
    chime::run_policy p;
    p.retry.count = 2;
    e.add(1, {every(3600s), p}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T01:00:00Z"));
    e.finished(d[0].run, run_status::failed, at("2025-01-01T01:00:01Z"));
    e.pause(1, at("2025-01-01T01:00:02Z"));
    d = e.due(at("2025-01-01T01:00:02Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].cause == run_cause::retry);
    CHECK(d[0].reason == "retry 1 of run 1 dropped: the job was paused");
    CHECK(e.due(at("2025-01-01T02:00:00Z")).empty());
}

TEST_CASE("engine run now starts at once and keeps the schedule", "[engine][run_now]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T00:00:00Z"));
    REQUIRE(e.run_now(1, at("2025-01-01T00:20:00Z")));
    CHECK(e.next_wakeup() == at("2025-01-01T00:20:00Z"));
    auto d = e.due(at("2025-01-01T00:20:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].cause == run_cause::run_now);
    CHECK(d[0].scheduled == at("2025-01-01T00:20:00Z"));
    CHECK(d[0].reason == "run now requested");
    CHECK(e.next_fire(1) == at("2025-01-01T01:00:00Z"));
    CHECK_FALSE(e.run_now(2, at("2025-01-01T00:20:00Z")));
}

TEST_CASE("engine run now follows the overlap rule", "[engine][run_now][overlap]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T00:00:00Z"));
    e.run_now(1, at("2025-01-01T00:20:00Z"));
    REQUIRE(e.due(at("2025-01-01T00:20:00Z")).size() == 1);
    e.run_now(1, at("2025-01-01T00:21:00Z"));
    auto d = e.due(at("2025-01-01T00:21:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].cause == run_cause::run_now);
}

TEST_CASE("engine runs a paused job on request", "[engine][run_now][pause]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T00:00:00Z"));
    e.pause(1, at("2025-01-01T00:00:00Z"));
    e.run_now(1, at("2025-01-01T00:05:00Z"));
    e.run_now(1, at("2025-01-01T00:05:01Z"));
    auto d = e.due(at("2025-01-01T00:05:01Z"));
    REQUIRE(d.size() == 2);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].reason == "run-now request ignored: the request made at 2025-01-01T00:05:00Z is "
                         "still pending");
    CHECK(d[1].kind == decision_kind::start);
    CHECK(d[1].scheduled == at("2025-01-01T00:05:00Z"));
    CHECK(e.paused(1));
}

TEST_CASE("engine update recomputes the next fire time", "[engine][update]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T01:00:00Z"));
    finish_all(e, d, run_status::succeeded, at("2025-01-01T01:00:00Z"));

    REQUIRE(e.update(1, {cron("*/15 * * * *"), {}}, at("2025-01-01T01:05:00Z")));
    CHECK(e.next_fire(1) == at("2025-01-01T01:15:00Z"));

    // An update while the clock is behind the last handled fire time does not
    // bring that fire time back.
    REQUIRE(e.update(1, {cron("0 * * * *"), {}}, at("2025-01-01T00:30:00Z")));
    CHECK(e.next_fire(1) == at("2025-01-01T02:00:00Z"));
    CHECK_FALSE(e.update(5, {every(60s), {}}, at("2025-01-01T00:30:00Z")));
}

TEST_CASE("engine remove drops the job and accepts its running run", "[engine][remove]") {
    test_engine e;
    e.add(1, {every(60s), {}}, at("2025-01-01T00:00:00Z"));
    e.add(2, {every(60s), {}}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T00:01:00Z"));
    REQUIRE(d.size() == 2);
    REQUIRE(e.remove(1));
    CHECK_FALSE(e.remove(1));
    CHECK_FALSE(e.contains(1));
    CHECK(e.size() == 1);
    for (const auto& x : d) {
        CHECK(e.finished(x.run, run_status::succeeded, at("2025-01-01T00:01:30Z")));
    }
    d = e.due(at("2025-01-01T00:02:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].job == 2);

    // The slot is reused without inheriting anything.
    e.add(3, {every(600s), {}}, at("2025-01-01T00:02:00Z"));
    CHECK(e.next_fire(3) == at("2025-01-01T00:10:00Z"));
}

TEST_CASE("engine ignores the old run of a re-added job", "[engine][remove]") {
    test_engine e;
    auto t0 = at("2025-01-01T00:00:00Z");
    e.add(1, {every(60s), {}}, t0);
    auto first = e.due(t0 + 60s);
    REQUIRE(first.size() == 1);
    REQUIRE(e.remove(1));
    e.add(1, {every(60s), {}}, t0 + 61s);
    REQUIRE(e.finished(first[0].run, run_status::succeeded, t0 + 62s));
    auto next = e.due(t0 + 120s);
    REQUIRE(next.size() == 1);
    CHECK(next[0].kind == decision_kind::start);
    CHECK(e.running() == 1);
}

namespace {

// A trigger that fires every minute and throws for fire times after `fail_after`.
struct throwing_trigger {
    static constexpr std::string_view kind = "throwing";
    instant fail_after;

    std::optional<instant> next_after(instant t) const {
        if (t >= fail_after) {
            throw chime::error("throwing trigger: no more fire times");
        }
        return t + 60s - std::chrono::seconds{t.time_since_epoch().count() % 60};
    }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    static throwing_trigger from_json(const nlohmann::json&) { return {}; }
};

using throwing_triggers = chime::registry<chime::interval_trigger, throwing_trigger>;

} // namespace

TEST_CASE("engine contains a trigger that throws", "[engine][trigger]") {
    chime::engine<throwing_triggers> e;
    auto t0 = at("2025-01-01T00:00:00Z");
    e.add(1, {chime::interval_trigger(60s), {}}, t0);
    e.add(2, {throwing_trigger{t0 + 30s}, {}}, t0);
    e.add(3, {chime::interval_trigger(60s), {}}, t0);

    auto d = e.due(t0 + 60s);
    REQUIRE(d.size() == 3);
    std::size_t starts = 0;
    for (const auto& x : d) {
        if (x.job == 2) {
            CHECK(x.kind == decision_kind::skipped);
            CHECK(x.reason == "the trigger failed: throwing trigger: no more fire times; the job "
                              "has no further fire time until it is updated");
        } else {
            CHECK(x.kind == decision_kind::start);
            CHECK(e.finished(x.run, run_status::succeeded, t0 + 60s));
            ++starts;
        }
    }
    CHECK(starts == 2);
    CHECK_FALSE(e.next_fire(2));
    // The other jobs go on.
    CHECK(e.due(t0 + 120s).size() == 2);

    // A trigger that throws at add leaves no job behind.
    CHECK_THROWS_AS(e.add(4, {throwing_trigger{t0}, {}}, t0 + 120s), chime::error);
    CHECK_FALSE(e.contains(4));
}

TEST_CASE("engine update runs a fire time already due", "[engine][update]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T09:30:00Z"));
    // The 10:00 fire time is due, but due() has not run yet.
    REQUIRE(e.update(1, {every(3600s), {}}, at("2025-01-01T10:00:00Z")));
    auto d = e.due(at("2025-01-01T10:00:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::start);
    CHECK(d[0].scheduled == at("2025-01-01T10:00:00Z"));
    CHECK(e.next_fire(1) == at("2025-01-01T11:00:00Z"));
}

TEST_CASE("engine pause records a due fire time skipped", "[engine][pause]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T09:30:00Z"));
    REQUIRE(e.pause(1, at("2025-01-01T10:00:30Z")));
    auto d = e.due(at("2025-01-01T10:00:30Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].reason == "the fire time 2025-01-01T10:00:00Z skipped: the job was paused before "
                         "they were handled");
}

TEST_CASE("engine update drops a waiting retry visibly", "[engine][update][retry]") {
    test_engine e;
    chime::run_policy p;
    p.retry.count = 2;
    e.add(1, {every(3600s), p}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T01:00:00Z"));
    e.finished(d[0].run, run_status::failed, at("2025-01-01T01:00:01Z"));
    e.update(1, {every(3600s), {}}, at("2025-01-01T01:00:02Z"));
    d = e.due(at("2025-01-01T01:00:02Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].reason == "retry 1 of run 1 dropped: the job was updated");
    CHECK(e.due(at("2025-01-01T01:10:00Z")).empty());
}

TEST_CASE("engine wakes at once after a step back", "[engine][clock]") {
    test_engine e;
    e.add(1, {every(3600s), {}}, at("2025-01-01T10:00:00Z"));
    CHECK(e.due(at("2025-01-01T10:00:00Z")).empty());
    e.run_now(1, at("2025-01-01T09:50:00Z"));
    CHECK(e.next_wakeup() == at("2025-01-01T09:50:00Z"));
}

TEST_CASE("engine does not start a paused @reboot job", "[engine][at_start][pause]") {
    test_engine e;
    chime::add_options starting;
    starting.worker_starting = true;
    e.add(1, {cron("@reboot"), {}}, at("2025-01-01T00:00:00Z"), starting);
    e.pause(1, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T00:00:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::skipped);
    CHECK(d[0].cause == run_cause::at_start);
}

TEST_CASE("engine finds the end of a long ended stretch", "[engine][misfire]") {
    test_engine e;
    // Every second until 2025-01-10, then nothing; the worker wakes years later.
    chime::time_window window;
    window.end = at("2025-01-10T00:00:00Z");
    e.add(1, {chime::interval_trigger(1s, window), {}}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2033-07-01T00:00:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].count_is_lower_bound);
    CHECK(d[0].last_scheduled == at("2025-01-10T00:00:00Z"));
    CHECK_FALSE(e.next_wakeup());
}

TEST_CASE("engine clamps sentinel instants", "[engine][clock]") {
    test_engine e;
    chime::add_options o;
    o.last_fire = instant::min();
    e.add(1, {chime::at_trigger(at("2025-06-01T00:00:00Z")), {}}, at("2025-01-01T00:00:00Z"), o);
    auto d = e.due(instant::max());
    REQUIRE(d.size() == 1);
    CHECK(d[0].kind == decision_kind::missed);
    CHECK(d[0].count == 1);
    CHECK(d[0].scheduled == at("2025-06-01T00:00:00Z"));
}

TEST_CASE("engine starts @reboot jobs only when the worker starts", "[engine][at_start]") {
    test_engine e;
    chime::add_options starting;
    starting.worker_starting = true;
    e.add(1, {cron("@reboot"), {}}, at("2025-01-01T00:00:00Z"), starting);
    e.add(2, {cron("@reboot"), {}}, at("2025-01-01T00:00:00Z"));
    auto d = e.due(at("2025-01-01T00:00:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].job == 1);
    CHECK(d[0].cause == run_cause::at_start);
    CHECK_FALSE(e.next_fire(1));
}

TEST_CASE("engine forgets a one-shot job's timer after it fires", "[engine][at]") {
    test_engine e;
    e.add(1, {chime::at_trigger(at("2025-06-01T12:00:00Z")), {}}, at("2025-01-01T00:00:00Z"));
    CHECK(e.next_wakeup() == at("2025-06-01T12:00:00Z"));
    CHECK(e.due(at("2025-06-01T12:00:00Z")).size() == 1);
    CHECK_FALSE(e.next_fire(1));
    CHECK_FALSE(e.next_wakeup());
}

TEST_CASE("engine follows cron across a DST gap", "[engine][dst]") {
    test_engine e;
    e.add(1, {cron("30 2 * * *", "Europe/Berlin"), {}}, at("2025-03-29T12:00:00Z"));
    // 02:30 does not exist on 30 March; cronie runs it at 03:00 CEST.
    CHECK(e.next_wakeup() == at("2025-03-30T01:00:00Z"));
    auto d = e.due(at("2025-03-30T01:00:00Z"));
    REQUIRE(d.size() == 1);
    CHECK(d[0].scheduled == at("2025-03-30T01:00:00Z"));
}

TEST_CASE("engine rejects a policy duration it cannot store", "[engine][policy]") {
    test_engine e;
    chime::run_policy p;
    p.misfire_grace = std::chrono::seconds{std::int64_t{1} << 40};
    CHECK_THROWS_WITH(e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z")),
                      Catch::Contains("\"misfire_grace\" is ") &&
                          Catch::Contains("(1099511627776 s); it must be from PT0S to"));
    CHECK_FALSE(e.contains(1));
}

TEST_CASE("engine returns the policy it applies", "[engine][policy]") {
    test_engine e;
    chime::run_policy p;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 4;
    p.retry = {.count = 2, .initial_delay = 5s, .factor = 1.5, .max_delay = 600s};
    p.timeout = 30s;
    p.misfire_grace.reset();
    e.add(1, {every(60s), p}, at("2025-01-01T00:00:00Z"));
    CHECK(e.policy(1) == p);
}

TEMPLATE_TEST_CASE("engine behaves alike on every timer queue", "[engine][timer_queue]",
                   chime::binary_heap, chime::quaternary_heap, chime::hashed_wheel,
                   chime::hierarchical_wheel) {
    chime::engine<chime::default_triggers, TestType> e;
    auto t0 = at("2025-01-01T00:00:00Z");
    for (chime::job_id id = 1; id <= 50; ++id) {
        e.add(id, {every(std::chrono::seconds{7 * id}), {}}, t0);
    }
    std::size_t starts = 0;
    for (auto t = t0; t <= t0 + 3600s; t += 1s) {
        for (const auto& d : e.due(t)) {
            REQUIRE(d.kind == decision_kind::start);
            CHECK(d.scheduled == t);
            CHECK(e.finished(d.run, run_status::succeeded, t));
            ++starts;
        }
    }
    // Interval fire times are the multiples of the period since 1970.
    std::size_t expected = 0;
    auto from = t0.time_since_epoch().count();
    for (long id = 1; id <= 50; ++id) {
        expected += std::size_t((from + 3600) / (7 * id) - from / (7 * id));
    }
    CHECK(starts == expected);
}
