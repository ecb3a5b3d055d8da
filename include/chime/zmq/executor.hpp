// The executor that the worker loop hands due runs to. A pool of threads
// runs in-process work, each run with a run_context of its own. Each
// finished run's report goes back to the loop, which learns of it from a
// ZeroMQ PULL socket that it owns and polls with its other sockets.
//
//   zmq::socket_t finished(context, zmq::socket_type::pull);
//   finished.bind("inproc://chime-finished");
//   chime::executor pool(context, {.threads = 4, .endpoint = "inproc://chime-finished"});
//   pool.submit({.id = 1, .work = [](chime::run_context&) { return chime::report{}; }});
//   // when `finished` is readable:
//   pool.drain(finished, [](chime::run_id id, chime::report&& r) { /* ... */ });
//
// Thread safety: submit, cancel, cancel_all and running may be called from
// any thread. drain must be called by the one thread that owns the PULL
// socket. shutdown and the destructor must not run at the same time as
// submit.
#pragma once

#include <chime/error.hpp>
#include <chime/report.hpp>
#include <chime/task.hpp>
#include <chime/zone.hpp>

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace chime {

// The engine's identifier of a run (the same type as in engine.hpp).
using run_id = std::uint64_t;

// One run for the executor to start.
struct run_request {
    // Returned with the report, so that the loop can match it to the run.
    run_id id = 0;

    // What runs: typically a lambda that calls run() on the job's task. An
    // exception it throws becomes a failed report.
    std::function<report(run_context&)> work;

    // The job's timeout, counted from the start of the run. Empty: no timeout.
    std::optional<std::chrono::steady_clock::duration> timeout;

    // The cap in bytes of the run's output_buffer.
    std::size_t output_cap = std::size_t{1} << 20;

    // The fire time the run was scheduled for, and the job's name, passed to
    // the task in run_context and copied into the report.
    instant scheduled{};
    std::string job;
};

struct executor_options {
    // The number of pool threads; 0 means std::thread::hardware_concurrency().
    std::size_t threads = 0;

    // The endpoint that the loop's PULL socket is bound to, such as
    // "inproc://chime-finished".
    std::string endpoint;
};

// Delivery of finished runs to the loop. Each pool thread has its own PUSH
// socket, connected to the endpoint. A finished report goes into a
// mutex-protected outbox, and only the thread that finds no doorbell
// pending sends one: an empty message. drain() receives the doorbells, then
// takes the whole outbox under the lock. So a burst of finished runs costs
// one message and one lock per drain, and no report waits behind a long run
// in the same thread, as it would if each thread batched its own reports.
// The reports never cross ZeroMQ, which keeps them in this process: the
// endpoint is normally inproc.
class executor {
public:
    // Starts the pool threads and connects their PUSH sockets to
    // options.endpoint. `context` must outlive the executor. Throws
    // invalid_input for an empty endpoint, and chime::error naming the
    // endpoint and the ZeroMQ error when a socket cannot connect.
    executor(zmq::context_t& context, executor_options options);

    // Calls shutdown(): queued runs are cancelled, running ones get a stop
    // request, and the threads are joined. Reports not yet drained are
    // destroyed with the executor; call shutdown() and drain() first to
    // collect them.
    ~executor();

    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    // Queues one run. Throws chime::error after shutdown().
    void submit(run_request run);

    // Queues several runs under one lock, moving from each element.
    // Throws chime::error after shutdown().
    void submit(std::span<run_request> runs);

    // Requests a stop of the run `id`. A queued run is marked, and the next
    // pool thread that takes it reports it as interrupted without starting
    // it. A running run's stop token is signalled; the task decides how soon
    // it returns. Returns false when the run is neither queued nor running
    // (it finished, was cancelled already, or was never submitted).
    bool cancel(run_id id);

    // Cancels every queued and running run, as cancel() does.
    void cancel_all();

    // The number of runs submitted whose reports are not yet in the outbox:
    // queued or running.
    std::size_t running() const noexcept { return running_.load(std::memory_order_relaxed); }

    std::size_t threads() const noexcept { return threads_.size(); }

    // Cancels everything, waits for the running tasks to return and joins
    // the threads. Their reports, and the interrupted reports of the queued
    // runs, stay in the outbox for drain(). Calling it twice is harmless.
    void shutdown();

    // Receives the pending doorbell messages from `pull` without blocking,
    // then calls on_finished(run_id, report&&) for each finished run, in
    // the order the runs finished. Returns the number of reports handed over.
    // Call it when `pull` is readable, and once after shutdown(). If
    // on_finished throws, the exception propagates, and the reports not yet
    // handed over come first in the next call.
    template <class F>
    std::size_t drain(zmq::socket_t& pull, F&& on_finished);

private:
    struct queued_run {
        run_request request;
        bool cancelled = false;
    };

    struct finished_run {
        run_id id;
        report result;
    };

    // The run a pool thread is executing, for cancel(). A stop_source is kept
    // until a stop is requested on it, so that most runs reuse it rather
    // than allocate a new one.
    struct slot {
        bool busy = false;
        run_id current = 0;
        std::stop_source source;
    };

    void work(std::size_t index);
    report execute(run_request& request, std::stop_token stop);
    void deliver(zmq::socket_t& push, finished_run&& done);

    // Guards queue_, slots_ and stopping_.
    std::mutex queue_mutex_;
    std::condition_variable work_ready_;
    std::deque<queued_run> queue_;
    std::vector<slot> slots_;
    bool stopping_ = false;

    // Guards outbox_ and doorbell_pending_.
    std::mutex outbox_mutex_;
    std::vector<finished_run> outbox_;
    bool doorbell_pending_ = false;

    // Used by the draining thread only.
    std::vector<finished_run> taken_;
    std::size_t next_taken_ = 0;

    std::atomic<std::size_t> running_{0};
    std::vector<zmq::socket_t> pushes_;
    std::vector<std::thread> threads_;
    std::mutex shutdown_mutex_;
};

// ---------------------------------------------------------------------------
// Definitions

inline executor::executor(zmq::context_t& context, executor_options options) {
    if (options.endpoint.empty()) {
        throw invalid_input("executor: the endpoint is empty; pass the endpoint that the "
                            "loop's PULL socket is bound to, such as \"inproc://chime-finished\"");
    }
    std::size_t count = options.threads;
    if (count == 0) {
        count = std::max(1u, std::thread::hardware_concurrency());
    }

    slots_.resize(count);
    pushes_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto& push = pushes_.emplace_back(context, zmq::socket_type::push);
        // A doorbell left unread at shutdown is not needed: the loop drains
        // once more after shutdown().
        push.set(zmq::sockopt::linger, 0);
        try {
            push.connect(options.endpoint);
        } catch (const zmq::error_t& e) {
            throw error("executor: cannot connect to \"" + options.endpoint + "\": " + e.what() +
                        " (errno " + std::to_string(e.num()) + ")");
        }
    }

    threads_.reserve(count);
    try {
        for (std::size_t i = 0; i < count; ++i) {
            threads_.emplace_back([this, i] { work(i); });
        }
    } catch (...) {
        shutdown();
        throw;
    }
}

