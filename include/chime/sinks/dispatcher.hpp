// sink_dispatcher: delivers reports to sinks on a background thread, so that
// a slow or failing sink never blocks the scheduler loop. submit() only
// queues. A failed delivery is logged and retried with exponential backoff;
// when the queue is full the oldest waiting delivery is dropped, counted and
// logged. stop(grace) delivers what it can within the grace.
//
//   using sinks = chime::sink_registry<chime::mail_sink, chime::log_sink>;
//   chime::sink_dispatcher<sinks::variant> dispatcher;
//   dispatcher.submit(sinks::from_json(stored_sink), finished_report);
//   ...
//   auto summary = dispatcher.stop(std::chrono::seconds{5});
//
// A target is a report sink, a std::variant of report sinks (a registry's
// variant), or any callable taking const report&. A target with a public
// data member `retries` (webhook_sink) is tried retries + 1 times; any
// other as many times as dispatcher_settings::attempts says.
//
// One thread delivers, one report at a time, so a sink that takes its whole
// timeout delays the reports queued behind it, but never submit().
//
// Thread safety: submit(), counters() and wait_until() may be called from
// any thread. stop() and the destructor must not run at the same time as
// each other.
#pragma once

#include <chime/error.hpp>
#include <chime/report.hpp>
#include <chime/report_sink.hpp>
#include <chime/sinks/log_sink.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

