// The engine: a pure, single-threaded state machine that decides which runs
// start, which are missed and which are skipped. It has no clock and does no
// I/O. The caller passes the current instant to each operation, starts the
// runs that due() returns, and reports back with finished().
//
//   chime::engine<chime::default_triggers> e;
//   e.add(1, {chime::cron_trigger("*/5 * * * *"), {}}, now);
//   for (auto& d : e.due(now)) { ... }          // start, missed, skipped, cancel
//   e.finished(run, chime::run_status::failed, now); // may schedule a retry
//   auto wake = e.next_wakeup();                // when to call due() again
//
// Rules applied per job (run_policy): misfire grace time, coalescing,
// catch-up after downtime, overlap, retries with backoff, and the timeout
// handed to the executor. Every decision carries a reason for the history.
//
// Thread safety: none; one thread owns an engine. Triggers are called from
// that thread only.
#pragma once

#include <chime/hierarchical_wheel.hpp>
#include <chime/iso8601.hpp>
#include <chime/report.hpp>
#include <chime/run_policy.hpp>
#include <chime/timer_queue.hpp>
#include <chime/trigger.hpp>
#include <chime/zone.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace chime {

// The caller's identifier of a job, typically the store's row id.
using job_id = std::uint64_t;

// An identifier the engine gives each run it starts, unique per engine and
// increasing from 1.
using run_id = std::uint64_t;

enum class decision_kind : std::uint8_t {
    start,   // start a run now; report its end with finished()
    missed,  // fire times found too late (beyond the misfire grace time)
    skipped, // fire times not run because of coalescing, overlap or a pause
    cancel,  // ask the executor to stop a running run (overlap_mode::replace)
};

// The reason a run exists.
enum class run_cause : std::uint8_t {
    schedule, // a fire time of the trigger
    catch_up, // a fire time that passed while the worker was not running
    run_now,  // a run-now request
    retry,    // a retry of a failed run
    at_start, // the trigger fires when the worker starts (@reboot)
};

std::string_view to_string(decision_kind k) noexcept;
std::string_view to_string(run_cause c) noexcept;

// One decision of the engine. A missed or skipped decision may cover a range
// of fire times of one job (`count` of them, from `scheduled` to
// `last_scheduled`), so a job that fires every second does not produce a
// million records after a month of downtime.
struct decision {
    decision_kind kind = decision_kind::start;
    job_id job = 0;
    // start: the new run; cancel: the run to stop; 0 otherwise.
    run_id run = 0;
    instant scheduled{};
    instant last_scheduled{};
    std::uint64_t count = 1;
    // True when more fire times than `count` were covered but not counted
    // one by one (the engine stops counting at engine_limits::counted_fires).
    bool count_is_lower_bound = false;
    run_cause cause = run_cause::schedule;
    // 0 for a first attempt, n for the n-th retry.
    unsigned attempt = 0;
    // start with a timeout: the instant the executor stops the run.
    std::optional<instant> deadline;
    std::string reason;
};

// Options of engine::add for jobs loaded when the worker starts.
struct add_options {
    // The scheduled instant of the job's last handled run, from the store.
    // Fire times after it that passed before `now` are handled by the job's
    // catch-up mode. Without it, the job's first fire time is after `now`.
    std::optional<instant> last_fire;
    // True when the worker is starting, so triggers that fire at start
    // (@reboot) get their run.
    bool worker_starting = false;
};

// Bounds on the work one due() call does for one job.
struct engine_limits {
    // Runs started for one job by one due() call under coalesce_mode::all or
    // catch_up_mode::all; later fire times are recorded missed with the reason.
    static constexpr std::uint64_t max_runs_per_due = 1000;
    // Fire times counted one by one in a missed or skipped range. Beyond this
    // count the engine jumps to the end of the range and sets
    // count_is_lower_bound.
    static constexpr std::uint64_t counted_fires = 10000;
};

template <class Registry>
concept trigger_variant_registry = requires { typename Registry::variant; };

// Queue must also be constructible from the tick it starts at, because the
// engine rebuilds its queue after the wall clock steps backward.
template <trigger_variant_registry Triggers, timer_queue Queue = hierarchical_wheel>
    requires std::constructible_from<Queue, timer_tick>
class engine {
public:
    using trigger_type = typename Triggers::variant;

    struct job_definition {
        trigger_type trigger;
        run_policy policy;
    };

    engine() = default;

    // Adds a job. Throws invalid_input when `id` is already present or the
    // policy fails run_policy::validate().
    void add(job_id id, job_definition definition, instant now, add_options options = {});

    // Replaces the trigger and policy of a job. Runs already started go on;
    // the next fire time is computed from the new trigger, after `now` and
    // after the last fire time already handled. False when `id` is unknown.
    bool update(job_id id, job_definition definition, instant now);

    // Removes a job with its pending retry and queued run. Runs already
    // started go on; finished() still accepts them. False when unknown.
    bool remove(job_id id);

    // While a job is paused its fire times are not runs. A pending retry and
    // a queued run are dropped and recorded skipped. False when unknown.
    bool pause(job_id id, instant now);

    // Fire times resume after `now`; those that passed while paused are not
    // runs. False when `id` is unknown.
    bool resume(job_id id, instant now);

    // Requests one run now, scheduled at `now`, returned by the next due().
    // It follows the overlap rule; a paused job runs too. A second request
    // before due() is recorded skipped. False when `id` is unknown.
    bool run_now(job_id id, instant now);

    // The decisions due at `now`, in order. Each start decision is a run
    // the engine counts as running until finished() is called for it.
    std::vector<decision> due(instant now);
    void due(instant now, std::vector<decision>& out);

    // Records the end of a run. A failed or timed-out run with retries left
    // schedules a retry; a run queued behind it becomes due. False when `run`
    // is not running (unknown, or already finished).
    bool finished(run_id run, run_status status, instant now);

