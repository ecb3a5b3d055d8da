// The sink dispatcher, with sinks that the tests hold or fail on purpose.
// Nothing here sleeps: the tests wait on the dispatcher's counters and on
// gates with deadlines.
#include "sink_test_support.hpp"

#include <chime/registry.hpp>
#include <chime/sinks/dispatcher.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using chime::dispatch_counters;
using chime::dispatcher_settings;
using chime::sink_dispatcher;
using chime::testing::captured_logger;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const auto patience = 30s;

chime::report report_for(const std::string& job) {
    chime::report r;
    r.job = job;
    r.status = chime::run_status::failed;
    return r;
}

// The record of a test sink: the jobs of the reports it was given and when,
// and a gate that keeps each delivery waiting until the test opens it.
struct sink_state {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> jobs;
    std::vector<clock_type::time_point> times;
    bool open = true;
    // Deliveries that fail before the first success; -1 for all of them.
    int failures_left = 0;

    void close_gate() {
        std::lock_guard lock(mutex);
        open = false;
    }

    void open_gate() {
        {
            std::lock_guard lock(mutex);
            open = true;
        }
        changed.notify_all();
    }

    // Waits until `count` deliveries have started.
    bool wait_for_calls(std::size_t count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, patience, [&] { return jobs.size() >= count; });
    }

    std::vector<std::string> seen() {
        std::lock_guard lock(mutex);
        return jobs;
    }
};

// A callable target: records the call, waits at the gate, then succeeds or
// throws.
struct test_target {
    std::shared_ptr<sink_state> state;

    void operator()(const chime::report& r) const {
        std::unique_lock lock(state->mutex);
        state->jobs.push_back(r.job);
        state->times.push_back(clock_type::now());
        state->changed.notify_all();
        state->changed.wait(lock, [&] { return state->open; });
        if (state->failures_left != 0) {
            if (state->failures_left > 0) {
                --state->failures_left;
            }
            throw chime::error("test sink rejected " + r.job);
        }
    }
};