inline executor::~executor() { shutdown(); }

inline void executor::submit(run_request run) { submit(std::span<run_request>(&run, 1)); }

inline void executor::submit(std::span<run_request> runs) {
    if (runs.empty()) {
        return;
    }
    {
        std::lock_guard lock(queue_mutex_);
        if (stopping_) {
            throw error("executor: submit() was called after shutdown(); run " +
                        std::to_string(runs.front().id) + " was not queued");
        }
        for (auto& run : runs) {
            queue_.push_back(queued_run{std::move(run), false});
        }
        running_.fetch_add(runs.size(), std::memory_order_relaxed);
    }
    if (runs.size() == 1) {
        work_ready_.notify_one();
    } else {
        work_ready_.notify_all();
    }
}

inline bool executor::cancel(run_id id) {
    std::stop_source to_stop;
    {
        std::lock_guard lock(queue_mutex_);
        for (auto& queued : queue_) {
            if (queued.request.id == id && !queued.cancelled) {
                queued.cancelled = true;
                return true;
            }
        }
        auto running = std::find_if(slots_.begin(), slots_.end(), [id](const slot& s) {
            return s.busy && s.current == id;
        });
        if (running == slots_.end()) {
            return false;
        }
        to_stop = running->source;
    }
    // Outside the lock, because request_stop() runs the task's stop
    // callbacks, and one of them may call back into the executor.
    to_stop.request_stop();
    return true;
}

inline void executor::cancel_all() {
    std::vector<std::stop_source> to_stop;
    {
        std::lock_guard lock(queue_mutex_);
        for (auto& queued : queue_) {
            queued.cancelled = true;
        }
        for (auto& s : slots_) {
            if (s.busy) {
                to_stop.push_back(s.source);
            }
        }
    }
    for (auto& source : to_stop) {
        source.request_stop();
    }
}

inline void executor::shutdown() {
    std::lock_guard once(shutdown_mutex_);
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    cancel_all();
    work_ready_.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    // The threads are joined, so closing their sockets here is safe.
    pushes_.clear();
}