namespace chime {

struct dispatcher_settings {
    // The deliveries that may wait at once, including those waiting to be
    // retried; at least 1.
    std::size_t capacity = 1000;
    // Tries per delivery, the first included, for targets without `retries`;
    // at least 1.
    unsigned attempts = 3;
    // The wait before the first retry; each further retry waits twice as
    // long as the one before, up to max_delay, which is at most 24 hours.
    std::chrono::milliseconds initial_delay{1000};
    std::chrono::milliseconds max_delay{60'000};
    // At most one log line per interval about dropped deliveries; the lines
    // in between are counted and the count appears in the next line.
    std::chrono::milliseconds drop_log_interval{10'000};
    // The logger for failures, retries and drops; null for spdlog's default
    // logger.
    std::shared_ptr<spdlog::logger> logger;

    // The wait before retry number `retry` (1 for the first retry):
    // min(initial_delay * 2^(retry - 1), max_delay).
    std::chrono::milliseconds delay_before(unsigned retry) const noexcept;

    // Throws invalid_input naming the setting that is out of range.
    void validate() const;
};

// The outcome counts of a dispatcher so far. Every submitted report is in
// exactly one of delivered, failed, dropped, pending or in_progress.
struct dispatch_counters {
    std::uint64_t submitted = 0;
    // Delivered on some attempt.
    std::uint64_t delivered = 0;
    // Given up after the last attempt failed.
    std::uint64_t failed = 0;
    // Removed unsent: by a full queue, by stop(), or submitted after stop().
    std::uint64_t dropped = 0;
    // Failed attempts that were followed by another attempt.
    std::uint64_t retries = 0;
    // Waiting, for a first attempt or for a retry.
    std::uint64_t pending = 0;
    // 1 while a delivery is running, else 0.
    std::uint64_t in_progress = 0;
};

// The result of stop().
struct dispatch_summary {
    // The deliveries that were still waiting when the grace ended.
    std::uint64_t dropped_at_stop = 0;
    // The counters after the thread ended.
    dispatch_counters totals;
};

namespace detail {

template<class T>
struct is_variant : std::false_type {};
template<class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template<class T>
struct is_sink_variant : std::false_type {};
template<class... Ts>
struct is_sink_variant<std::variant<Ts...>> : std::bool_constant<(report_sink<Ts> && ...)> {};

} // namespace detail

// A target the dispatcher can deliver to: a report sink, a std::variant of
// report sinks, or a callable taking const report&.
template<class T>
concept delivery_target = std::copy_constructible<T> &&
    (report_sink<T> || detail::is_sink_variant<T>::value || std::invocable<T&, const report&>);

static_assert(delivery_target<detail::report_sink_archetype>);
static_assert(delivery_target<std::variant<detail::report_sink_archetype>>);
static_assert(!delivery_target<int>);

template<delivery_target Target>
class sink_dispatcher {
public:
    // Starts the delivery thread. Throws invalid_input when a setting is out
    // of range.
    explicit sink_dispatcher(dispatcher_settings settings = {});

    sink_dispatcher(const sink_dispatcher&) = delete;
    sink_dispatcher& operator=(const sink_dispatcher&) = delete;

    // Calls stop() with no grace, unless stop() ran before.
    ~sink_dispatcher();

    // Queues `r` for `target` and returns without waiting. When the queue is
    // full, the oldest waiting delivery is dropped to make room. Returns
    // false, and counts the report dropped, after stop() has begun.
    bool submit(Target target, report r);

    dispatch_counters counters() const;

    // Waits until `predicate(counters())` is true or `deadline` passes, and
    // returns the last value of the predicate. For tests and for a worker
    // that drains the queue before it exits.
    template<class Predicate>
    bool wait_until(Predicate predicate, std::chrono::steady_clock::time_point deadline) const;

    // Stops accepting reports and keeps delivering for up to `grace`: retries
    // whose backoff ends within the grace are made too. It drops, counts and
    // logs what is still waiting when the grace ends, or as soon as nothing
    // waiting can be tried before then. A delivery that is running at that
    // moment is not interrupted: stop() returns when it ends, which the
    // sink's own timeout bounds. Calling stop() again returns the totals.
    dispatch_summary stop(std::chrono::milliseconds grace);

private:
    using clock = std::chrono::steady_clock;

    struct item {
        Target target;
        report r;
        std::uint64_t sequence = 0;
        unsigned attempts_made = 0;
        unsigned attempts_allowed = 1;
        clock::time_point due;
    };

    void run();
    void log_drop(const item& dropped, std::string_view why);

    dispatcher_settings settings_;
    std::shared_ptr<spdlog::logger> logger_;

    mutable std::mutex mutex_;
    // Wakes the delivery thread: a new item, or stop().
    std::condition_variable wake_;
    // Wakes wait_until() and stop(): the counters changed.
    mutable std::condition_variable changed_;
    // Ordered by sequence, so the front is the oldest.
    std::deque<item> waiting_;
    dispatch_counters counters_;
    std::uint64_t next_sequence_ = 0;
    bool accepting_ = true;
    bool quit_ = false;
    bool stopped_ = false;
    std::optional<clock::time_point> last_drop_log_;
    std::uint64_t unlogged_drops_ = 0;

    std::thread thread_;
};

// ---------------------------------------------------------------------------
// Definitions

inline std::chrono::milliseconds dispatcher_settings::delay_before(unsigned retry) const noexcept {
    auto delay = initial_delay;
    // The loop ends once the cap is reached, so a large retry number costs at
    // most 27 doublings (1 ms to 24 h), and a zero delay stays zero.
    for (unsigned i = 1; i < retry && delay < max_delay && delay.count() > 0; ++i) {
        delay *= 2;
    }
    return std::min(delay, max_delay);
}

inline void dispatcher_settings::validate() const {
    auto fail = [](const std::string& what) { throw invalid_input("sink dispatcher: " + what); };
    if (capacity < 1) {
        fail("\"capacity\" is 0; it must be at least 1");
    }
    if (attempts < 1) {
        fail("\"attempts\" is 0; it must be at least 1, the first attempt");
    }
    if (initial_delay.count() < 0 || max_delay < initial_delay ||
        max_delay > std::chrono::hours{24}) {
        fail("the delays must satisfy 0 <= initial_delay <= max_delay <= 24 h, got "
             "initial_delay " +
             std::to_string(initial_delay.count()) + " ms and max_delay " +
             std::to_string(max_delay.count()) + " ms");
    }
    if (drop_log_interval.count() < 0) {
        fail("\"drop_log_interval\" is negative");
    }
}

namespace detail {

template<class T>
concept has_retries_member = requires(const T& t) {
    { t.retries } -> std::convertible_to<unsigned>;
};

template<class T>
void deliver_to(T& target, const report& r) {
    if constexpr (is_variant<T>::value) {
        std::visit([&](auto& held) { deliver_to(held, r); }, target);
    } else if constexpr (requires { target.deliver(r); }) {
        target.deliver(r);
    } else {
        std::invoke(target, r);
    }
}

// The kind for log lines: T::kind, or "function" for a callable.
template<class T>
std::string_view kind_of_target(const T& target) {
    if constexpr (is_variant<T>::value) {
        return std::visit([](const auto& held) { return kind_of_target(held); }, target);
    } else if constexpr (requires { T::kind; }) {
        return std::string_view(T::kind);
    } else {
        return "function";
    }
}

template<class T>
unsigned attempts_of_target(const T& target, unsigned fallback) {
    if constexpr (is_variant<T>::value) {
        return std::visit([&](const auto& held) { return attempts_of_target(held, fallback); },
                          target);
    } else if constexpr (has_retries_member<T>) {
        return static_cast<unsigned>(target.retries) + 1;
    } else {
        return fallback;
    }
}

} // namespace detail

template<delivery_target Target>
sink_dispatcher<Target>::sink_dispatcher(dispatcher_settings settings)
    : settings_(std::move(settings)) {
    settings_.validate();
    logger_ = settings_.logger ? settings_.logger : spdlog::default_logger();
    thread_ = std::thread([this] { run(); });
}

template<delivery_target Target>
sink_dispatcher<Target>::~sink_dispatcher() {
    if (!stopped_) {
        stop(std::chrono::milliseconds{0});
    }
}

template<delivery_target Target>
bool sink_dispatcher<Target>::submit(Target target, report r) {
    std::optional<item> dropped;
    bool accepted = false;
    {
        std::lock_guard lock(mutex_);
        ++counters_.submitted;
        if (!accepting_) {
            ++counters_.dropped;
            dropped.emplace(item{std::move(target), std::move(r), 0, 0, 1, clock::now()});
        } else {
            if (waiting_.size() >= settings_.capacity) {
                dropped.emplace(std::move(waiting_.front()));
                waiting_.pop_front();
                ++counters_.dropped;
            }
            const unsigned attempts = detail::attempts_of_target(target, settings_.attempts);
            waiting_.push_back(item{std::move(target), std::move(r), next_sequence_++, 0,
                                    std::max(attempts, 1u), clock::now()});
            accepted = true;
        }
        counters_.pending = waiting_.size();
    }
    wake_.notify_one();
    changed_.notify_all();
    if (dropped) {
        log_drop(*dropped, accepted ? "the queue is full (capacity " +
                                          std::to_string(settings_.capacity) + ")"
                                    : std::string("the dispatcher is stopping"));
    }
    return accepted;
}

template<delivery_target Target>
dispatch_counters sink_dispatcher<Target>::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

template<delivery_target Target>
template<class Predicate>
bool sink_dispatcher<Target>::wait_until(Predicate predicate, clock::time_point deadline) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return predicate(counters_); });
}