    // The instant at which due() has work next: the earliest fire time or
    // retry, or the `now` of the latest operation when a run is ready at once.
    // None when nothing is scheduled.
    std::optional<instant> next_wakeup() const;

    // Makes room for `jobs` jobs, so that adding them allocates only what
    // each job needs and no container grows by doubling.
    void reserve(std::size_t jobs) {
        reserved_ = jobs;
        jobs_.reserve(jobs);
        index_.reserve(jobs);
        if constexpr (requires { queue_.reserve(jobs); }) {
            queue_.reserve(jobs);
        }
    }

    bool contains(job_id id) const { return index_.contains(id); }
    std::size_t size() const noexcept { return index_.size(); }
    std::size_t running() const noexcept { return running_.size(); }

    // The next fire time of a job: none when it is unknown, paused, or its
    // trigger has no further fire time.
    std::optional<instant> next_fire(job_id id) const;
    bool paused(job_id id) const;
    // The policy of a job as the engine applies it.
    std::optional<run_policy> policy(job_id id) const;

    // How many times due() got an instant earlier than the previous due().
    std::uint64_t backward_steps() const noexcept { return backward_steps_; }

private:
    // A run policy in 32 bytes. Durations are in seconds, -1 for no limit.
    struct compact_policy {
        std::int32_t misfire_grace = 60;
        std::int32_t timeout = -1;
        std::int32_t retry_initial = 30;
        std::int32_t retry_max = 3600;
        double retry_factor = 2.0;
        std::uint16_t retry_count = 0;
        std::uint16_t max_instances = 1;
        coalesce_mode coalesce = coalesce_mode::latest;
        catch_up_mode catch_up = catch_up_mode::none;
        overlap_mode overlap = overlap_mode::skip;

        unsigned concurrency_limit() const noexcept {
            return overlap == overlap_mode::allow ? max_instances : 1u;
        }
    };

    static compact_policy compact(const run_policy& p);
    static run_policy expand(const compact_policy& p);

    // The state that few jobs need, kept apart so the common job stays small.
    struct job_extras {
        // A run waiting for the running one to finish (queue_one).
        std::optional<instant> queued_scheduled;
        run_cause queued_cause = run_cause::schedule;
        unsigned queued_attempt = 0;
        // A retry waiting in the timer queue.
        timer_id retry_timer = no_timer;
        instant retry_at{};        // when the retry starts
        instant retry_scheduled{}; // the fire time of the failed run
        unsigned retry_attempt = 0;
        run_id retry_of = 0;
        run_status retry_after = run_status::failed; // how run retry_of ended
        // A run-now request, with the instant it was made.
        std::optional<instant> run_now_at;
        bool at_start = false;
        // Fire times up to this instant passed while the worker was down.
        std::optional<instant> catch_up_until;

        bool empty() const noexcept {
            return !queued_scheduled && retry_timer == no_timer && !run_now_at && !at_start &&
                   !catch_up_until;
        }
    };

    struct job_state {
        job_id id;
        trigger_type trigger;
        compact_policy policy;
        // Counts the jobs that have used this slot, so that the run of a
        // removed job never counts against a later job in the same slot.
        // It fills the padding after `policy`.
        std::uint32_t incarnation = 0;
        // instant::max() when there is no next fire time.
        instant next_fire = instant::max();
        // Every fire time up to this instant has been decided (started,
        // missed or skipped); no run is ever started for one of them again.
        instant handled_through = instant::min();
        timer_id fire_timer = no_timer;
        // The newest running run, for overlap_mode::replace.
        run_id active_run = 0;
        std::uint16_t running = 0;
        bool live = false;
        bool paused = false;
        bool in_ready_list = false;
        bool has_extras = false;
    };

    struct running_run {
        job_id job;
        instant scheduled;
        unsigned attempt;
        bool cancel_requested;
        // The job's slot and its incarnation when the run started.
        // finished() uses the job only while both still match.
        std::uint32_t slot;
        std::uint32_t incarnation;
    };

    // The running runs by run id, in one array with linear probing, so a
    // start or a finish allocates nothing. Run ids grow by one per start and
    // an entry's home is the id modulo the capacity, so runs started
    // together are neighbours. A finished run leaves a tombstone; the array
    // is rebuilt when entries and tombstones fill three quarters of it.
    class run_table {
    public:
        struct entry {
            run_id first = 0; // 0: empty; tombstone: erased
            running_run second;
        };
        using iterator = entry*;

        iterator end() const noexcept { return nullptr; }
        std::size_t size() const noexcept { return size_; }

        iterator find(run_id run) noexcept {
            if (run == 0 || run == tombstone || entries_.empty()) {
                return nullptr;
            }
            for (std::size_t i = run & mask_;; i = (i + 1) & mask_) {
                if (entries_[i].first == run) {
                    return &entries_[i];
                }
                if (entries_[i].first == 0) {
                    return nullptr;
                }
            }
        }

        // `run` is not in the table: run ids are never reused.
        void emplace(run_id run, const running_run& r) {
            if ((size_ + erased_ + 1) * 4 > entries_.size() * 3) {
                rehash(size_ * 2 + 2 > entries_.size() ? entries_.size() * 2 : entries_.size());
            }
            std::size_t i = run & mask_;
            while (entries_[i].first != 0 && entries_[i].first != tombstone) {
                i = (i + 1) & mask_;
            }
            if (entries_[i].first == tombstone) {
                --erased_;
            }
            entries_[i].first = run;
            entries_[i].second = r;
            ++size_;
        }

        void erase(iterator it) noexcept {
            it->first = tombstone;
            ++erased_;
            --size_;
        }

    private:
        static constexpr run_id tombstone = ~run_id{0};

        void rehash(std::size_t capacity) {
            std::vector<entry> old = std::move(entries_);
            capacity = capacity < 64 ? 64 : capacity;
            entries_.assign(capacity, entry{});
            mask_ = capacity - 1;
            size_ = 0;
            erased_ = 0;
            for (const auto& e : old) {
                if (e.first != 0 && e.first != tombstone) {
                    emplace(e.first, e.second);
                }
            }
        }