// A report sink with a retries member, as webhook_sink has.
struct retrying_sink {
    static constexpr std::string_view kind = "retrying";
    static retrying_sink from_json(const nlohmann::json&) { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    void deliver(const chime::report& r) { target(r); }

    test_target target;
    unsigned retries = 0;
};

// A report sink without one.
struct plain_sink {
    static constexpr std::string_view kind = "plain";
    static plain_sink from_json(const nlohmann::json&) { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    void deliver(const chime::report& r) { target(r); }

    test_target target;
};

using function_dispatcher = sink_dispatcher<test_target>;

dispatcher_settings quick_settings(const std::shared_ptr<spdlog::logger>& logger) {
    dispatcher_settings settings;
    settings.initial_delay = 1ms;
    settings.max_delay = 1ms;
    settings.drop_log_interval = 0ms;
    settings.logger = logger;
    return settings;
}

template<class Dispatcher, class Predicate>
bool wait_for(const Dispatcher& dispatcher, Predicate predicate) {
    return dispatcher.wait_until(predicate, clock_type::now() + patience);
}

// Every report is in exactly one state.
bool balanced(const dispatch_counters& c) {
    return c.submitted == c.delivered + c.failed + c.dropped + c.pending + c.in_progress;
}

} // namespace

static_assert(chime::delivery_target<test_target>);
static_assert(chime::delivery_target<chime::sink_registry<retrying_sink, plain_sink>::variant>);
static_assert(!chime::delivery_target<std::variant<int, plain_sink>>);

TEST_CASE("dispatcher backoff doubles up to the maximum", "[dispatcher]") {
    dispatcher_settings settings;
    settings.initial_delay = 100ms;
    settings.max_delay = 1000ms;
    CHECK(settings.delay_before(1) == 100ms);
    CHECK(settings.delay_before(2) == 200ms);
    CHECK(settings.delay_before(3) == 400ms);
    CHECK(settings.delay_before(4) == 800ms);
    CHECK(settings.delay_before(5) == 1000ms);
    CHECK(settings.delay_before(4'000'000'000u) == 1000ms);

    settings.initial_delay = 0ms;
    CHECK(settings.delay_before(4'000'000'000u) == 0ms);
}

TEST_CASE("dispatcher settings are checked", "[dispatcher]") {
    dispatcher_settings settings;
    settings.capacity = 0;
    CHECK_THROWS_WITH(function_dispatcher(settings),
                      "sink dispatcher: \"capacity\" is 0; it must be at least 1");
    settings = {};
    settings.attempts = 0;
    CHECK_THROWS_AS(function_dispatcher(settings), chime::invalid_input);
    settings = {};
    settings.max_delay = 1ms;
    CHECK_THROWS_WITH(function_dispatcher(settings),
                      "sink dispatcher: the delays must satisfy 0 <= initial_delay <= max_delay <= "
                      "24 h, got initial_delay 1000 ms and max_delay 1 ms");
    settings.max_delay = std::chrono::hours{25};
    CHECK_THROWS_AS(function_dispatcher(settings), chime::invalid_input);
}

TEST_CASE("dispatcher delivers in submission order", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-order");
    auto state = std::make_shared<sink_state>();
    function_dispatcher dispatcher(quick_settings(capture.logger()));
    for (const char* job : {"a", "b", "c"}) {
        CHECK(dispatcher.submit(test_target{state}, report_for(job)));
    }
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.delivered == 3; }));
    CHECK(state->seen() == std::vector<std::string>{"a", "b", "c"});
    const auto c = dispatcher.counters();
    CHECK(c.submitted == 3);
    CHECK(c.failed == 0);
    CHECK(c.dropped == 0);
    CHECK(balanced(c));
}

TEST_CASE("dispatcher submit returns while a sink is blocked", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-blocked");
    auto state = std::make_shared<sink_state>();
    state->close_gate();
    function_dispatcher dispatcher(quick_settings(capture.logger()));

    dispatcher.submit(test_target{state}, report_for("first"));
    REQUIRE(state->wait_for_calls(1));
    auto second = std::async(std::launch::async, [&] {
        return dispatcher.submit(test_target{state}, report_for("second"));
    });
    REQUIRE(second.wait_for(patience) == std::future_status::ready);
    CHECK(second.get());

    const auto c = dispatcher.counters();
    CHECK(c.in_progress == 1);
    CHECK(c.pending == 1);
    CHECK(balanced(c));

    state->open_gate();
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.delivered == 2; }));
}

TEST_CASE("dispatcher drops the oldest when full", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-full");
    auto state = std::make_shared<sink_state>();
    state->close_gate();
    auto settings = quick_settings(capture.logger());
    settings.capacity = 2;
    function_dispatcher dispatcher(settings);

    dispatcher.submit(test_target{state}, report_for("job-1"));
    REQUIRE(state->wait_for_calls(1));
    for (const char* job : {"job-2", "job-3", "job-4", "job-5"}) {
        CHECK(dispatcher.submit(test_target{state}, report_for(job)));
    }
    auto c = dispatcher.counters();
    CHECK(c.dropped == 2);
    CHECK(c.pending == 2);
    CHECK(balanced(c));

    state->open_gate();
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.delivered == 3; }));
    CHECK(state->seen() == std::vector<std::string>{"job-1", "job-4", "job-5"});

    const auto log = capture.text();
    CHECK_THAT(log, Catch::Contains("sink delivery dropped: job=\"job-2\" sink=function because "
                                    "the queue is full (capacity 2); 1 dropped in all"));
    CHECK_THAT(log, Catch::Contains("sink delivery dropped: job=\"job-3\" sink=function because "
                                    "the queue is full (capacity 2); 2 dropped in all"));
}