template<delivery_target Target>
void sink_dispatcher<Target>::log_drop(const item& dropped, std::string_view why) {
    std::uint64_t total = 0;
    std::uint64_t unlogged = 0;
    {
        std::lock_guard lock(mutex_);
        const auto now = clock::now();
        if (last_drop_log_ && now - *last_drop_log_ < settings_.drop_log_interval) {
            ++unlogged_drops_;
            return;
        }
        last_drop_log_ = now;
        total = counters_.dropped;
        unlogged = std::exchange(unlogged_drops_, 0);
    }
    std::string line = "sink delivery dropped: job=" +
                       detail::quote_for_log(dropped.r.job, log_sink::max_field_bytes) +
                       " sink=" + std::string(detail::kind_of_target(dropped.target)) +
                       " because " + std::string(why) + "; " + std::to_string(total) +
                       " dropped in all";
    if (unlogged > 0) {
        line += ", " + std::to_string(unlogged) + " of them not logged one by one";
    }
    logger_->warn("{}", line);
}

template<delivery_target Target>
void sink_dispatcher<Target>::run() {
    std::unique_lock lock(mutex_);
    while (!quit_) {
        // The oldest item that is due, and the earliest time one becomes due.
        const auto now = clock::now();
        auto next = waiting_.end();
        std::optional<clock::time_point> earliest;
        for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
            if (it->due <= now) {
                next = it;
                break;
            }
            earliest = earliest ? std::min(*earliest, it->due) : it->due;
        }
        if (next == waiting_.end()) {
            if (earliest) {
                wake_.wait_until(lock, *earliest);
            } else {
                wake_.wait(lock);
            }
            continue;
        }

        item current = std::move(*next);
        waiting_.erase(next);
        counters_.pending = waiting_.size();
        counters_.in_progress = 1;
        lock.unlock();

        std::optional<std::string> failure;
        try {
            detail::deliver_to(current.target, current.r);
        } catch (const std::exception& e) {
            failure = e.what();
        } catch (...) {
            failure = "an exception that is not a std::exception";
        }
        ++current.attempts_made;

        lock.lock();
        const bool retry = failure && current.attempts_made < current.attempts_allowed && !quit_;
        lock.unlock();

        // The line is logged before the counters change, so that a caller who
        // waits for a counter finds the line in the log.
        const auto delay = settings_.delay_before(current.attempts_made);
        if (failure) {
            std::string line = "sink delivery failed: job=" +
                               detail::quote_for_log(current.r.job, log_sink::max_field_bytes) +
                               " sink=" + std::string(detail::kind_of_target(current.target)) +
                               " attempt " + std::to_string(current.attempts_made) + " of " +
                               std::to_string(current.attempts_allowed) +
                               " error=" + detail::quote_for_log(*failure, 1000);
            if (retry) {
                line += "; retrying in " + std::to_string(delay.count()) + " ms";
            } else if (current.attempts_made < current.attempts_allowed) {
                line += "; giving up because the dispatcher is stopping";
            } else {
                line += "; giving up";
            }
            logger_->error("{}", line);
        }

        lock.lock();
        counters_.in_progress = 0;
        // stop() may have begun while the line was logged.
        const bool dropped_retry = retry && quit_;
        if (!failure) {
            ++counters_.delivered;
        } else if (dropped_retry) {
            ++counters_.dropped;
        } else if (retry) {
            current.due = clock::now() + delay;
            ++counters_.retries;
            // Back in sequence order, so a full queue still drops the oldest first.
            auto position = std::lower_bound(
                waiting_.begin(), waiting_.end(), current.sequence,
                [](const item& i, std::uint64_t sequence) { return i.sequence < sequence; });
            waiting_.insert(position, std::move(current));
            counters_.pending = waiting_.size();
        } else {
            ++counters_.failed;
        }
        changed_.notify_all();
        if (dropped_retry) {
            lock.unlock();
            log_drop(current, "the dispatcher is stopping");
            lock.lock();
        }
    }
}