        std::vector<entry> entries_;
        std::size_t mask_ = 0;
        std::size_t size_ = 0;
        std::size_t erased_ = 0;
    };

    // A fire-time range collected while walking a trigger's fire times.
    struct fire_range {
        std::uint64_t count = 0;
        bool more = false; // some fire times after the counted ones were jumped over
        instant first{}, second{}, before_last{}, last{};
        std::vector<instant>* list = nullptr; // filled up to max_runs_per_due

        void add(instant f) {
            if (count == 0) {
                first = f;
            } else if (count == 1) {
                second = f;
            }
            before_last = last;
            last = f;
            if (list != nullptr && list->size() < engine_limits::max_runs_per_due) {
                list->push_back(f);
            }
            ++count;
        }
    };

    static constexpr std::uint32_t retry_flag = 1;

    // Instants the engine works with: from 1970 to chime's search limit
    // (2400). An instant outside is moved to the nearest end, so sentinels
    // such as instant::max() and instant::min() cannot overflow the
    // arithmetic on fire times.
    static instant clamp(instant t) noexcept {
        return std::clamp(t, instant{}, search_limit);
    }

    static timer_tick tick_of(instant t) noexcept {
        auto s = t.time_since_epoch().count();
        return s <= 0 ? 0 : static_cast<timer_tick>(s);
    }
    static instant instant_of(timer_tick t) noexcept {
        return instant{std::chrono::seconds{static_cast<std::int64_t>(t)}};
    }

    std::optional<instant> trigger_next(const job_state& job, instant t) const {
        return std::visit([t](const auto& trig) { return trig.next_after(t); }, job.trigger);
    }
    static bool trigger_fires_at_start(const trigger_type& trig) {
        return std::visit(
            [](const auto& t) {
                if constexpr (detail::may_fire_at_start<std::remove_cvref_t<decltype(t)>>) {
                    return bool(t.fires_at_start());
                } else {
                    return false;
                }
            },
            trig);
    }

    job_state* find(job_id id);
    const job_state* find(job_id id) const;
    std::uint32_t slot_of(const job_state& job) const {
        return static_cast<std::uint32_t>(&job - jobs_.data());
    }
    job_extras& extras(job_state& job);
    void drop_extras_if_empty(job_state& job);

    void schedule_next(job_state& job, instant after);
    void cancel_fire_timer(job_state& job);
    void mark_ready(job_state& job);
    void note_clock(instant now);
    void rebuild_queue(instant now);

    void process_fires(job_state& job, instant now, std::vector<decision>& out);
    void disable_after_trigger_error(job_state& job, instant now, const char* what,
                                     std::vector<decision>& out);
    void settle_due_fires(job_state& job, instant now, const char* skip_reason);
    void process_retry(job_state& job, instant now, std::vector<decision>& out);
    void process_ready(job_state& job, instant now, std::vector<decision>& out);
    void walk_fires(const job_state& job, instant& f, instant through, fire_range& range);
    instant latest_fire_through(const job_state& job, instant through, instant floor) const;

    void try_start(job_state& job, instant scheduled, run_cause cause, unsigned attempt,
                   instant now, std::string reason, std::vector<decision>& out);
    void start(job_state& job, instant scheduled, run_cause cause, unsigned attempt, instant now,
               std::string reason, std::vector<decision>& out);
    static decision range_decision(decision_kind kind, const job_state& job, instant first,
                                   instant last, std::uint64_t count, bool lower_bound,
                                   run_cause cause, std::string reason);

    std::vector<job_state> jobs_;
    std::vector<std::uint32_t> free_slots_;
    std::unordered_map<job_id, std::uint32_t> index_;
    std::unordered_map<std::uint32_t, job_extras> extras_;
    run_table running_;
    std::vector<std::uint32_t> ready_;
    std::vector<decision> outbox_;
    Queue queue_;
    run_id next_run_ = 1;
    // The latest instant any operation passed, and the one due() last got.
    std::optional<instant> last_now_;
    std::optional<instant> last_due_;
    // The instant the latest operation passed, for next_wakeup().
    std::optional<instant> current_now_;
    std::size_t reserved_ = 0;
    std::uint64_t backward_steps_ = 0;

    // Scratch space reused by due().
    std::vector<std::uint32_t> popped_;
    std::vector<instant> fire_list_;
};

// ---------------------------------------------------------------------------
// Definitions

inline std::string_view to_string(decision_kind k) noexcept {
    switch (k) {
    case decision_kind::start:
        return "start";
    case decision_kind::missed:
        return "missed";
    case decision_kind::skipped:
        return "skipped";
    case decision_kind::cancel:
        return "cancel";
    }
    return "unknown";
}

inline std::string_view to_string(run_cause c) noexcept {
    switch (c) {
    case run_cause::schedule:
        return "schedule";
    case run_cause::catch_up:
        return "catch_up";
    case run_cause::run_now:
        return "run_now";
    case run_cause::retry:
        return "retry";
    case run_cause::at_start:
        return "at_start";
    }
    return "unknown";
}

