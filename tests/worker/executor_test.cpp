// Tests of chime::executor with a real ZeroMQ inproc PULL socket. Reports
// come back with their run ids, and a task's exception becomes a failed
// report. A run past its deadline is timed out, and cancel() reaches the
// stop token. 100,000 no-op runs each come back exactly once, and the
// destructor joins running tasks.
#include <chime/zmq/executor.hpp>

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A PULL socket bound to a fresh inproc endpoint, as the worker loop owns one.
struct loop_socket {
    zmq::context_t context;
    zmq::socket_t pull{context, zmq::socket_type::pull};
    std::string endpoint;

    loop_socket() {
        static std::atomic<int> counter{0};
        endpoint = "inproc://executor-test-" + std::to_string(counter++);
        pull.bind(endpoint);
    }
};

// Polls `pull` and drains `pool` until `expected` reports have come, or 30 s
// have passed. Counts every report per run id, so that duplicates show.
std::map<chime::run_id, std::vector<chime::report>>
collect(chime::executor& pool, zmq::socket_t& pull, std::size_t expected) {
    std::map<chime::run_id, std::vector<chime::report>> reports;
    std::size_t received = 0;
    const auto give_up = steady::now() + 30s;
    while (received < expected && steady::now() < give_up) {
        std::vector<zmq::pollitem_t> items = {{static_cast<void*>(pull), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 100ms);
        received += pool.drain(pull, [&](chime::run_id id, chime::report&& r) {
            reports[id].push_back(std::move(r));
        });
    }
    return reports;
}

chime::run_request request(chime::run_id id, std::function<chime::report(chime::run_context&)> work) {
    chime::run_request r;
    r.id = id;
    r.work = std::move(work);
    r.job = "job-" + std::to_string(id);
    return r;
}

// Waits on the run's stop token for at most 30 s. Returns true when the stop came.
bool wait_for_stop(chime::run_context& context) {
    std::mutex mutex;
    std::condition_variable_any never_notified;
    std::unique_lock lock(mutex);
    return never_notified.wait_for(lock, context.stop, 30s, [] { return false; }) ||
           context.stop.stop_requested();
}

} // namespace