template<delivery_target Target>
dispatch_summary sink_dispatcher<Target>::stop(std::chrono::milliseconds grace) {
    if (stopped_) {
        return {0, counters()};
    }
    const auto deadline = clock::now() + grace;
    std::deque<item> dropped;
    {
        std::unique_lock lock(mutex_);
        accepting_ = false;
        // Done when nothing runs and nothing waiting comes due within the grace.
        changed_.wait_until(lock, deadline, [&] {
            return counters_.in_progress == 0 &&
                   std::none_of(waiting_.begin(), waiting_.end(),
                                [&](const item& i) { return i.due <= deadline; });
        });
        quit_ = true;
        dropped.swap(waiting_);
        counters_.dropped += dropped.size();
        counters_.pending = 0;
    }
    wake_.notify_one();
    changed_.notify_all();

    if (!dropped.empty()) {
        std::string jobs;
        for (std::size_t i = 0; i < dropped.size() && i < 10; ++i) {
            jobs += (i == 0 ? "" : ", ") +
                    detail::quote_for_log(dropped[i].r.job, log_sink::max_field_bytes);
        }
        if (dropped.size() > 10) {
            jobs += " and " + std::to_string(dropped.size() - 10) + " more";
        }
        logger_->warn("sink dispatcher stopping: dropped {} waiting deliveries after a grace of "
                      "{} ms: {}",
                      dropped.size(), grace.count(), jobs);
    }
    thread_.join();
    stopped_ = true;

    const auto totals = counters();
    logger_->info("sink dispatcher stopped: {} delivered, {} failed, {} dropped of {} submitted",
                  totals.delivered, totals.failed, totals.dropped, totals.submitted);
    return {dropped.size(), totals};
}

} // namespace chime