namespace detail {

// "3 fire times from 2025-03-30T01:00:00Z to 2025-03-30T01:02:00Z", "the
// fire time 2025-03-30T01:00:00Z" for one, and "at least 10000 fire times
// from ... up to ..." when the range was not counted to its end.
inline std::string describe_fires(instant first, instant last, std::uint64_t count,
                                  bool lower_bound) {
    if (lower_bound) {
        return "at least " + std::to_string(count) + " fire times from " + format_utc(first) +
               " up to " + format_utc(last);
    }
    if (count == 1) {
        return "the fire time " + format_utc(first);
    }
    return std::to_string(count) + " fire times from " + format_utc(first) + " to " +
           format_utc(last);
}

} // namespace detail

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
auto engine<Triggers, Queue>::compact(const run_policy& p) -> compact_policy {
    p.validate();
    auto seconds = [](std::optional<std::chrono::seconds> d) -> std::int32_t {
        return d ? static_cast<std::int32_t>(d->count()) : -1;
    };
    compact_policy c;
    c.misfire_grace = seconds(p.misfire_grace);
    c.timeout = seconds(p.timeout);
    c.retry_initial = seconds(p.retry.initial_delay);
    c.retry_max = seconds(p.retry.max_delay);
    c.retry_factor = p.retry.factor;
    c.retry_count = static_cast<std::uint16_t>(p.retry.count);
    c.max_instances = p.max_instances;
    c.coalesce = p.coalesce;
    c.catch_up = p.catch_up;
    c.overlap = p.overlap;
    return c;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
run_policy engine<Triggers, Queue>::expand(const compact_policy& c) {
    auto seconds = [](std::int32_t s) -> std::optional<std::chrono::seconds> {
        if (s < 0) {
            return std::nullopt;
        }
        return std::chrono::seconds{s};
    };
    run_policy p;
    p.misfire_grace = seconds(c.misfire_grace);
    p.timeout = seconds(c.timeout);
    p.retry.initial_delay = std::chrono::seconds{c.retry_initial};
    p.retry.max_delay = std::chrono::seconds{c.retry_max};
    p.retry.factor = c.retry_factor;
    p.retry.count = c.retry_count;
    p.max_instances = c.max_instances;
    p.coalesce = c.coalesce;
    p.catch_up = c.catch_up;
    p.overlap = c.overlap;
    return p;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
auto engine<Triggers, Queue>::find(job_id id) -> job_state* {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &jobs_[it->second];
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
auto engine<Triggers, Queue>::find(job_id id) const -> const job_state* {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &jobs_[it->second];
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
auto engine<Triggers, Queue>::extras(job_state& job) -> job_extras& {
    job.has_extras = true;
    return extras_[slot_of(job)];
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::drop_extras_if_empty(job_state& job) {
    if (!job.has_extras) {
        return;
    }
    auto it = extras_.find(slot_of(job));
    if (it == extras_.end() || it->second.empty()) {
        if (it != extras_.end()) {
            extras_.erase(it);
        }
        job.has_extras = false;
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::note_clock(instant now) {
    if (!last_now_ && queue_.size() == 0) {
        // Start the queue at the first instant seen, not at 1970, so that the
        // first due() does not move every timer down from the far future.
        queue_ = Queue(tick_of(now));
        if constexpr (requires { queue_.reserve(reserved_); }) {
            queue_.reserve(reserved_);
        }
    }
    current_now_ = now;
    if (!last_now_ || now > *last_now_) {
        last_now_ = now;
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::cancel_fire_timer(job_state& job) {
    if (job.fire_timer != no_timer) {
        queue_.cancel(job.fire_timer);
        job.fire_timer = no_timer;
    }
}

// Computes the first fire time after both `after` and the fire times already
// handled, and puts the job's timer there.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::schedule_next(job_state& job, instant after) {
    cancel_fire_timer(job);
    auto from = std::max(after, job.handled_through);
    auto next = trigger_next(job, from);
    job.next_fire = next ? *next : instant::max();
    if (next && !job.paused) {
        job.fire_timer = queue_.schedule(tick_of(*next), slot_of(job) << 1);
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::mark_ready(job_state& job) {
    if (!job.in_ready_list) {
        job.in_ready_list = true;
        ready_.push_back(slot_of(job));
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::add(job_id id, job_definition definition, instant now,
                                  add_options options) {
    now = clamp(now);
    if (options.last_fire) {
        options.last_fire = clamp(*options.last_fire);
    }
    if (index_.contains(id)) {
        throw invalid_input("engine: a job with id " + std::to_string(id) + " already exists");
    }
    auto policy = compact(definition.policy);
    note_clock(now);

    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
        auto incarnation = jobs_[slot].incarnation + 1;
        jobs_[slot] = job_state{id, std::move(definition.trigger), policy};
        jobs_[slot].incarnation = incarnation;
    } else {
        if (jobs_.size() >= (std::uint32_t{1} << 31)) {
            throw invalid_input("engine: too many jobs (the limit is 2^31)");
        }
        slot = static_cast<std::uint32_t>(jobs_.size());
        jobs_.push_back(job_state{id, std::move(definition.trigger), policy});
    }
    index_.emplace(id, slot);
    auto& job = jobs_[slot];
    job.live = true;

    try {
        if (options.worker_starting && trigger_fires_at_start(job.trigger)) {
            extras(job).at_start = true;
            mark_ready(job);
        }

        if (options.last_fire && *options.last_fire < now) {
            // Fire times after the last handled one come due at once; those
            // beyond the grace time are the downtime that catch-up decides on.
            job.handled_through = *options.last_fire;
            extras(job).catch_up_until = now;
            schedule_next(job, *options.last_fire);
        } else {
            if (options.last_fire) {
                job.handled_through = *options.last_fire;
            }
            schedule_next(job, now);
        }
        if (job.has_extras && job.next_fire > now) {
            // No fire time passed during the downtime.
            extras(job).catch_up_until.reset();
            drop_extras_if_empty(job);
        }
    } catch (...) {
        // A trigger that throws leaves no half-added job behind.
        remove(id);
        throw;
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::update(job_id id, job_definition definition, instant now) {
    now = clamp(now);
    auto* job = find(id);
    if (job == nullptr) {
        return false;
    }
    auto policy = compact(definition.policy);
    note_clock(now);
    settle_due_fires(*job, now, nullptr);
    job->trigger = std::move(definition.trigger);
    job->policy = policy;
    if (job->has_extras) {
        // Downtime belongs to the old trigger's fire times, and a waiting
        // retry to a run of the old definition.
        auto& x = extras(*job);
        x.catch_up_until.reset();
        if (x.retry_timer != no_timer) {
            queue_.cancel(x.retry_timer);
            x.retry_timer = no_timer;
            outbox_.push_back(range_decision(decision_kind::skipped, *job, x.retry_scheduled,
                                             x.retry_scheduled, 1, false, run_cause::retry,
                                             "retry " + std::to_string(x.retry_attempt) +
                                                 " of run " + std::to_string(x.retry_of) +
                                                 " dropped: the job was updated"));
        }
        drop_extras_if_empty(*job);
    }
    schedule_next(*job, now);
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::remove(job_id id) {
    auto it = index_.find(id);
    if (it == index_.end()) {
        return false;
    }
    auto slot = it->second;
    auto& job = jobs_[slot];
    cancel_fire_timer(job);
    if (job.has_extras) {
        auto& x = extras(job);
        if (x.retry_timer != no_timer) {
            queue_.cancel(x.retry_timer);
        }
        extras_.erase(slot);
    }
    job.live = false;
    job.has_extras = false;
    job.in_ready_list = false;
    index_.erase(it);
    free_slots_.push_back(slot);
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::pause(job_id id, instant now) {
    now = clamp(now);
    auto* job = find(id);
    if (job == nullptr) {
        return false;
    }
    note_clock(now);
    if (job->paused) {
        return true;
    }
    settle_due_fires(*job, now, "skipped: the job was paused before they were handled");
    job->paused = true;
    cancel_fire_timer(*job);
    if (job->has_extras) {
        auto& x = extras(*job);
        if (x.at_start) {
            x.at_start = false;
            outbox_.push_back(range_decision(decision_kind::skipped, *job, now, now, 1, false,
                                             run_cause::at_start,
                                             "the run at worker start was dropped: the job is "
                                             "paused"));
        }
        if (x.retry_timer != no_timer) {
            queue_.cancel(x.retry_timer);
            x.retry_timer = no_timer;
            outbox_.push_back(range_decision(decision_kind::skipped, *job, x.retry_scheduled,
                                             x.retry_scheduled, 1, false, run_cause::retry,
                                             "retry " + std::to_string(x.retry_attempt) +
                                                 " of run " + std::to_string(x.retry_of) +
                                                 " dropped: the job was paused"));
        }
        if (x.queued_scheduled) {
            outbox_.push_back(range_decision(decision_kind::skipped, *job, *x.queued_scheduled,
                                             *x.queued_scheduled, 1, false, x.queued_cause,
                                             "queued run dropped: the job was paused"));
            x.queued_scheduled.reset();
        }
        // Downtime catch-up is dropped too; fire times resume after resume().
        x.catch_up_until.reset();
        drop_extras_if_empty(*job);
    }
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::resume(job_id id, instant now) {
    now = clamp(now);
    auto* job = find(id);
    if (job == nullptr) {
        return false;
    }
    note_clock(now);
    if (!job->paused) {
        return true;
    }
    job->paused = false;
    schedule_next(*job, now);
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::run_now(job_id id, instant now) {
    now = clamp(now);
    auto* job = find(id);
    if (job == nullptr) {
        return false;
    }
    note_clock(now);
    auto& x = extras(*job);
    if (x.run_now_at) {
        outbox_.push_back(range_decision(decision_kind::skipped, *job, now, now, 1, false,
                                         run_cause::run_now,
                                         "run-now request ignored: the request made at " +
                                             format_utc(*x.run_now_at) + " is still pending"));
        return true;
    }
    x.run_now_at = now;
    mark_ready(*job);
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
std::vector<decision> engine<Triggers, Queue>::due(instant now) {
    std::vector<decision> out;
    due(now, out);
    return out;
}

// Rebuilds the timer queue from the jobs' own state. Timer queues never move
// backward in time, so after the wall clock steps back the queue starts anew
// at `now`. Each job keeps its next fire time and its handled_through mark,
// and that mark keeps runs that already ran from running again.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::rebuild_queue(instant now) {
    Queue fresh(tick_of(now));
    for (auto& job : jobs_) {
        if (!job.live) {
            continue;
        }
        job.fire_timer = no_timer;
        if (!job.paused && job.next_fire != instant::max()) {
            job.fire_timer = fresh.schedule(tick_of(job.next_fire), slot_of(job) << 1);
        }
        if (job.has_extras) {
            auto& x = extras(job);
            if (x.retry_timer != no_timer) {
                x.retry_timer =
                    fresh.schedule(tick_of(x.retry_at), (slot_of(job) << 1) | retry_flag);
            }
        }
    }
    queue_ = std::move(fresh);
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::due(instant now, std::vector<decision>& out) {
    now = clamp(now);
    if (last_due_ && now < *last_due_) {
        ++backward_steps_;
    }
    last_due_ = now;
    if (tick_of(now) < queue_.now()) {
        rebuild_queue(now);
    }
    note_clock(now);

    for (auto& d : outbox_) {
        out.push_back(std::move(d));
    }
    outbox_.clear();

    // Runs that wait for nothing but their turn: at start, run now, and runs
    // queued behind a run that has finished.
    auto ready = std::move(ready_);
    ready_.clear();
    for (auto slot : ready) {
        auto& job = jobs_[slot];
        if (job.live && job.in_ready_list) {
            job.in_ready_list = false;
            process_ready(job, now, out);
        }
    }

    popped_.clear();
    queue_.pop_expired(tick_of(now), [this](timer_id, timer_tick, std::uint32_t payload) {
        popped_.push_back(payload);
    });
    // The timers fire in no useful memory order, so each job's state is a
    // cache miss. Prefetching it a few jobs ahead overlaps those misses.
    constexpr std::size_t prefetch_distance = 8;
    for (std::size_t i = 0; i < popped_.size(); ++i) {
        if (i + prefetch_distance < popped_.size()) {
            const auto* ahead =
                reinterpret_cast<const char*>(&jobs_[popped_[i + prefetch_distance] >> 1]);
#if defined(__GNUC__)
            for (std::size_t line = 0; line < sizeof(job_state); line += 64) {
                __builtin_prefetch(ahead + line);
            }
#else
            (void)ahead;
#endif
        }
        auto payload = popped_[i];
        auto& job = jobs_[payload >> 1];
        if ((payload & retry_flag) != 0) {
            process_retry(job, now, out);
            continue;
        }
        job.fire_timer = no_timer;
        try {
            process_fires(job, now, out);
        } catch (const std::exception& e) {
            disable_after_trigger_error(job, now, e.what(), out);
        }
    }
}

// Counts the fire times from `f` up to `through` into `range`, leaving `f` at
// the first fire time after `through` (or max when there is none). Stops
// counting one by one after engine_limits::counted_fires and jumps.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::walk_fires(const job_state& job, instant& f, instant through,
                                         fire_range& range) {
    while (f <= through) {
        if (range.count >= engine_limits::counted_fires) {
            // Stop counting: find the latest fire time up to `through` and go on
            // from there. The fire time before it is only known to be earlier.
            range.more = true;
            range.last = latest_fire_through(job, through, range.last);
            range.before_last = range.last - std::chrono::seconds{1};
            auto next = trigger_next(job, through);
            f = next ? *next : instant::max();
            return;
        }
        range.add(f);
        auto next = trigger_next(job, f);
        f = next ? *next : instant::max();
    }
}

// The latest fire time in (floor, through], given that there is one. It looks
// back from `through` over windows of 1, 2, 4, ... seconds until a window
// contains a fire time, then narrows that window by bisection. The cost is about
// twice the logarithm of the gap between fire times, in trigger calls, however
// dense the fire times inside the window are.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
instant engine<Triggers, Queue>::latest_fire_through(const job_state& job, instant through,
                                                     instant floor) const {
    auto fires_in = [&](instant after) {
        auto found = trigger_next(job, after);
        return found && *found <= through;
    };
    // Invariant: a fire time lies in (low, through], none in (high, through].
    instant high = through;
    instant low = floor;
    for (int k = 0; k < 62; ++k) {
        auto window = std::chrono::seconds{std::int64_t{1} << k};
        instant from = through - floor > window ? through - window : floor;
        if (fires_in(from)) {
            low = from;
            break;
        }
        high = from;
        if (from == floor) {
            return floor;
        }
    }
    while (high - low > std::chrono::seconds{1}) {
        instant middle = low + (high - low) / 2;
        if (fires_in(middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    // The only fire time in (low, through] is the latest one.
    return trigger_next(job, low).value_or(floor);
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::process_fires(job_state& job, instant now, std::vector<decision>& out) {
    using std::chrono::seconds;
    const auto& p = job.policy;
    // Fire times before `cutoff` are more than the grace time late.
    const instant cutoff =
        p.misfire_grace < 0 ? instant::min() : now - seconds{p.misfire_grace};

    std::optional<instant> downtime_end;
    if (job.has_extras) {
        auto& x = extras(job);
        downtime_end = x.catch_up_until;
        x.catch_up_until.reset();
    }

    instant f = job.next_fire;
    fire_range downtime, late, runnable;

    if (downtime_end && cutoff != instant::min()) {
        fire_list_.clear();
        if (p.catch_up == catch_up_mode::all) {
            downtime.list = &fire_list_;
        }
        walk_fires(job, f, std::min(*downtime_end, cutoff - seconds{1}), downtime);
    }
    if (cutoff != instant::min()) {
        walk_fires(job, f, cutoff - seconds{1}, late);
    }
    std::vector<instant> runnable_list;
    if (p.coalesce == coalesce_mode::all) {
        runnable.list = &runnable_list;
    }
    walk_fires(job, f, now, runnable);

    // Every fire time up to now is decided below; f is the first after now.
    job.handled_through = std::max(job.handled_through, now);
    job.next_fire = f;
    if (f != instant::max() && !job.paused) {
        job.fire_timer = queue_.schedule(tick_of(f), slot_of(job) << 1);
    }

    if (downtime.count > 0) {
        switch (p.catch_up) {
        case catch_up_mode::none:
            out.push_back(range_decision(
                decision_kind::missed, job, downtime.first, downtime.last, downtime.count,
                downtime.more, run_cause::catch_up,
                detail::describe_fires(downtime.first, downtime.last, downtime.count, downtime.more) +
                    " passed while the worker was not running (catch_up none)"));
            break;
        case catch_up_mode::once:
            if (downtime.count > 1 || downtime.more) {
                out.push_back(range_decision(
                    decision_kind::skipped, job, downtime.first, downtime.before_last,
                    downtime.count - 1, downtime.more, run_cause::catch_up,
                    detail::describe_fires(downtime.first, downtime.before_last, downtime.count - 1,
                                           downtime.more) +
                        " covered by the one catch-up run for " + format_utc(downtime.last)));
            }
            try_start(job, downtime.last, run_cause::catch_up, 0, now,
                      "catch-up after downtime (catch_up once)", out);
            break;
        case catch_up_mode::all: {
            for (auto at : fire_list_) {
                try_start(job, at, run_cause::catch_up, 0, now,
                          "catch-up after downtime (catch_up all)", out);
            }
            if (downtime.count > fire_list_.size() || downtime.more) {
                auto first = trigger_next(job, fire_list_.back());
                out.push_back(range_decision(
                    decision_kind::missed, job, first.value_or(downtime.last), downtime.last,
                    downtime.count - fire_list_.size(), downtime.more, run_cause::catch_up,
                    "catch_up all starts at most " +
                        std::to_string(engine_limits::max_runs_per_due) + " runs at once"));
            }
            break;
        }
        }
    }

    if (late.count > 0) {
        out.push_back(range_decision(
            decision_kind::missed, job, late.first, late.last, late.count, late.more,
            run_cause::schedule,
            detail::describe_fires(late.first, late.last, late.count, late.more) +
                " found more than the misfire grace time (" +
                format_duration(seconds{p.misfire_grace}) + ") late, at " + format_utc(now)));
    }

    if (runnable.count == 0) {
        return;
    }
    switch (p.coalesce) {
    case coalesce_mode::earliest:
        try_start(job, runnable.first, run_cause::schedule, 0, now, "scheduled", out);
        if (runnable.count > 1) {
            out.push_back(range_decision(
                decision_kind::skipped, job, runnable.second, runnable.last, runnable.count - 1,
                runnable.more, run_cause::schedule,
                detail::describe_fires(runnable.second, runnable.last, runnable.count - 1,
                                       runnable.more) +
                    " coalesced into the run for " + format_utc(runnable.first) +
                    " (coalesce earliest)"));
        }
        break;
    case coalesce_mode::latest:
        if (runnable.count > 1) {
            out.push_back(range_decision(
                decision_kind::skipped, job, runnable.first, runnable.before_last,
                runnable.count - 1, runnable.more, run_cause::schedule,
                detail::describe_fires(runnable.first, runnable.before_last, runnable.count - 1,
                                       runnable.more) +
                    " coalesced into the run for " + format_utc(runnable.last) +
                    " (coalesce latest)"));
        }
        try_start(job, runnable.last, run_cause::schedule, 0, now, "scheduled", out);
        break;
    case coalesce_mode::all:
        for (auto at : runnable_list) {
            try_start(job, at, run_cause::schedule, 0, now, "scheduled", out);
        }
        if (runnable.count > runnable_list.size() || runnable.more) {
            auto first = trigger_next(job, runnable_list.back());
            out.push_back(range_decision(
                decision_kind::missed, job, first.value_or(runnable.last), runnable.last,
                runnable.count - runnable_list.size(), runnable.more, run_cause::schedule,
                "coalesce all starts at most " + std::to_string(engine_limits::max_runs_per_due) +
                    " runs of one job at once"));
        }
        break;
    }
}

// Disables a job whose trigger threw in next_after. The job gets no further
// fire time until update() gives it a trigger again, and one skipped decision
// records the error. The other jobs of the same due() go on.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::disable_after_trigger_error(job_state& job, instant now,
                                                          const char* what,
                                                          std::vector<decision>& out) {
    cancel_fire_timer(job);
    auto at = job.next_fire == instant::max() ? now : job.next_fire;
    job.next_fire = instant::max();
    job.handled_through = std::max(job.handled_through, now);
    out.push_back(range_decision(decision_kind::skipped, job, at, now, 1, true,
                                 run_cause::schedule,
                                 std::string("the trigger failed: ") + what +
                                     "; the job has no further fire time until it is updated"));
}

// Decides the fire times of a job that are already due, before update() or
// pause() changes what comes next, so none of them is dropped without a
// decision. update() passes no skip_reason, so they run with the old trigger.
// pause() passes one, and they are recorded skipped with it.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::settle_due_fires(job_state& job, instant now,
                                               const char* skip_reason) {
    if (job.paused || job.next_fire > now) {
        return;
    }
    if (skip_reason == nullptr) {
        try {
            process_fires(job, now, outbox_);
        } catch (const std::exception& e) {
            disable_after_trigger_error(job, now, e.what(), outbox_);
        }
        return;
    }
    fire_range range;
    instant f = job.next_fire;
    try {
        walk_fires(job, f, now, range);
    } catch (const std::exception& e) {
        disable_after_trigger_error(job, now, e.what(), outbox_);
        return;
    }
    job.handled_through = std::max(job.handled_through, now);
    if (range.count > 0) {
        outbox_.push_back(range_decision(
            decision_kind::skipped, job, range.first, range.last, range.count, range.more,
            run_cause::schedule,
            detail::describe_fires(range.first, range.last, range.count, range.more) + " " + skip_reason));
    }
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::process_retry(job_state& job, instant now, std::vector<decision>& out) {
    auto& x = extras(job);
    x.retry_timer = no_timer;
    auto scheduled = x.retry_scheduled;
    auto attempt = x.retry_attempt;
    auto reason = "retry " + std::to_string(attempt) + " of " +
                  std::to_string(job.policy.retry_count) + " after run " +
                  std::to_string(x.retry_of) +
                  (x.retry_after == run_status::timed_out ? " timed out" : " failed");
    drop_extras_if_empty(job);
    try_start(job, scheduled, run_cause::retry, attempt, now, std::move(reason), out);
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::process_ready(job_state& job, instant now, std::vector<decision>& out) {
    if (!job.has_extras) {
        return;
    }
    auto& x = extras(job);
    if (x.at_start) {
        x.at_start = false;
        try_start(job, now, run_cause::at_start, 0, now,
                  "the trigger fires when the worker starts (@reboot)", out);
    }
    auto& y = extras(job); // try_start may have rehashed extras_
    if (y.run_now_at) {
        auto at = *y.run_now_at;
        y.run_now_at.reset();
        try_start(job, at, run_cause::run_now, 0, now, "run now requested", out);
    }
    auto& z = extras(job);
    if (z.queued_scheduled && job.running < job.policy.concurrency_limit()) {
        auto at = *z.queued_scheduled;
        auto cause = z.queued_cause;
        auto attempt = z.queued_attempt;
        z.queued_scheduled.reset();
        start(job, at, cause, attempt, now, "started after the run it was queued behind finished",
              out);
    }
    drop_extras_if_empty(job);
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
decision engine<Triggers, Queue>::range_decision(decision_kind kind, const job_state& job,
                                                 instant first, instant last, std::uint64_t count,
                                                 bool lower_bound, run_cause cause,
                                                 std::string reason) {
    decision d;
    d.kind = kind;
    d.job = job.id;
    d.scheduled = first;
    d.last_scheduled = last;
    d.count = count;
    d.count_is_lower_bound = lower_bound;
    d.cause = cause;
    d.reason = std::move(reason);
    return d;
}

// Applies the overlap rule to a run that is due, then starts it, queues it
// or records it skipped.
template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::try_start(job_state& job, instant scheduled, run_cause cause,
                                        unsigned attempt, instant now, std::string reason,
                                        std::vector<decision>& out) {
    const auto& p = job.policy;
    if (p.overlap == overlap_mode::replace) {
        if (job.active_run != 0) {
            auto it = running_.find(job.active_run);
            if (it != running_.end() && !it->second.cancel_requested) {
                it->second.cancel_requested = true;
                auto d = range_decision(decision_kind::cancel, job, it->second.scheduled,
                                        it->second.scheduled, 1, false, cause,
                                        "replaced by a new run for " + format_utc(scheduled) +
                                            " (overlap replace)");
                d.run = job.active_run;
                out.push_back(std::move(d));
            }
        }
        start(job, scheduled, cause, attempt, now, std::move(reason), out);
        return;
    }
    if (job.running < p.concurrency_limit()) {
        start(job, scheduled, cause, attempt, now, std::move(reason), out);
        return;
    }
    if (p.overlap == overlap_mode::queue_one) {
        auto& x = extras(job);
        if (!x.queued_scheduled) {
            x.queued_scheduled = scheduled;
            x.queued_cause = cause;
            x.queued_attempt = attempt;
            return;
        }
        out.push_back(range_decision(decision_kind::skipped, job, scheduled, scheduled, 1, false,
                                     cause,
                                     "a run for " + format_utc(*x.queued_scheduled) +
                                         " is already queued behind run " +
                                         std::to_string(job.active_run) + " (overlap queue_one)"));
        return;
    }
    std::string skip_reason;
    if (p.overlap == overlap_mode::skip) {
        skip_reason = "run " + std::to_string(job.active_run) + " is still running (overlap skip)";
    } else {
        skip_reason = std::to_string(job.running) + " runs are running, the limit of overlap allow";
    }
    out.push_back(range_decision(decision_kind::skipped, job, scheduled, scheduled, 1, false, cause,
                                 std::move(skip_reason)));
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
void engine<Triggers, Queue>::start(job_state& job, instant scheduled, run_cause cause,
                                    unsigned attempt, instant now, std::string reason,
                                    std::vector<decision>& out) {
    run_id run = next_run_++;
    running_.emplace(run, running_run{job.id, scheduled, attempt, false, slot_of(job), job.incarnation});
    ++job.running;
    job.active_run = run;

    decision d;
    d.kind = decision_kind::start;
    d.job = job.id;
    d.run = run;
    d.scheduled = scheduled;
    d.last_scheduled = scheduled;
    d.cause = cause;
    d.attempt = attempt;
    if (job.policy.timeout > 0) {
        d.deadline = now + std::chrono::seconds{job.policy.timeout};
    }
    d.reason = std::move(reason);
    out.push_back(std::move(d));
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::finished(run_id run, run_status status, instant now) {
    now = clamp(now);
    auto it = running_.find(run);
    if (it == running_.end()) {
        return false;
    }
    auto info = it->second;
    running_.erase(it);
    note_clock(now);

    auto* job = &jobs_[info.slot];
    if (!job->live || job->incarnation != info.incarnation) {
        return true; // the job was removed while the run was running
    }
    --job->running;
    if (job->active_run == run) {
        job->active_run = 0;
    }

    const auto& p = job->policy;
    bool retryable = status == run_status::failed || status == run_status::timed_out;
    if (retryable && !info.cancel_requested && info.attempt < p.retry_count) {
        auto& x = extras(*job);
        unsigned retry = info.attempt + 1;
        if (job->paused) {
            outbox_.push_back(range_decision(decision_kind::skipped, *job, info.scheduled,
                                             info.scheduled, 1, false, run_cause::retry,
                                             "retry " + std::to_string(retry) + " of run " +
                                                 std::to_string(run) +
                                                 " not scheduled: the job is paused"));
        } else if (x.retry_timer != no_timer) {
            outbox_.push_back(range_decision(
                decision_kind::skipped, *job, info.scheduled, info.scheduled, 1, false,
                run_cause::retry,
                "retry " + std::to_string(retry) + " of run " + std::to_string(run) +
                    " not scheduled: retry " + std::to_string(x.retry_attempt) + " of run " +
                    std::to_string(x.retry_of) + " is already waiting"));
        } else {
            retry_policy r{p.retry_count, std::chrono::seconds{p.retry_initial}, p.retry_factor,
                           std::chrono::seconds{p.retry_max}};
            x.retry_at = now + r.delay_before(retry);
            x.retry_scheduled = info.scheduled;
            x.retry_attempt = retry;
            x.retry_of = run;
            x.retry_after = status;
            x.retry_timer = queue_.schedule(tick_of(x.retry_at), (slot_of(*job) << 1) | retry_flag);
        }
        drop_extras_if_empty(*job);
    }

    if (job->has_extras && job->running < p.concurrency_limit()) {
        auto it_x = extras_.find(slot_of(*job));
        if (it_x != extras_.end() && it_x->second.queued_scheduled) {
            mark_ready(*job);
        }
    }
    return true;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
std::optional<instant> engine<Triggers, Queue>::next_wakeup() const {
    if ((!ready_.empty() || !outbox_.empty()) && current_now_) {
        return *current_now_;
    }
    auto deadline = queue_.next_deadline();
    if (!deadline) {
        return std::nullopt;
    }
    return instant_of(*deadline);
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
std::optional<instant> engine<Triggers, Queue>::next_fire(job_id id) const {
    const auto* job = find(id);
    if (job == nullptr || job->paused || job->next_fire == instant::max()) {
        return std::nullopt;
    }
    return job->next_fire;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
bool engine<Triggers, Queue>::paused(job_id id) const {
    const auto* job = find(id);
    return job != nullptr && job->paused;
}

template <trigger_variant_registry Triggers, timer_queue Queue>
    requires std::constructible_from<Queue, timer_tick>
std::optional<run_policy> engine<Triggers, Queue>::policy(job_id id) const {
    const auto* job = find(id);
    if (job == nullptr) {
        return std::nullopt;
    }
    return expand(job->policy);
}

} // namespace chime