TEST_CASE("executor returns the report with its run id", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {2, loop.endpoint});
    auto r = request(7, [](chime::run_context& context) {
        context.output.write("written to the buffer");
        chime::report result;
        result.exit_code = 0;
        return result;
    });
    r.scheduled = chime::instant{std::chrono::seconds{1'700'000'000}};
    r.output_cap = 8;
    pool.submit(std::move(r));

    auto reports = collect(pool, loop.pull, 1);
    REQUIRE(reports[7].size() == 1);
    const auto& report = reports[7].front();
    CHECK(report.status == chime::run_status::succeeded);
    CHECK(report.job == "job-7");
    CHECK(report.scheduled == chime::instant{std::chrono::seconds{1'700'000'000}});
    CHECK(report.output == "written ");
    CHECK(report.output_truncated);
    REQUIRE(report.started);
    REQUIRE(report.finished);
    CHECK(*report.started <= *report.finished);
    CHECK(pool.running() == 0);
}

TEST_CASE("executor turns exceptions into failed reports", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {2, loop.endpoint});
    std::vector<chime::run_request> runs;
    runs.push_back(request(1, [](chime::run_context&) -> chime::report {
        throw std::runtime_error("disk full");
    }));
    runs.push_back(request(2, [](chime::run_context& context) -> chime::report {
        context.output.write("before the throw\n");
        throw 42;
    }));
    runs.push_back(request(3, nullptr));
    pool.submit(runs);

    auto reports = collect(pool, loop.pull, 3);
    REQUIRE(reports[1].size() == 1);
    CHECK(reports[1].front().status == chime::run_status::failed);
    CHECK(reports[1].front().error == "disk full");
    REQUIRE(reports[2].size() == 1);
    CHECK(reports[2].front().status == chime::run_status::failed);
    CHECK(reports[2].front().error ==
          "the task threw an exception that is not derived from std::exception");
    CHECK(reports[2].front().output == "before the throw\n");
    REQUIRE(reports[3].size() == 1);
    CHECK(reports[3].front().status == chime::run_status::failed);
    CHECK(reports[3].front().error == "bad_function_call");
}

TEST_CASE("run past its deadline is timed out", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {1, loop.endpoint});
    auto late = request(1, [](chime::run_context& context) {
        // Waits until just after the deadline, then claims success.
        std::mutex mutex;
        std::condition_variable never_notified;
        std::unique_lock lock(mutex);
        never_notified.wait_until(lock, context.deadline + 5ms, [] { return false; });
        return chime::report{};
    });
    late.timeout = 50ms;
    auto quick = request(2, [](chime::run_context&) { return chime::report{}; });
    quick.timeout = 30s;
    auto unlimited = request(3, [](chime::run_context& context) {
        chime::report r;
        r.status = context.deadline == steady::time_point::max() ? chime::run_status::succeeded
                                                                 : chime::run_status::failed;
        return r;
    });
    pool.submit(std::move(late));
    pool.submit(std::move(quick));
    pool.submit(std::move(unlimited));

    auto reports = collect(pool, loop.pull, 3);
    REQUIRE(reports[1].size() == 1);
    CHECK(reports[1].front().status == chime::run_status::timed_out);
    CHECK(reports[1].front().error == "ran past its timeout of 50 ms");
    REQUIRE(reports[2].size() == 1);
    CHECK(reports[2].front().status == chime::run_status::succeeded);
    REQUIRE(reports[3].size() == 1);
    CHECK(reports[3].front().status == chime::run_status::succeeded);
}

TEST_CASE("cancel reaches the stop token", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {2, loop.endpoint});
    std::promise<void> started;
    std::atomic<bool> saw_stop{false};
    pool.submit(request(5, [&](chime::run_context& context) {
        started.set_value();
        saw_stop = wait_for_stop(context);
        chime::report r;
        r.status = chime::run_status::interrupted;
        return r;
    }));
    REQUIRE(started.get_future().wait_for(30s) == std::future_status::ready);
    CHECK(pool.running() == 1);
    CHECK(pool.cancel(5));

    auto reports = collect(pool, loop.pull, 1);
    CHECK(saw_stop);
    REQUIRE(reports[5].size() == 1);
    CHECK(reports[5].front().status == chime::run_status::interrupted);
    CHECK_FALSE(pool.cancel(5));
    CHECK_FALSE(pool.cancel(99));
}

TEST_CASE("next run gets a fresh stop token", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {1, loop.endpoint});
    std::promise<void> started;
    pool.submit(request(1, [&](chime::run_context& context) {
        started.set_value();
        wait_for_stop(context);
        return chime::report{};
    }));
    REQUIRE(started.get_future().wait_for(30s) == std::future_status::ready);
    REQUIRE(pool.cancel(1));
    collect(pool, loop.pull, 1);

    std::atomic<bool> stopped_at_start{true};
    pool.submit(request(2, [&](chime::run_context& context) {
        stopped_at_start = context.stop.stop_requested();
        return chime::report{};
    }));
    collect(pool, loop.pull, 1);
    CHECK_FALSE(stopped_at_start);
}

TEST_CASE("cancelled queued run is reported unstarted", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {1, loop.endpoint});
    std::promise<void> started;
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<bool> queued_ran{false};
    pool.submit(request(1, [&, released](chime::run_context&) {
        started.set_value();
        released.wait_for(30s);
        return chime::report{};
    }));
    pool.submit(request(2, [&](chime::run_context&) {
        queued_ran = true;
        return chime::report{};
    }));
    REQUIRE(started.get_future().wait_for(30s) == std::future_status::ready);
    CHECK(pool.running() == 2);
    CHECK(pool.cancel(2));
    CHECK_FALSE(pool.cancel(2));
    release.set_value();

    auto reports = collect(pool, loop.pull, 2);
    CHECK_FALSE(queued_ran);
    REQUIRE(reports[2].size() == 1);
    CHECK(reports[2].front().status == chime::run_status::interrupted);
    CHECK(reports[2].front().error == "cancelled before it started");
    CHECK(reports[2].front().job == "job-2");
    REQUIRE(reports[1].size() == 1);
    CHECK(reports[1].front().status == chime::run_status::succeeded);
}