TEST_CASE("dispatcher counts drops it does not log", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-rate");
    auto state = std::make_shared<sink_state>();
    state->close_gate();
    auto settings = quick_settings(capture.logger());
    settings.capacity = 1;
    settings.drop_log_interval = std::chrono::hours{1};
    function_dispatcher dispatcher(settings);

    dispatcher.submit(test_target{state}, report_for("running"));
    REQUIRE(state->wait_for_calls(1));
    for (int i = 0; i < 5; ++i) {
        dispatcher.submit(test_target{state}, report_for("queued-" + std::to_string(i)));
    }
    CHECK(dispatcher.counters().dropped == 4);
    state->open_gate();
    const auto summary = dispatcher.stop(patience);

    CHECK(summary.totals.dropped == 4);
    CHECK(summary.totals.delivered == 2);
    const auto lines = capture.lines();
    std::size_t drop_lines = 0;
    for (const auto& line : lines) {
        drop_lines += line.find("sink delivery dropped") != std::string::npos;
    }
    CHECK(drop_lines == 1);
    CHECK_THAT(capture.text(),
               Catch::Contains("sink dispatcher stopped: 2 delivered, 0 failed, 4 dropped of 6 "
                               "submitted"));
}

TEST_CASE("dispatcher retries with growing delays", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-backoff");
    auto state = std::make_shared<sink_state>();
    state->failures_left = 2;
    auto settings = quick_settings(capture.logger());
    settings.attempts = 3;
    settings.initial_delay = 20ms;
    settings.max_delay = 30ms;
    function_dispatcher dispatcher(settings);

    dispatcher.submit(test_target{state}, report_for("flaky"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.delivered == 1; }));

    const auto c = dispatcher.counters();
    CHECK(c.retries == 2);
    CHECK(c.failed == 0);
    REQUIRE(state->times.size() == 3);
    CHECK(state->times[1] - state->times[0] >= 20ms);
    CHECK(state->times[2] - state->times[1] >= 30ms);

    const auto log = capture.text();
    CHECK_THAT(log, Catch::Contains("sink delivery failed: job=\"flaky\" sink=function attempt 1 "
                                    "of 3 error=\"test sink rejected flaky\"; retrying in 20 ms"));
    CHECK_THAT(log, Catch::Contains("attempt 2 of 3 error=\"test sink rejected flaky\"; retrying "
                                    "in 30 ms"));
}

TEST_CASE("dispatcher gives up after the last attempt", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-give-up");
    auto state = std::make_shared<sink_state>();
    state->failures_left = -1;
    auto settings = quick_settings(capture.logger());
    settings.attempts = 2;
    function_dispatcher dispatcher(settings);

    dispatcher.submit(test_target{state}, report_for("broken"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.failed == 1; }));
    CHECK(state->seen().size() == 2);
    CHECK(dispatcher.counters().retries == 1);
    CHECK_THAT(capture.text(),
               Catch::Contains("attempt 2 of 2 error=\"test sink rejected broken\"; "
                               "giving up"));
}

TEST_CASE("dispatcher keeps other reports moving during a backoff", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-overtake");
    auto failing = std::make_shared<sink_state>();
    failing->failures_left = -1;
    auto working = std::make_shared<sink_state>();
    auto settings = quick_settings(capture.logger());
    settings.initial_delay = std::chrono::hours{1};
    settings.max_delay = std::chrono::hours{1};
    function_dispatcher dispatcher(settings);

    dispatcher.submit(test_target{failing}, report_for("waiting-to-retry"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.retries == 1; }));
    dispatcher.submit(test_target{working}, report_for("on-time"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.delivered == 1; }));
    CHECK(working->seen() == std::vector<std::string>{"on-time"});
    CHECK(dispatcher.counters().pending == 1);
}

TEST_CASE("dispatcher reads retries from the sink", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-retries");
    auto state = std::make_shared<sink_state>();
    state->failures_left = -1;
    auto settings = quick_settings(capture.logger());
    settings.attempts = 5;
    using sinks = chime::sink_registry<retrying_sink, plain_sink>;
    sink_dispatcher<sinks::variant> dispatcher(settings);

    dispatcher.submit(retrying_sink{test_target{state}, 1}, report_for("with-retries"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.failed == 1; }));
    CHECK(state->seen().size() == 2);

    dispatcher.submit(plain_sink{test_target{state}}, report_for("default-attempts"));
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.failed == 2; }));
    CHECK(state->seen().size() == 2 + 5);
    CHECK_THAT(capture.text(),
               Catch::Contains("job=\"with-retries\" sink=retrying attempt 2 of 2"));
    CHECK_THAT(capture.text(),
               Catch::Contains("job=\"default-attempts\" sink=plain attempt 5 of 5"));
}