inline void executor::work(std::size_t index) {
    slot& mine = slots_[index];
    zmq::socket_t& push = pushes_[index];
    // The report of the previous run is delivered after the slot is marked
    // idle, so that cancel() returns false for a run whose report the loop
    // may already hold. Taking the next run under the same lock keeps it to
    // one lock per run.
    std::optional<finished_run> done;
    for (;;) {
        queued_run item;
        bool have_item = false;
        std::stop_token stop;
        {
            std::unique_lock lock(queue_mutex_);
            mine.busy = false;
            if (!done) {
                work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            }
            if (!queue_.empty()) {
                item = std::move(queue_.front());
                queue_.pop_front();
                have_item = true;
                if (!item.cancelled) {
                    mine.busy = true;
                    mine.current = item.request.id;
                    if (mine.source.stop_requested()) {
                        mine.source = std::stop_source{};
                    }
                    stop = mine.source.get_token();
                }
            } else if (!done) {
                return;
            }
        }

        // Nothing may escape this thread. execute() catches the task's
        // exceptions and deliver() the ZeroMQ errors, so what is left here
        // is std::bad_alloc before a report reached the outbox. That report
        // is then lost, and running() stops counting its run.
        if (done) {
            try {
                deliver(push, std::move(*done));
            } catch (...) {
                running_.fetch_sub(1, std::memory_order_relaxed);
            }
            done.reset();
        }
        if (!have_item) {
            continue;
        }
        try {
            report result;
            if (item.cancelled) {
                result.status = run_status::interrupted;
                result.error = "cancelled before it started";
                result.job = std::move(item.request.job);
                result.scheduled = item.request.scheduled;
            } else {
                result = execute(item.request, std::move(stop));
            }
            done.emplace(finished_run{item.request.id, std::move(result)});
        } catch (...) {
            running_.fetch_sub(1, std::memory_order_relaxed);
        }
    }
}

inline report executor::execute(run_request& request, std::stop_token stop) {
    using namespace std::chrono;
    using steady = steady_clock;

    output_buffer output(request.output_cap);
    const auto started = system_clock::now();
    auto deadline = steady::time_point::max();
    if (request.timeout) {
        const auto now = steady::now();
        deadline = *request.timeout < steady::time_point::max() - now ? now + *request.timeout
                                                                      : steady::time_point::max();
    }
    run_context context{std::move(stop), deadline, output, request.scheduled, request.job};

    report result;
    try {
        result = request.work(context);
    } catch (const std::exception& e) {
        result = report{};
        result.status = run_status::failed;
        result.error = e.what();
    } catch (...) {
        result = report{};
        result.status = run_status::failed;
        result.error = "the task threw an exception that is not derived from std::exception";
    }
    const auto finished = system_clock::now();

    // A task that kept running past its deadline, and did not say so
    // itself, is timed out whatever it returned.
    if (request.timeout && steady::now() > deadline &&
        (result.status == run_status::succeeded || result.status == run_status::failed)) {
        const auto limit = duration_cast<milliseconds>(*request.timeout).count();
        std::string text = "ran past its timeout of " + std::to_string(limit) + " ms";
        if (!result.error.empty()) {
            text += "; the task reported: " + result.error;
        }
        result.status = run_status::timed_out;
        result.error = std::move(text);
    }
    if (result.output.empty() && !output.text().empty()) {
        result.output = output.text();
        result.output_truncated = output.truncated();
    }
    result.job = std::move(request.job);
    result.scheduled = request.scheduled;
    result.started = floor<milliseconds>(started);
    result.finished = floor<milliseconds>(finished);
    return result;
}

inline void executor::deliver(zmq::socket_t& push, finished_run&& done) {
    bool ring = false;
    {
        std::lock_guard lock(outbox_mutex_);
        outbox_.push_back(std::move(done));
        running_.fetch_sub(1, std::memory_order_relaxed);
        if (!doorbell_pending_) {
            doorbell_pending_ = true;
            ring = true;
        }
    }
    if (ring) {
        // At most one doorbell per pool thread is ever in flight, far below
        // the high-water mark, so this send does not block or fail with
        // EAGAIN. It fails only while the context is being terminated, when
        // no loop is left to wake.
        try {
            push.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
    }
}

template <class F>
std::size_t executor::drain(zmq::socket_t& pull, F&& on_finished) {
    // The doorbells are received before the outbox is taken. A report added
    // after the take finds doorbell_pending_ false and rings again, so none
    // is left without a doorbell. A doorbell that arrives after the take
    // makes the next call return 0, which is harmless.
    zmq::message_t doorbell;
    while (pull.recv(doorbell, zmq::recv_flags::dontwait)) {
    }

    std::size_t handed = 0;
    bool outbox_taken = false;
    for (;;) {
        while (next_taken_ < taken_.size()) {
            auto& done = taken_[next_taken_++];
            on_finished(done.id, std::move(done.result));
            ++handed;
        }
        taken_.clear();
        next_taken_ = 0;
        if (outbox_taken) {
            return handed;
        }
        {
            std::lock_guard lock(outbox_mutex_);
            taken_.swap(outbox_);
            doorbell_pending_ = false;
        }
        outbox_taken = true;
    }
}

} // namespace chime