TEST_CASE("100,000 no-op runs come back exactly once", "[executor]") {
    constexpr std::size_t total = 100'000;
    loop_socket loop;
    chime::executor pool(loop.context, {2, loop.endpoint});
    const auto no_op = [](chime::run_context&) { return chime::report{}; };

    std::vector<chime::run_request> batch;
    for (std::size_t first = 1; first <= total; first += 1000) {
        batch.clear();
        for (std::size_t id = first; id < first + 1000; ++id) {
            chime::run_request r;
            r.id = id;
            r.work = no_op;
            batch.push_back(std::move(r));
        }
        pool.submit(batch);
    }

    auto reports = collect(pool, loop.pull, total);
    std::size_t once = 0;
    std::size_t more_than_once = 0;
    for (const auto& [id, list] : reports) {
        once += list.size() == 1 && id >= 1 && id <= total;
        more_than_once += list.size() > 1;
    }
    CHECK(reports.size() == total);
    CHECK(once == total);
    CHECK(more_than_once == 0);
    CHECK(pool.running() == 0);
}

TEST_CASE("destructor joins running tasks", "[executor]") {
    constexpr int count = 3;
    loop_socket loop;
    std::atomic<int> started{0};
    std::atomic<int> stopped{0};
    std::atomic<int> returned{0};
    std::promise<void> all_started;
    {
        chime::executor pool(loop.context, {count, loop.endpoint});
        for (int i = 1; i <= count; ++i) {
            pool.submit(request(i, [&](chime::run_context& context) {
                if (++started == count) {
                    all_started.set_value();
                }
                stopped += wait_for_stop(context) ? 1 : 0;
                ++returned;
                return chime::report{};
            }));
        }
        REQUIRE(all_started.get_future().wait_for(30s) == std::future_status::ready);
    }
    CHECK(stopped == count);
    CHECK(returned == count);
}

TEST_CASE("shutdown leaves interrupted reports for drain", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {1, loop.endpoint});
    std::promise<void> started;
    pool.submit(request(1, [&](chime::run_context& context) {
        started.set_value();
        chime::report r;
        r.status = wait_for_stop(context) ? chime::run_status::interrupted
                                          : chime::run_status::succeeded;
        return r;
    }));
    pool.submit(request(2, [](chime::run_context&) { return chime::report{}; }));
    REQUIRE(started.get_future().wait_for(30s) == std::future_status::ready);
    pool.shutdown();

    std::map<chime::run_id, chime::report> reports;
    auto handed = pool.drain(loop.pull, [&](chime::run_id id, chime::report&& r) {
        reports[id] = std::move(r);
    });
    CHECK(handed == 2);
    CHECK(reports[1].status == chime::run_status::interrupted);
    CHECK(reports[2].status == chime::run_status::interrupted);
    CHECK(reports[2].error == "cancelled before it started");
    CHECK_THROWS_AS(pool.submit(request(3, nullptr)), chime::error);
}

TEST_CASE("drain keeps reports after a throwing handler", "[executor]") {
    loop_socket loop;
    chime::executor pool(loop.context, {1, loop.endpoint});
    std::vector<chime::run_request> runs;
    for (chime::run_id id = 1; id <= 3; ++id) {
        runs.push_back(request(id, [](chime::run_context&) { return chime::report{}; }));
    }
    pool.submit(runs);
    pool.shutdown();

    std::vector<chime::run_id> seen;
    CHECK_THROWS_AS(pool.drain(loop.pull,
                               [&](chime::run_id id, chime::report&&) {
                                   seen.push_back(id);
                                   throw std::runtime_error("handler failed");
                               }),
                    std::runtime_error);
    auto handed = pool.drain(loop.pull, [&](chime::run_id id, chime::report&&) {
        seen.push_back(id);
    });
    CHECK(handed == 2);
    CHECK(seen == std::vector<chime::run_id>{1, 2, 3});
}

TEST_CASE("executor rejects an empty endpoint", "[executor]") {
    zmq::context_t context;
    CHECK_THROWS_AS(chime::executor(context, {1, ""}), chime::invalid_input);
}

TEST_CASE("executor names an endpoint it cannot connect to", "[executor]") {
    zmq::context_t context;
    CHECK_THROWS_WITH(chime::executor(context, {1, "nonsense://x"}),
                      Catch::StartsWith("executor: cannot connect to \"nonsense://x\""));
}