TEST_CASE("dispatcher stop ends during a long backoff", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-stop-backoff");
    auto state = std::make_shared<sink_state>();
    state->failures_left = -1;
    auto settings = quick_settings(capture.logger());
    settings.initial_delay = std::chrono::hours{1};
    settings.max_delay = std::chrono::hours{1};
    function_dispatcher dispatcher(settings);

    for (const char* job : {"a", "b", "c"}) {
        dispatcher.submit(test_target{state}, report_for(job));
    }
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.retries == 3; }));
    const auto start = clock_type::now();
    const auto summary = dispatcher.stop(std::chrono::minutes{10});
    CHECK(clock_type::now() - start < patience);

    CHECK(summary.dropped_at_stop == 3);
    CHECK(summary.totals.dropped == 3);
    CHECK(summary.totals.delivered == 0);
    CHECK(balanced(summary.totals));
    CHECK_THAT(capture.text(),
               Catch::Contains("sink dispatcher stopping: dropped 3 waiting deliveries after a "
                               "grace of 600000 ms: \"a\", \"b\", \"c\""));
}

TEST_CASE("dispatcher stop waits for the running delivery", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-stop-running");
    auto state = std::make_shared<sink_state>();
    state->close_gate();
    function_dispatcher dispatcher(quick_settings(capture.logger()));

    dispatcher.submit(test_target{state}, report_for("running"));
    REQUIRE(state->wait_for_calls(1));
    dispatcher.submit(test_target{state}, report_for("waiting-1"));
    dispatcher.submit(test_target{state}, report_for("waiting-2"));

    auto stopped = std::async(std::launch::async, [&] { return dispatcher.stop(10ms); });
    // The grace ends while the first delivery is held, so the two waiting
    // ones are dropped; stop() still waits for the held one.
    REQUIRE(wait_for(dispatcher, [](const dispatch_counters& c) { return c.dropped == 2; }));
    CHECK(stopped.wait_for(0s) == std::future_status::timeout);
    state->open_gate();
    REQUIRE(stopped.wait_for(patience) == std::future_status::ready);

    const auto summary = stopped.get();
    CHECK(summary.dropped_at_stop == 2);
    CHECK(summary.totals.delivered == 1);
    CHECK(summary.totals.dropped == 2);
    CHECK(balanced(summary.totals));
    CHECK(state->seen() == std::vector<std::string>{"running"});
}

TEST_CASE("dispatcher stop delivers what is queued", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-drain");
    auto state = std::make_shared<sink_state>();
    function_dispatcher dispatcher(quick_settings(capture.logger()));
    for (int i = 0; i < 20; ++i) {
        dispatcher.submit(test_target{state}, report_for("job-" + std::to_string(i)));
    }
    const auto summary = dispatcher.stop(patience);
    CHECK(summary.totals.delivered == 20);
    CHECK(summary.dropped_at_stop == 0);
}

TEST_CASE("dispatcher rejects reports after stop", "[dispatcher]") {
    captured_logger capture("chime-dispatcher-after-stop");
    auto state = std::make_shared<sink_state>();
    function_dispatcher dispatcher(quick_settings(capture.logger()));
    dispatcher.stop(0ms);

    CHECK_FALSE(dispatcher.submit(test_target{state}, report_for("late")));
    const auto c = dispatcher.counters();
    CHECK(c.submitted == 1);
    CHECK(c.dropped == 1);
    CHECK(balanced(c));
    CHECK(state->seen().empty());
    CHECK_THAT(capture.text(), Catch::Contains("sink delivery dropped: job=\"late\" sink=function "
                                               "because the dispatcher is stopping"));
    CHECK(dispatcher.stop(0ms).totals.dropped == 1);
}
