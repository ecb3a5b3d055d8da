// Timer-queue benchmarks: ten workloads, each run on six queues, in cells
// named WORKLOAD/QUEUE/SIZE, for example churn/hierarchical_wheel/100000.
//
// The queues are chime's binary_heap, quaternary_heap, hashed_wheel and
// hierarchical_wheel, and two baselines defined here: std_priority_queue
// (std::priority_queue with lazy cancel) and boost_d_ary_heap (Boost.Heap's
// mutable d-ary heap of arity 4).
//
// Before a cell is timed for the first time, a correctness gate replays the
// cell's workload on that queue and on a std::multimap reference, then fires
// every timer left, and compares what fired, call by call. A mismatch prints
// both sides and exits with status 1.
//
// Usage:
//   bench_timers [Google Benchmark flags]
//   bench_timers --latency      per-operation latency percentiles instead
// Each cell reports items_per_second (per CPU second), bytes_per_timer and,
// for the wheels, moves_per_timer. docs/benchmarks.md defines the workloads
// and gives the quick filter, the full command and the results.
#include <chime/hashed_wheel.hpp>
#include <chime/heap_timer_queue.hpp>
#include <chime/hierarchical_wheel.hpp>
#include <chime/timer_queue.hpp>

#include <benchmark/benchmark.h>
#include <boost/heap/d_ary_heap.hpp>

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using chime::timer_id;
using chime::timer_tick;

// Every workload starts its clock here rather than at 0, so that no queue
// gets an aligned start for free.
constexpr timer_tick start_tick = 1'000'003;

// Delay tables have 4,096 entries of 8 bytes, so a table takes 32 KiB.
constexpr unsigned table_bits = 12;
constexpr std::size_t table_size = std::size_t{1} << table_bits;
constexpr std::size_t table_mask = table_size - 1;

constexpr std::uint32_t no_slot = 0xFFFF'FFFF;

// ---------------------------------------------------------------------------
// Random numbers. Every run, every queue and the reference must see the same
// stream, so the seeds are fixed and the generator and distributions are
// written here: the std distributions differ between standard libraries.

// splitmix64: a 64-bit counter passed through a mixing function.
class split_mix {
public:
    explicit split_mix(std::uint64_t seed) noexcept : state_(seed) {}

    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9E37'79B9'7F4A'7C15);
        z = (z ^ (z >> 30)) * 0xBF58'476D'1CE4'E5B9;
        z = (z ^ (z >> 27)) * 0x94D0'49BB'1331'11EB;
        return z ^ (z >> 31);
    }

    // Uniform in [low, high]. The modulo bias is below 2^-22 for the ranges
    // used here (at most 2^41 values).
    std::uint64_t uniform(std::uint64_t low, std::uint64_t high) noexcept {
        return low + next() % (high - low + 1);
    }

    // Uniform in [0, 1).
    double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1p-53; }

    // Log-uniform in [low, high]: every factor of 10 gets the same share.
    std::uint64_t log_uniform(std::uint64_t low, std::uint64_t high) noexcept {
        const double lo = std::log(static_cast<double>(low));
        const double hi = std::log(static_cast<double>(high));
        const auto value = static_cast<std::uint64_t>(std::exp(lo + unit() * (hi - lo)));
        return std::clamp(value, low, high);
    }

    // Poisson with mean `mean`. Up to a mean of 30 it counts uniforms until
    // their product falls below e^-mean. Above, it rounds a normal draw
    // (Box-Muller), which differs little from a Poisson one there.
    std::uint32_t poisson(double mean) noexcept {
        if (mean <= 30.0) {
            const double limit = std::exp(-mean);
            std::uint32_t count = 0;
            for (double product = unit(); product > limit; product *= unit()) {
                ++count;
            }
            return count;
        }
        const double z = std::sqrt(-2.0 * std::log(1.0 - unit())) * std::cos(2.0 * std::numbers::pi * unit());
        return static_cast<std::uint32_t>(std::max(0.0, std::round(mean + std::sqrt(mean) * z)));
    }

private:
    std::uint64_t state_;
};

std::vector<timer_tick> uniform_table(std::uint64_t seed, timer_tick low, timer_tick high) {
    split_mix random(seed);
    std::vector<timer_tick> table(table_size);
    for (timer_tick& delay : table) {
        delay = random.uniform(low, high);
    }
    return table;
}

std::vector<timer_tick> log_uniform_table(std::uint64_t seed, timer_tick low, timer_tick high) {
    split_mix random(seed);
    std::vector<timer_tick> table(table_size);
    for (timer_tick& delay : table) {
        delay = random.log_uniform(low, high);
    }
    return table;
}

// 0 .. n-1 in random order (Fisher-Yates).
std::vector<std::uint32_t> shuffled(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint32_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
        order[i] = static_cast<std::uint32_t>(i);
    }
    split_mix random(seed);
    for (std::size_t i = n; i > 1; --i) {
        std::swap(order[i - 1], order[random.uniform(0, i - 1)]);
    }
    return order;
}

// The delay-table entry for a timer that fired and is scheduled again. It is
// a hash of the payload and the deadline, not a cursor, because a queue may
// fire equal deadlines in any order, and a cursor would then give each queue
// a different stream.
inline std::size_t delay_index(std::uint32_t payload, timer_tick deadline) noexcept {
    std::uint64_t h = deadline * 0x9E37'79B9'7F4A'7C15 + payload * 0xC2B2'AE3D'27D4'EB4F;
    h ^= h >> 32;
    h *= 0xD6E8'FEB8'6659'FD93;
    return static_cast<std::size_t>(h >> (64 - table_bits));
}

timer_tick saturating_add(timer_tick a, timer_tick b) noexcept {
    return a > ~timer_tick{0} - b ? ~timer_tick{0} : a + b;
}

// ---------------------------------------------------------------------------
// The two baselines and the reference. Each models chime::timer_queue, with
// ids in chime's form: the slot in bits 0-31 and, in bits 32-63, a generation
// that is odd while the timer is pending.

struct no_handle {};

template <class Handle>
class timer_slots {
public:
    struct slot {
        std::uint32_t generation = 0;
        std::uint32_t payload = 0;
        std::uint32_t next_free = no_slot;
        [[no_unique_address]] Handle handle{};
    };

    std::uint32_t allocate(std::uint32_t payload) {
        if (free_head_ == no_slot) {
            slots_.emplace_back();
            free_head_ = static_cast<std::uint32_t>(slots_.size() - 1);
        }
        const std::uint32_t index = free_head_;
        slot& s = slots_[index];
        free_head_ = s.next_free;
        ++s.generation;
        s.payload = payload;
        ++pending_;
        return index;
    }

    void release(std::uint32_t index) noexcept {
        slot& s = slots_[index];
        ++s.generation;
        s.next_free = free_head_;
        free_head_ = index;
        --pending_;
    }

    // The slot of the pending timer `id`, or no_slot.
    std::uint32_t find(timer_id id) const noexcept {
        const auto index = static_cast<std::uint32_t>(id);
        const auto generation = static_cast<std::uint32_t>(id >> 32);
        if (index >= slots_.size() || (generation & 1U) == 0 ||
            slots_[index].generation != generation) {
            return no_slot;
        }
        return index;
    }

    timer_id id_of(std::uint32_t index) const noexcept {
        return (timer_id{slots_[index].generation} << 32) | index;
    }

    slot& operator[](std::uint32_t index) noexcept { return slots_[index]; }
    std::size_t pending() const noexcept { return pending_; }
    void reserve(std::size_t count) { slots_.reserve(count); }

    void release_all() noexcept {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            if ((slots_[i].generation & 1U) != 0) {
                release(static_cast<std::uint32_t>(i));
            }
        }
    }

private:
    std::vector<slot> slots_;
    std::uint32_t free_head_ = no_slot;
    std::size_t pending_ = 0;
};

// Clears a flag when the scope ends, also when a callback throws.
class flag_guard {
public:
    explicit flag_guard(bool& flag) noexcept : flag_(flag) { flag_ = true; }
    flag_guard(const flag_guard&) = delete;
    flag_guard& operator=(const flag_guard&) = delete;
    ~flag_guard() { flag_ = false; }

private:
    bool& flag_;
};

// The usual first timer queue: std::priority_queue of (deadline, id) with
// lazy cancel. cancel() frees the id and leaves the entry as a tombstone,
// which pop_expired() and next_deadline() drop when it reaches the top. When
// tombstones outnumber pending timers (plus 64), the heap is rebuilt without
// them in O(n), so it never keeps more than about twice the pending timers.
//
// NOTE: unlike chime's queues, a timer that f schedules at or before `now`
// fires in the same pop_expired() call. No workload here does that.
class std_priority_queue_timers {
public:
    static constexpr std::string_view name = "std_priority_queue";

    std_priority_queue_timers() = default;
    explicit std_priority_queue_timers(timer_tick start) noexcept : now_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload) {
        const std::uint32_t index = slots_.allocate(payload);
        const timer_id id = slots_.id_of(index);
        heap_.push(entry{deadline, id});
        return id;
    }

    bool cancel(timer_id id) {
        const std::uint32_t index = slots_.find(id);
        if (index == no_slot) {
            return false;
        }
        slots_.release(index);
        if (heap_.size() > 2 * slots_.pending() + 64) {
            compact();
        }
        return true;
    }

    template <class F>
    std::size_t pop_expired(timer_tick now, F&& f) {
        if (now < now_ || firing_) {
            return 0;
        }
        now_ = now;
        const flag_guard firing(firing_);
        std::size_t fired = 0;
        while (!heap_.empty() && heap_.top().deadline <= now) {
            const entry top = heap_.top();
            heap_.pop();
            const std::uint32_t index = slots_.find(top.id);
            if (index == no_slot) {
                continue; // a tombstone
            }
            const std::uint32_t payload = slots_[index].payload;
            slots_.release(index);
            ++fired;
            f(top.id, top.deadline, payload);
        }
        return fired;
    }

    std::optional<timer_tick> next_deadline() const {
        while (!heap_.empty() && slots_.find(heap_.top().id) == no_slot) {
            heap_.pop();
        }
        if (heap_.empty()) {
            return std::nullopt;
        }
        return heap_.top().deadline;
    }

    std::size_t size() const noexcept { return slots_.pending(); }
    timer_tick now() const noexcept { return now_; }

private:
    struct entry {
        timer_tick deadline;
        timer_id id;
    };

    struct later {
        bool operator()(const entry& a, const entry& b) const noexcept {
            return a.deadline > b.deadline;
        }
    };

    using base_heap = std::priority_queue<entry, std::vector<entry>, later>;

    // Exposes the protected container, which compact() filters in place.
    struct heap_type : base_heap {
        using base_heap::c;
        using base_heap::comp;
    };

    void compact() {
        std::vector<entry>& entries = heap_.c;
        std::erase_if(entries, [this](const entry& e) { return slots_.find(e.id) == no_slot; });
        std::make_heap(entries.begin(), entries.end(), heap_.comp);
    }

    // next_deadline() drops tombstones, which changes the heap but not the
    // queue's contents.
    mutable heap_type heap_;
    timer_slots<no_handle> slots_;
    timer_tick now_ = 0;
    bool firing_ = false;
};

// Boost.Heap's d-ary heap, arity 4, mutable: push() returns a handle, which
// erase() takes, so cancel() is O(log n) with no tombstone. Boost keeps the
// values in a std::list and the heap as a vector of list iterators, so every
// schedule() allocates a list node.
//
// NOTE: as with std_priority_queue, a timer that f schedules at or before
// `now` fires in the same pop_expired() call. No workload here does that.
class boost_d_ary_heap_timers {
    struct entry {
        timer_tick deadline;
        std::uint32_t index;
    };

    struct later {
        bool operator()(const entry& a, const entry& b) const noexcept {
            return a.deadline > b.deadline;
        }
    };

    using heap_type = boost::heap::d_ary_heap<entry, boost::heap::arity<4>,
                                              boost::heap::mutable_<true>,
                                              boost::heap::compare<later>>;

public:
    static constexpr std::string_view name = "boost_d_ary_heap";

    boost_d_ary_heap_timers() = default;
    explicit boost_d_ary_heap_timers(timer_tick start) noexcept : now_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload) {
        const std::uint32_t index = slots_.allocate(payload);
        slots_[index].handle = heap_.push(entry{deadline, index});
        return slots_.id_of(index);
    }

    bool cancel(timer_id id) {
        const std::uint32_t index = slots_.find(id);
        if (index == no_slot) {
            return false;
        }
        heap_.erase(slots_[index].handle);
        slots_.release(index);
        return true;
    }

    template <class F>
    std::size_t pop_expired(timer_tick now, F&& f) {
        if (now < now_ || firing_) {
            return 0;
        }
        now_ = now;
        const flag_guard firing(firing_);
        std::size_t fired = 0;
        while (!heap_.empty() && heap_.top().deadline <= now) {
            const entry top = heap_.top();
            heap_.pop();
            const timer_id id = slots_.id_of(top.index);
            const std::uint32_t payload = slots_[top.index].payload;
            slots_.release(top.index);
            ++fired;
            f(id, top.deadline, payload);
        }
        return fired;
    }

    std::optional<timer_tick> next_deadline() const {
        if (heap_.empty()) {
            return std::nullopt;
        }
        return heap_.top().deadline;
    }

    std::size_t size() const noexcept { return slots_.pending(); }
    timer_tick now() const noexcept { return now_; }

private:
    heap_type heap_;
    timer_slots<typename heap_type::handle_type> slots_;
    timer_tick now_ = 0;
    bool firing_ = false;
};

// The reference of the correctness gate: a std::multimap from deadline to
// slot, simple enough to trust. pop_expired() takes every due timer out
// before the first call of f, as chime's queues do, so it follows the whole
// timer_queue contract.
class multimap_reference {
    using map_type = std::multimap<timer_tick, std::uint32_t>;

    struct handle {
        map_type::iterator position{};
        bool due = false; // taken out by pop_expired(), waiting for its call
    };

    struct due_timer {
        timer_tick deadline;
        timer_id id;
    };

public:
    static constexpr std::string_view name = "std_multimap";

    multimap_reference() = default;
    explicit multimap_reference(timer_tick start) noexcept : now_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload) {
        const std::uint32_t index = slots_.allocate(payload);
        slots_[index].handle = handle{map_.emplace(deadline, index), false};
        return slots_.id_of(index);
    }

    bool cancel(timer_id id) {
        const std::uint32_t index = slots_.find(id);
        if (index == no_slot) {
            return false;
        }
        if (!slots_[index].handle.due) {
            map_.erase(slots_[index].handle.position);
        }
        slots_.release(index);
        return true;
    }

    template <class F>
    std::size_t pop_expired(timer_tick now, F&& f) {
        if (now < now_ || firing_) {
            return 0;
        }
        now_ = now;
        due_.clear();
        for (auto it = map_.begin(); it != map_.end() && it->first <= now; it = map_.erase(it)) {
            slots_[it->second].handle.due = true;
            due_.push_back(due_timer{it->first, slots_.id_of(it->second)});
        }
        const flag_guard firing(firing_);
        std::size_t fired = 0;
        for (cursor_ = 0; cursor_ < due_.size(); ++cursor_) {
            const due_timer timer = due_[cursor_];
            const std::uint32_t index = slots_.find(timer.id);
            if (index == no_slot) {
                continue; // cancelled by an earlier call of f
            }
            const std::uint32_t payload = slots_[index].payload;
            slots_.release(index);
            ++fired;
            f(timer.id, timer.deadline, payload);
        }
        due_.clear();
        return fired;
    }

    std::optional<timer_tick> next_deadline() const {
        std::optional<timer_tick> next;
        if (!map_.empty()) {
            next = map_.begin()->first;
        }
        if (firing_) {
            for (std::size_t i = cursor_ + 1; i < due_.size(); ++i) {
                if (slots_.find(due_[i].id) != no_slot) {
                    next = next ? std::min(*next, due_[i].deadline) : due_[i].deadline;
                    break;
                }
            }
        }
        return next;
    }

    std::size_t size() const noexcept { return slots_.pending(); }
    timer_tick now() const noexcept { return now_; }

private:
    map_type map_;
    timer_slots<handle> slots_;
    std::vector<due_timer> due_;
    std::size_t cursor_ = 0;
    timer_tick now_ = 0;
    bool firing_ = false;
};

static_assert(chime::timer_queue<std_priority_queue_timers>);
static_assert(chime::timer_queue<boost_d_ary_heap_timers>);
static_assert(chime::timer_queue<multimap_reference>);

// ---------------------------------------------------------------------------
// Workloads. Each is a class template over the queue with these members:
//
//   name               the first part of the cell's name.
//   sizes              the sizes it runs at.
//   W(n)               builds the tables for n timers (not timed).
//   setup(q)           schedules the first timers and warms up (not timed).
//   step(q)            runs one timed iteration and returns its item count.
//   drain(q)           fires every timer left and schedules none.
//   gate_steps(n)      the number of steps the gate replays before the drain.
//   lifetime_steps(n)  about one timer lifetime in steps, for moves_per_timer.
//
// A timer's payload is its index in the workload's tables.

enum class size_set { standard, with_ten_million, query };

constexpr std::size_t standard_sizes[] = {1'000, 10'000, 100'000, 1'000'000};
constexpr std::size_t large_sizes[] = {1'000, 10'000, 100'000, 1'000'000, 10'000'000};
constexpr std::size_t query_sizes[] = {1, 10, 100, 1'000};

// The clock every workload drives, and the drain the gate ends with.
class workload_base {
public:
    // Advances with strides 1, 2, 4, ... ticks, so that the drain takes both
    // short and long pop_expired() paths, until no timer is left (at most 64
    // calls).
    template <class Q>
    void drain(Q& queue) {
        rescheduling_ = false;
        timer_tick stride = 1;
        for (int call = 0; call < 64 && queue.size() != 0; ++call) {
            now_ = saturating_add(now_, stride);
            stride = stride >= (timer_tick{1} << 62) ? stride : stride * 2;
            queue.pop_expired(now_, [](timer_id, timer_tick, std::uint32_t) {});
        }
    }

protected:
    timer_tick now_ = start_tick;
    bool rescheduling_ = true;
};

// churn (network timeouts): n timers pending. Each pair cancels one timer and
// schedules it again U[H/2, H] ahead, H = 2^20 ticks, and every 32 pairs the
// clock advances one tick. Timers are picked in a fixed random order that
// visits each once per n pairs, so each lives n/32 ticks, at most about
// 312,500 < H/2 at n = 10^7, and none fires. One step is 32 pairs and one
// advance, and the items are pairs.
template <class Q>
class churn : public workload_base {
public:
    static constexpr std::string_view name = "churn";
    static constexpr size_set sizes = size_set::with_ten_million;
    static constexpr timer_tick horizon = timer_tick{1} << 20;
    static constexpr int pairs_per_tick = 32;

    static std::size_t gate_steps(std::size_t) { return 4096; }
    static std::size_t lifetime_steps(std::size_t n) { return n / pairs_per_tick + 64; }

    explicit churn(std::size_t n)
        : order_(shuffled(n, 11)), delays_(uniform_table(12, horizon / 2, horizon)), ids_(n) {}

    void setup(Q& queue) {
        for (std::uint32_t i = 0; i < ids_.size(); ++i) {
            ids_[i] = queue.schedule(now_ + delays_[i & table_mask], i);
        }
    }

    std::uint64_t step(Q& queue) {
        for (int pair = 0; pair < pairs_per_tick; ++pair) {
            const std::uint32_t timer = order_[next_];
            next_ = next_ + 1 == order_.size() ? 0 : next_ + 1;
            queue.cancel(ids_[timer]);
            ids_[timer] = queue.schedule(now_ + delays_[cursor_++ & table_mask], timer);
        }
        ++now_;
        queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                ids_[payload] = queue.schedule(deadline + delays_[delay_index(payload, deadline)], payload);
            }
        });
        return pairs_per_tick;
    }

private:
    std::vector<std::uint32_t> order_;
    std::vector<timer_tick> delays_;
    std::vector<timer_id> ids_;
    std::size_t next_ = 0;
    std::size_t cursor_ = 0;
};

// rearm (idle timeouts): n connections, each with an idle timer of T = n/4
// ticks. Each event picks a connection at random and pushes its timer to
// now + T (cancel, then schedule). 32 events per tick, so a connection idles
// out only after no event for n/4 ticks, about e^-8 = 0.03 % of gaps. Its
// timer then fires and is scheduled again. One step is 32 events and one
// advance, and the items are events.
template <class Q>
class rearm : public workload_base {
public:
    static constexpr std::string_view name = "rearm";
    static constexpr size_set sizes = size_set::standard;
    static constexpr int events_per_tick = 32;

    static std::size_t gate_steps(std::size_t) { return 4096; }
    static std::size_t lifetime_steps(std::size_t n) { return n / 4 + 64; }

    explicit rearm(std::size_t n) : timeout_(std::max<timer_tick>(n / 4, 1)), ids_(n) {
        split_mix random(21);
        picks_.resize(std::size_t{1} << 20);
        for (std::uint32_t& pick : picks_) {
            pick = static_cast<std::uint32_t>(random.uniform(0, n - 1));
        }
        phases_ = uniform_table(22, 1, timeout_);
    }

    void setup(Q& queue) {
        for (std::uint32_t i = 0; i < ids_.size(); ++i) {
            ids_[i] = queue.schedule(now_ + phases_[i & table_mask], i);
        }
    }

    std::uint64_t step(Q& queue) {
        for (int event = 0; event < events_per_tick; ++event) {
            const std::uint32_t timer = picks_[cursor_++ & (picks_.size() - 1)];
            queue.cancel(ids_[timer]);
            ids_[timer] = queue.schedule(now_ + timeout_, timer);
        }
        ++now_;
        queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                ids_[payload] = queue.schedule(deadline + timeout_, payload);
            }
        });
        return events_per_tick;
    }

private:
    timer_tick timeout_;
    std::vector<std::uint32_t> picks_;
    std::vector<timer_tick> phases_;
    std::vector<timer_id> ids_;
    std::size_t cursor_ = 0;
};

// fire_all: n timers, each scheduled again U[1, H] ahead when it fires,
// H = 4,096 ticks. One step advances one tick, and the items are timers fired.
// Setup runs one horizon of steps first, so the deadlines are spread as in
// the steady state.
template <class Q>
class fire_all : public workload_base {
public:
    static constexpr std::string_view name = "fire_all";
    static constexpr size_set sizes = size_set::with_ten_million;
    static constexpr timer_tick horizon = 4096;

    static std::size_t gate_steps(std::size_t) { return 1024; }
    static std::size_t lifetime_steps(std::size_t) { return horizon; }

    explicit fire_all(std::size_t n) : n_(n), delays_(uniform_table(31, 1, horizon)) {}

    void setup(Q& queue) {
        for (std::uint32_t i = 0; i < n_; ++i) {
            queue.schedule(now_ + delays_[i & table_mask], i);
        }
        for (timer_tick tick = 0; tick < horizon; ++tick) {
            step(queue);
        }
    }

    std::uint64_t step(Q& queue) {
        ++now_;
        return queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                queue.schedule(deadline + delays_[delay_index(payload, deadline)], payload);
            }
        });
    }

private:
    std::size_t n_;
    std::vector<timer_tick> delays_;
};

// mixed: timers arrive as a Poisson process of mean n / (0.09 H) per tick,
// H = 4,096, each with a delay U[1, H]. For 9 in 10 arrivals, a pending timer
// picked at random is cancelled. A timer then meets a cancel at a rate of
// about 10 per horizon, so about 90 % are cancelled and 10 % fire, and about
// n stay pending. One step is one tick's arrivals and cancels and one
// advance, and the items are arrivals. Setup runs H/4 ticks to settle.
template <class Q>
class mixed : public workload_base {
public:
    static constexpr std::string_view name = "mixed";
    static constexpr size_set sizes = size_set::standard;
    static constexpr timer_tick horizon = 4096;

    static std::size_t gate_steps(std::size_t) { return 1024; }
    static std::size_t lifetime_steps(std::size_t) { return horizon; }

    explicit mixed(std::size_t n) : n_(n), delays_(uniform_table(41, 1, horizon)) {
        const double rate = static_cast<double>(n) / (0.09 * static_cast<double>(horizon));
        split_mix random(42);
        arrivals_.resize(table_size);
        for (std::uint32_t& count : arrivals_) {
            count = random.poisson(rate);
        }
        cancels_.resize(table_size);
        for (std::uint8_t& cancels : cancels_) {
            cancels = random.uniform(0, 9) != 0 ? 1 : 0;
        }
        picks_.resize(table_size);
        for (std::uint32_t& pick : picks_) {
            pick = static_cast<std::uint32_t>(random.next());
        }
        // 4n slots, so that arrive() never runs out of them.
        const std::size_t capacity = 4 * n + 64;
        pool_.resize(capacity);
        for (std::size_t i = 0; i < capacity; ++i) {
            pool_[i] = static_cast<std::uint32_t>(i);
        }
        ids_.resize(capacity);
        fired_.resize(capacity);
    }

    void setup(Q& queue) {
        for (std::size_t i = 0; i < n_; ++i) {
            arrive(queue);
        }
        for (timer_tick tick = 0; tick < horizon / 4; ++tick) {
            step(queue);
        }
    }

    std::uint64_t step(Q& queue) {
        const std::uint32_t arrivals = arrivals_[tick_cursor_++ & table_mask];
        for (std::uint32_t i = 0; i < arrivals; ++i) {
            arrive(queue);
            if (cancels_[cancel_cursor_++ & table_mask] != 0) {
                cancel_one(queue);
            }
        }
        ++now_;
        queue.pop_expired(now_, [this](timer_id, timer_tick, std::uint32_t payload) {
            fired_[payload] = 1;
        });
        return arrivals;
    }

private:
    // pool_[0, used_) are the slots of scheduled timers, pending or fired,
    // and pool_[used_, end) are free. A fired timer stays in the used part until
    // a cancel picks it, so the pool's order never depends on the order in
    // which a queue fires equal deadlines.
    void arrive(Q& queue) {
        if (used_ == pool_.size()) [[unlikely]] {
            std::fprintf(stderr, "bench_timers: mixed ran out of its %zu timer slots\n",
                         pool_.size());
            std::exit(2);
        }
        const std::uint32_t slot = pool_[used_++];
        fired_[slot] = 0;
        ids_[slot] = queue.schedule(now_ + delays_[delay_cursor_++ & table_mask], slot);
    }

    // Cancels a random pending timer, and frees the slots of fired timers
    // that the picks land on first.
    void cancel_one(Q& queue) {
        while (used_ != 0) {
            const auto position = static_cast<std::size_t>(
                (std::uint64_t{picks_[pick_cursor_++ & table_mask]} * used_) >> 32);
            const std::uint32_t slot = pool_[position];
            std::swap(pool_[position], pool_[--used_]);
            if (fired_[slot] == 0) {
                queue.cancel(ids_[slot]);
                return;
            }
        }
    }

    std::size_t n_;
    std::vector<timer_tick> delays_;
    std::vector<std::uint32_t> arrivals_;
    std::vector<std::uint8_t> cancels_;
    std::vector<std::uint32_t> picks_;
    std::vector<std::uint32_t> pool_;
    std::vector<timer_id> ids_;
    std::vector<std::uint8_t> fired_;
    std::size_t used_ = 0;
    std::size_t tick_cursor_ = 0;
    std::size_t cancel_cursor_ = 0;
    std::size_t pick_cursor_ = 0;
    std::size_t delay_cursor_ = 0;
};

// burst: n timers with one deadline D = 1,000 ticks ahead, and one advance
// that fires them all. One step fires the n pending timers and schedules n
// new ones for the next burst. The items are timers, each scheduled once and
// fired once.
template <class Q>
class burst : public workload_base {
public:
    static constexpr std::string_view name = "burst";
    static constexpr size_set sizes = size_set::with_ten_million;
    static constexpr timer_tick distance = 1000;

    static std::size_t gate_steps(std::size_t) { return 3; }
    static std::size_t lifetime_steps(std::size_t) { return 4; }

    explicit burst(std::size_t n) : n_(n) {}

    void setup(Q& queue) { schedule_all(queue); }

    std::uint64_t step(Q& queue) {
        now_ += distance;
        queue.pop_expired(now_, [this](timer_id, timer_tick, std::uint32_t payload) {
            checksum_ += payload;
        });
        benchmark::DoNotOptimize(checksum_);
        schedule_all(queue);
        return n_;
    }

private:
    void schedule_all(Q& queue) {
        const timer_tick deadline = now_ + distance;
        for (std::uint32_t i = 0; i < n_; ++i) {
            queue.schedule(deadline, i);
        }
    }

    std::size_t n_;
    std::uint64_t checksum_ = 0;
};

// sparse: n timers with log-uniform delays from 1 s to 30 days, in
// millisecond ticks. Each step calls next_deadline() and advances straight
// to it, and the timers that fire are scheduled again. The items are timers
// fired.
template <class Q>
class sparse : public workload_base {
public:
    static constexpr std::string_view name = "sparse";
    static constexpr size_set sizes = size_set::standard;
    static constexpr timer_tick min_delay = 1'000;               // 1 s in ms
    static constexpr timer_tick max_delay = 30ULL * 86'400'000; // 30 days in ms

    static std::size_t gate_steps(std::size_t) { return 4096; }
    // An estimate: a step fires about one timer, and 4n steps fire each
    // timer about 4 times on average, though the 30-day ones only once.
    static std::size_t lifetime_steps(std::size_t n) { return 4 * n; }

    explicit sparse(std::size_t n) : n_(n), delays_(log_uniform_table(51, min_delay, max_delay)) {}

    void setup(Q& queue) {
        split_mix random(52);
        for (std::uint32_t i = 0; i < n_; ++i) {
            queue.schedule(now_ + random.log_uniform(min_delay, max_delay), i);
        }
    }

    std::uint64_t step(Q& queue) {
        const std::optional<timer_tick> next = queue.next_deadline();
        now_ = next ? *next : now_ + 1;
        return queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                queue.schedule(deadline + delays_[delay_index(payload, deadline)], payload);
            }
        });
    }

private:
    std::size_t n_;
    std::vector<timer_tick> delays_;
};

// periodic: n timers, each with its own period of 1 to 16 ticks, fire and are
// scheduled again one period later. One step advances one tick, and the
// items are timers fired (about n/5 per tick).
template <class Q>
class periodic : public workload_base {
public:
    static constexpr std::string_view name = "periodic";
    static constexpr size_set sizes = size_set::standard;

    static std::size_t gate_steps(std::size_t) { return 48; }
    static std::size_t lifetime_steps(std::size_t) { return 64; }

    explicit periodic(std::size_t n) : periods_(n) {
        split_mix random(61);
        for (std::uint8_t& period : periods_) {
            period = static_cast<std::uint8_t>(random.uniform(1, 16));
        }
    }

    void setup(Q& queue) {
        split_mix random(62);
        for (std::uint32_t i = 0; i < periods_.size(); ++i) {
            queue.schedule(now_ + random.uniform(1, periods_[i]), i);
        }
    }

    std::uint64_t step(Q& queue) {
        ++now_;
        return queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                queue.schedule(deadline + periods_[payload], payload);
            }
        });
    }

private:
    std::vector<std::uint8_t> periods_;
};

// next_deadline: n timers (1 to 1,000) with log-uniform delays from 1 s to 30
// days in millisecond ticks, and the clock standing still. Every query
// follows a schedule() of a timer one tick ahead and its cancel(), which
// takes the earliest timer away, so no queue can return a cached value. A step
// runs that change and query 1,024 times, then the change alone 1,024 times,
// and times both loops with the thread's CPU clock. The difference is the
// query alone, reported as query_ns. The step's own time (and items_per_second) includes
// the change.
template <class Q>
class next_deadline : public workload_base {
public:
    static constexpr std::string_view name = "next_deadline";
    static constexpr size_set sizes = size_set::query;
    static constexpr int queries_per_step = 1024;

    static std::size_t gate_steps(std::size_t) { return 8; }
    static std::size_t lifetime_steps(std::size_t) { return 1; } // the clock does not move

    explicit next_deadline(std::size_t n) : n_(n) {}

    void setup(Q& queue) {
        split_mix random(71);
        for (std::uint32_t i = 0; i < n_; ++i) {
            queue.schedule(now_ + random.log_uniform(1'000, 30ULL * 86'400'000), i);
        }
    }

    std::uint64_t step(Q& queue) {
        const double with_query_start = thread_seconds();
        for (int i = 0; i < queries_per_step; ++i) {
            queue.cancel(queue.schedule(now_ + 1, static_cast<std::uint32_t>(n_)));
            std::optional<timer_tick> next = queue.next_deadline();
            benchmark::DoNotOptimize(next);
        }
        const double change_start = thread_seconds();
        for (int i = 0; i < queries_per_step; ++i) {
            queue.cancel(queue.schedule(now_ + 1, static_cast<std::uint32_t>(n_)));
        }
        benchmark::ClobberMemory();
        const double end = thread_seconds();
        query_seconds_ += (change_start - with_query_start) - (end - change_start);
        queries_ += queries_per_step;
        return queries_per_step;
    }

    // The mean cost of one query alone over all steps so far, in ns.
    double query_ns() const noexcept {
        return queries_ == 0 ? 0.0 : std::max(0.0, query_seconds_ * 1e9 / static_cast<double>(queries_));
    }

private:
    static double thread_seconds() noexcept {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }

    std::size_t n_;
    double query_seconds_ = 0.0;
    std::uint64_t queries_ = 0;
};

// idle_jump: k timers pending U[2^50, 2^51] ticks ahead, and each step
// advances the clock 10^6 ticks. Almost no timer fires: about one per 1,700
// jumps at k = 10^6, once the clock has passed 2^50 ticks (10^9 jumps). Those
// that fire are scheduled again as far ahead. The items are jumps.
template <class Q>
class idle_jump : public workload_base {
public:
    static constexpr std::string_view name = "idle_jump";
    static constexpr size_set sizes = size_set::standard;
    static constexpr timer_tick jump = 1'000'000;

    static std::size_t gate_steps(std::size_t) { return 256; }
    // NOTE: a lifetime is about 2^50 / 10^6 jumps, far more than can run, so
    // moves_per_timer covers only the first 8,192 jumps.
    static std::size_t lifetime_steps(std::size_t) { return 4096; }

    explicit idle_jump(std::size_t n)
        : n_(n), delays_(uniform_table(81, timer_tick{1} << 50, timer_tick{1} << 51)) {}

    void setup(Q& queue) {
        for (std::uint32_t i = 0; i < n_; ++i) {
            queue.schedule(now_ + delays_[delay_index(i, 0)], i);
        }
    }

    std::uint64_t step(Q& queue) {
        now_ += jump;
        queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                queue.schedule(now_ + delays_[delay_index(payload, deadline)], payload);
            }
        });
        return 1;
    }

private:
    std::size_t n_;
    std::vector<timer_tick> delays_;
};

// A user's object with a timer, such as a connection: 256 bytes, four cache
// lines. chime's queues keep their nodes in their own arrays, so the object
// keeps the 8-byte timer id.
struct alignas(64) user_object {
    timer_id timer = chime::no_timer;
    std::uint64_t events = 0;
    std::byte rest[240]{};
};

static_assert(sizeof(user_object) == 256);

// cold_cache: churn's stream (H = 2^20, 32 pairs per tick, none fires) where
// each timer belongs to a 256-byte object, and the objects are visited in a
// random order unrelated to their place in memory. Each pair reads the id
// from the object and writes the new one back, so every pair touches one
// cold cache line of user memory besides the queue's own.
template <class Q>
class cold_cache : public workload_base {
public:
    static constexpr std::string_view name = "cold_cache";
    static constexpr size_set sizes = size_set::standard;
    static constexpr timer_tick horizon = timer_tick{1} << 20;
    static constexpr int pairs_per_tick = 32;

    static std::size_t gate_steps(std::size_t) { return 4096; }
    static std::size_t lifetime_steps(std::size_t n) { return n / pairs_per_tick + 64; }

    explicit cold_cache(std::size_t n)
        : objects_(n), order_(shuffled(n, 91)), delays_(uniform_table(92, horizon / 2, horizon)) {}

    void setup(Q& queue) {
        for (std::uint32_t i = 0; i < objects_.size(); ++i) {
            objects_[i].timer = queue.schedule(now_ + delays_[i & table_mask], i);
        }
    }

    std::uint64_t step(Q& queue) {
        for (int pair = 0; pair < pairs_per_tick; ++pair) {
            const std::uint32_t index = order_[next_];
            next_ = next_ + 1 == order_.size() ? 0 : next_ + 1;
            user_object& object = objects_[index];
            queue.cancel(object.timer);
            object.timer = queue.schedule(now_ + delays_[cursor_++ & table_mask], index);
            ++object.events;
        }
        ++now_;
        queue.pop_expired(now_, [this, &queue](timer_id, timer_tick deadline, std::uint32_t payload) {
            if (rescheduling_) {
                objects_[payload].timer =
                    queue.schedule(deadline + delays_[delay_index(payload, deadline)], payload);
            }
        });
        return pairs_per_tick;
    }

private:
    std::vector<user_object> objects_;
    std::vector<std::uint32_t> order_;
    std::vector<timer_tick> delays_;
    std::size_t next_ = 0;
    std::size_t cursor_ = 0;
};

// ---------------------------------------------------------------------------
// The correctness gate.

std::uint64_t mix(std::uint64_t h, std::uint64_t value) noexcept {
    h ^= value + 0x9E37'79B9'7F4A'7C15 + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xFF51'AFD7'ED55'8CCD;
    h ^= h >> 33;
    return h;
}

// A digest of a queue's results on a workload's stream: one record per
// pop_expired() call that fired timers and one per observed value. Timers of
// equal deadline may fire in any order, so a call's timers are sorted by
// (deadline, payload) before they are hashed, after the order of their
// deadlines has been checked.
class stream_digest {
public:
    struct record {
        std::uint64_t sequence; // counts every pop_expired() call and value
        const char* label;      // what the record counts
        std::uint64_t count;    // timers fired, or the value
        std::uint64_t hash;
    };

    void fired(timer_tick deadline, std::uint32_t payload) {
        call_.push_back(fired_timer{deadline, payload});
    }

    void end_call(std::size_t returned) {
        ++sequence_;
        if (call_.empty() && returned == 0) {
            return;
        }
        for (std::size_t i = 1; i < call_.size() && error_.empty(); ++i) {
            if (call_[i].deadline < call_[i - 1].deadline) {
                error_ = "pop_expired call " + std::to_string(sequence_) + " fired deadline " +
                         std::to_string(call_[i].deadline) + " after " +
                         std::to_string(call_[i - 1].deadline);
            }
        }
        std::sort(call_.begin(), call_.end(), [](const fired_timer& a, const fired_timer& b) {
            return a.deadline != b.deadline ? a.deadline < b.deadline : a.payload < b.payload;
        });
        std::uint64_t h = mix(0, returned);
        for (const fired_timer& timer : call_) {
            h = mix(mix(h, timer.deadline), timer.payload);
        }
        records_.push_back(record{sequence_, "pop_expired fired", call_.size(), h});
        total_fired_ += call_.size();
        call_.clear();
    }

    void value(const char* label, std::uint64_t value) {
        ++sequence_;
        records_.push_back(record{sequence_, label, value, value});
    }

    const std::vector<record>& records() const noexcept { return records_; }
    std::uint64_t total_fired() const noexcept { return total_fired_; }
    const std::string& error() const noexcept { return error_; }

private:
    struct fired_timer {
        timer_tick deadline;
        std::uint32_t payload;
    };

    std::vector<fired_timer> call_;
    std::vector<record> records_;
    std::uint64_t sequence_ = 0;
    std::uint64_t total_fired_ = 0;
    std::string error_;
};

// Counts from the outside how often hierarchical_wheel moves a timer down a
// level (a cascade), because the wheel has no counter of its own. The count
// follows from the wheel's placement rule (see hierarchical_wheel.hpp): a
// timer scheduled at now() = t with deadline d > t starts at level L, the
// highest 6-bit digit where d and t differ. When the clock reaches its slot's
// first tick s (d with the digits below L cleared), it fires if d == s and
// otherwise moves to the level of d's highest nonzero digit below L.
// NOTE: this repeats the wheel's rule, so a change of the wheel's layout
// needs a change here. A public moves() counter on the wheel would replace
// the model, and cascade_counting_wheel already prefers one.
class cascade_model {
public:
    void scheduled(timer_id id, timer_tick now, timer_tick deadline) {
        const auto index = static_cast<std::uint32_t>(id);
        if (index >= timers_.size()) {
            timers_.resize(std::max<std::size_t>(index + 1, timers_.size() * 2));
        }
        timers_[index] = tracked{now, deadline, true};
        ++scheduled_;
    }

    // Adds the moves of a timer that ended (cancelled or fired) at `now`.
    void ended(timer_id id, timer_tick now) {
        tracked& timer = timers_[static_cast<std::uint32_t>(id)];
        moves_ += moves_by(timer, now);
        timer.pending = false;
    }

    // The moves of every timer so far: those that ended, and those pending
    // at `now`.
    std::uint64_t moves_until(timer_tick now) const {
        std::uint64_t moves = moves_;
        for (const tracked& timer : timers_) {
            if (timer.pending) {
                moves += moves_by(timer, now);
            }
        }
        return moves;
    }

    std::uint64_t scheduled() const noexcept { return scheduled_; }

private:
    struct tracked {
        timer_tick scheduled_at = 0;
        timer_tick deadline = 0;
        bool pending = false;
    };

    static std::uint64_t moves_by(const tracked& timer, timer_tick now) {
        constexpr unsigned bits = chime::hierarchical_wheel::level_bits;
        const timer_tick deadline = timer.deadline;
        if (deadline <= timer.scheduled_at) {
            return 0; // in the overdue bucket, which fires at the next pop_expired()
        }
        unsigned level = (static_cast<unsigned>(std::bit_width(deadline ^ timer.scheduled_at)) - 1) / bits;
        std::uint64_t moves = 0;
        while (level > 0) {
            const timer_tick low_mask = (timer_tick{1} << (level * bits)) - 1;
            const timer_tick slot_start = deadline & ~low_mask;
            if (slot_start > now || slot_start == deadline) {
                break;
            }
            ++moves;
            level = (static_cast<unsigned>(std::bit_width(deadline & low_mask)) - 1) / bits;
        }
        return moves;
    }

    std::vector<tracked> timers_;
    std::uint64_t moves_ = 0;
    std::uint64_t scheduled_ = 0;
};

template <class Q>
concept counts_moves = requires(const Q& queue) {
    { queue.moves() } -> std::convertible_to<std::uint64_t>;
};

// A queue that passes every call to Q and records what it returns, for the
// gate.
template <class Q>
class recording_queue {
public:
    static constexpr std::string_view name = Q::name;

    recording_queue() = default;
    explicit recording_queue(timer_tick start) : queue_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload) {
        return queue_.schedule(deadline, payload);
    }

    bool cancel(timer_id id) {
        const bool cancelled = queue_.cancel(id);
        cancels_ += cancelled ? 1 : 0;
        return cancelled;
    }

    template <class F>
    std::size_t pop_expired(timer_tick now, F&& f) {
        const std::size_t fired =
            queue_.pop_expired(now, [this, &f](timer_id id, timer_tick deadline, std::uint32_t payload) {
                digest_.fired(deadline, payload);
                f(id, deadline, payload);
            });
        digest_.end_call(fired);
        return fired;
    }

    std::optional<timer_tick> next_deadline() const {
        const std::optional<timer_tick> next = queue_.next_deadline();
        digest_.value("next_deadline()", next ? *next : ~timer_tick{0});
        return next;
    }

    std::size_t size() const noexcept { return queue_.size(); }
    timer_tick now() const noexcept { return queue_.now(); }

    // Records the state after the gate's steps.
    void end_of_steps() {
        digest_.value("size()", queue_.size());
        digest_.value("successful cancel() calls", cancels_);
        next_deadline();
    }

    void end_of_drain() {
        digest_.value("size() after the drain", queue_.size());
        next_deadline();
    }

    const stream_digest& digest() const noexcept { return digest_; }

private:
    Q queue_;
    mutable stream_digest digest_;
    std::uint64_t cancels_ = 0;
};

// Replays the gate's part of a workload on Q: setup, gate_steps() steps, then
// the drain.
template <template <class> class W, class Q>
stream_digest replay(std::size_t n) {
    using recorded = recording_queue<Q>;
    auto queue = std::make_unique<recorded>(start_tick);
    W<recorded> workload(n);
    workload.setup(*queue);
    const std::size_t steps = W<recorded>::gate_steps(n);
    for (std::size_t i = 0; i < steps; ++i) {
        workload.step(*queue);
    }
    queue->end_of_steps();
    workload.drain(*queue);
    queue->end_of_drain();
    return queue->digest();
}

// A hierarchical_wheel with the cascade model fed from every call, and a
// count of schedule() calls. It is a template so that the wheel's own moves()
// is used only where it exists.
template <class Wheel>
class cascade_counting_wheel {
public:
    static constexpr std::string_view name = Wheel::name;

    cascade_counting_wheel() = default;
    explicit cascade_counting_wheel(timer_tick start) : wheel_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload) {
        const timer_id id = wheel_.schedule(deadline, payload);
        cascades_.scheduled(id, wheel_.now(), deadline);
        return id;
    }

    bool cancel(timer_id id) {
        const bool cancelled = wheel_.cancel(id);
        if (cancelled) {
            cascades_.ended(id, wheel_.now());
        }
        return cancelled;
    }

    template <class F>
    std::size_t pop_expired(timer_tick now, F&& f) {
        return wheel_.pop_expired(now, [this, &f](timer_id id, timer_tick deadline, std::uint32_t payload) {
            cascades_.ended(id, deadline);
            f(id, deadline, payload);
        });
    }

    std::optional<timer_tick> next_deadline() const { return wheel_.next_deadline(); }
    std::size_t size() const noexcept { return wheel_.size(); }
    timer_tick now() const noexcept { return wheel_.now(); }

    // The moves so far. When the wheel counts its own, that count is used,
    // and a difference from the model is reported.
    std::uint64_t moves() const {
        const std::uint64_t modelled = cascades_.moves_until(wheel_.now());
        if constexpr (counts_moves<Wheel>) {
            if (wheel_.moves() != modelled) {
                std::fprintf(stderr,
                             "bench_timers: note: hierarchical_wheel counts %llu moves, the cascade "
                             "model %llu; moves_per_timer uses the wheel's count\n",
                             static_cast<unsigned long long>(wheel_.moves()),
                             static_cast<unsigned long long>(modelled));
            }
            return wheel_.moves();
        } else {
            return modelled;
        }
    }

    std::uint64_t schedules() const noexcept { return cascades_.scheduled(); }

private:
    Wheel wheel_;
    cascade_model cascades_;
};

// The moves per timer of hierarchical_wheel in the steady state of a
// workload: moves over schedule() calls in a window of lifetime_steps(n)
// steps, after as many steps to settle. A hashed wheel never moves a timer to
// another slot, so its figure is 0. Other queues have none (NaN).
template <template <class> class W, class Q>
double measure_moves_per_timer(std::size_t n) {
    if constexpr (std::is_same_v<Q, chime::hashed_wheel>) {
        return 0.0;
    } else if constexpr (std::is_same_v<Q, chime::hierarchical_wheel>) {
        using counted = cascade_counting_wheel<Q>;
        auto wheel = std::make_unique<counted>(start_tick);
        W<counted> workload(n);
        workload.setup(*wheel);
        const std::size_t steps = W<counted>::lifetime_steps(n);
        for (std::size_t i = 0; i < steps; ++i) {
            workload.step(*wheel);
        }
        const std::uint64_t moves_before = wheel->moves();
        const std::uint64_t schedules_before = wheel->schedules();
        for (std::size_t i = 0; i < steps; ++i) {
            workload.step(*wheel);
        }
        const std::uint64_t schedules = wheel->schedules() - schedules_before;
        if (schedules == 0) {
            return 0.0;
        }
        return static_cast<double>(wheel->moves() - moves_before) / static_cast<double>(schedules);
    } else {
        return std::nan("");
    }
}

void print_record(const char* side, const stream_digest::record* r) {
    if (r == nullptr) {
        std::fprintf(stderr, "  %-10s no more events\n", side);
        return;
    }
    std::fprintf(stderr, "  %-10s event %llu: %s %llu (digest %016llx)\n", side,
                 static_cast<unsigned long long>(r->sequence), r->label,
                 static_cast<unsigned long long>(r->count), static_cast<unsigned long long>(r->hash));
}

// Compares a queue's digest with the reference's. On the first difference it
// prints both and exits with status 1.
void check_gate(const std::string& cell, const stream_digest& got, const stream_digest& expected) {
    if (!got.error().empty()) {
        std::fprintf(stderr, "bench_timers: correctness gate failed for %s: %s\n", cell.c_str(),
                     got.error().c_str());
        std::exit(1);
    }
    const auto& a = got.records();
    const auto& b = expected.records();
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        const stream_digest::record* x = i < a.size() ? &a[i] : nullptr;
        const stream_digest::record* y = i < b.size() ? &b[i] : nullptr;
        if (x != nullptr && y != nullptr && x->sequence == y->sequence && x->count == y->count &&
            x->hash == y->hash) {
            continue;
        }
        std::fprintf(stderr,
                     "bench_timers: correctness gate failed for %s: the queue fired %llu timers, "
                     "the std::multimap reference %llu; first difference:\n",
                     cell.c_str(), static_cast<unsigned long long>(got.total_fired()),
                     static_cast<unsigned long long>(expected.total_fired()));
        print_record("queue", x);
        print_record("reference", y);
        std::exit(1);
    }
}

std::size_t gated_cells = 0;

// The reference digest of each workload and size, computed once and shared
// by the six queues.
template <template <class> class W>
const stream_digest& reference_digest(std::size_t n) {
    static std::map<std::size_t, stream_digest> digests;
    auto found = digests.find(n);
    if (found == digests.end()) {
        found = digests.emplace(n, replay<W, multimap_reference>(n)).first;
    }
    return found->second;
}

// ---------------------------------------------------------------------------
// Timed cells.

// Heap bytes in use, with malloc's own overhead, from glibc's counters. It is
// read only around setup, so the timed loops pay nothing for it.
std::size_t heap_in_use() {
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

struct fixture_base {
    virtual ~fixture_base() = default;
};

// A workload with its queue set up. The runs of one cell share it, because
// Google Benchmark calls a cell's function several times while it chooses the
// iteration count, and setting up 10^7 timers takes seconds. Every workload's
// state stays steady from one run to the next.
template <template <class> class W, class Q>
struct fixture final : fixture_base {
    explicit fixture(std::size_t n) : workload(n) {
        const std::size_t before = heap_in_use();
        queue = std::make_unique<Q>(start_tick);
        workload.setup(*queue);
        const std::size_t pending = std::max<std::size_t>(queue->size(), 1);
        bytes_per_timer = static_cast<double>(heap_in_use() - before) / static_cast<double>(pending);
    }

    W<Q> workload;
    std::unique_ptr<Q> queue;
    double bytes_per_timer = 0.0;
    double moves_per_timer = std::nan("");
};

std::string cached_cell;
std::unique_ptr<fixture_base> cached_fixture;

template <template <class> class W, class Q>
fixture<W, Q>& prepare(const std::string& cell, std::size_t n) {
    if (cached_cell != cell) {
        cached_fixture.reset(); // frees the last cell's memory first
        cached_cell.clear();
        check_gate(cell, replay<W, Q>(n), reference_digest<W>(n));
        ++gated_cells;
        const double moves_per_timer = measure_moves_per_timer<W, Q>(n);
        auto built = std::make_unique<fixture<W, Q>>(n);
        built->moves_per_timer = moves_per_timer;
        cached_fixture = std::move(built);
        cached_cell = cell;
    }
    return static_cast<fixture<W, Q>&>(*cached_fixture);
}

template <template <class> class W, class Q>
void run_cell(benchmark::State& state, const std::string& cell, std::size_t n) {
    fixture<W, Q>& fx = prepare<W, Q>(cell, n);
    std::uint64_t items = 0;
    for (auto _ : state) {
        items += fx.workload.step(*fx.queue);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(items));
    state.counters["bytes_per_timer"] = fx.bytes_per_timer;
    if (!std::isnan(fx.moves_per_timer)) {
        state.counters["moves_per_timer"] = fx.moves_per_timer;
    }
    if constexpr (std::is_same_v<W<Q>, next_deadline<Q>>) {
        state.counters["query_ns"] = fx.workload.query_ns();
    }
}

std::deque<std::string> cell_names; // stable storage for the names

template <template <class> class W, class Q>
void register_cells() {
    std::vector<std::size_t> sizes;
    switch (W<Q>::sizes) {
    case size_set::standard:
        sizes.assign(std::begin(standard_sizes), std::end(standard_sizes));
        break;
    case size_set::with_ten_million:
        sizes.assign(std::begin(large_sizes), std::end(large_sizes));
        break;
    case size_set::query:
        sizes.assign(std::begin(query_sizes), std::end(query_sizes));
        break;
    }
    for (const std::size_t n : sizes) {
        const std::string& cell = cell_names.emplace_back(std::string(W<Q>::name) + "/" +
                                                          std::string(Q::name) + "/" +
                                                          std::to_string(n));
        benchmark::RegisterBenchmark(cell.c_str(), [&cell, n](benchmark::State& state) {
            run_cell<W, Q>(state, cell, n);
        });
    }
}

template <template <class> class W>
void register_workload() {
    register_cells<W, std_priority_queue_timers>();
    register_cells<W, boost_d_ary_heap_timers>();
    register_cells<W, chime::binary_heap>();
    register_cells<W, chime::quaternary_heap>();
    register_cells<W, chime::hashed_wheel>();
    register_cells<W, chime::hierarchical_wheel>();
}

void register_all() {
    register_workload<churn>();
    register_workload<rearm>();
    register_workload<fire_all>();
    register_workload<mixed>();
    register_workload<burst>();
    register_workload<sparse>();
    register_workload<periodic>();
    register_workload<next_deadline>();
    register_workload<idle_jump>();
    register_workload<cold_cache>();
}

// ---------------------------------------------------------------------------
// Latency mode: every schedule(), cancel() and pop_expired() timed on its own
// with CLOCK_MONOTONIC, at 10^5 pending timers. The median cost of two clock
// reads is subtracted from each sample, and the clock ticks in steps of about
// 10 ns on the machine measured, so small samples are rounded to that.
//
// Each stream is replayed three times on a new queue, and each sample is the
// least of its three values. The streams are deterministic, so sample i is
// the same operation in every replay, and the least value leaves out most of
// the time that preemption by other processes and interrupts add. (Timing
// with the thread's CPU clock instead costs a system call per sample, which
// raised hierarchical_wheel's cancel() median from 30 to 121 ns.)

constexpr std::size_t latency_pending = 100'000;

constexpr int latency_replays = 3;

std::uint64_t monotonic_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

// The median cost of two CLOCK_MONOTONIC reads with nothing between, in ns.
std::uint64_t clock_cost_ns() {
    std::vector<std::uint64_t> samples(200'000);
    for (std::uint64_t& sample : samples) {
        const std::uint64_t start = monotonic_ns();
        benchmark::ClobberMemory();
        sample = monotonic_ns() - start;
    }
    std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
    return samples[samples.size() / 2];
}

struct latency_row {
    std::string queue;
    std::string operation;
    std::vector<std::uint64_t> samples; // ns
};

// Times `operation()` and appends the sample, less the clock's cost, to `row`.
template <class Op>
void time_one(latency_row& row, std::uint64_t clock_cost, Op&& operation) {
    const std::uint64_t start = monotonic_ns();
    benchmark::ClobberMemory();
    operation();
    benchmark::ClobberMemory();
    const std::uint64_t elapsed = monotonic_ns() - start;
    row.samples.push_back(elapsed > clock_cost ? elapsed - clock_cost : 0);
}

// churn's stream (U[H/2, H] delays, H = 2^20, an advance every 32 pairs):
// schedule, cancel and the one-tick advance.
template <class Q>
void measure_churn_latency(std::vector<latency_row>& rows, std::uint64_t clock_cost) {
    constexpr timer_tick horizon = timer_tick{1} << 20;
    constexpr std::size_t timed_pairs = std::size_t{1} << 21;
    const std::vector<std::uint32_t> order = shuffled(latency_pending, 101);
    const std::vector<timer_tick> delays = uniform_table(102, horizon / 2, horizon);
    std::vector<timer_id> ids(latency_pending);
    auto queue = std::make_unique<Q>(start_tick);
    timer_tick now = start_tick;
    for (std::uint32_t i = 0; i < latency_pending; ++i) {
        ids[i] = queue->schedule(now + delays[i & table_mask], i);
    }

    latency_row schedule{std::string(Q::name), "schedule", {}};
    latency_row cancel{std::string(Q::name), "cancel", {}};
    latency_row advance{std::string(Q::name), "advance 1 tick (churn)", {}};
    schedule.samples.reserve(timed_pairs);
    cancel.samples.reserve(timed_pairs);
    advance.samples.reserve(timed_pairs / 32);

    const auto reschedule = [&](timer_id, timer_tick deadline, std::uint32_t payload) {
        ids[payload] = queue->schedule(deadline + delays[delay_index(payload, deadline)], payload);
    };

    // The first 10^5 pairs warm up, untimed.
    for (std::size_t pair = 0; pair < latency_pending + timed_pairs; ++pair) {
        const std::uint32_t timer = order[pair % latency_pending];
        const timer_tick deadline = now + delays[pair & table_mask];
        if (pair < latency_pending) {
            queue->cancel(ids[timer]);
            ids[timer] = queue->schedule(deadline, timer);
        } else {
            time_one(cancel, clock_cost, [&] { queue->cancel(ids[timer]); });
            time_one(schedule, clock_cost, [&] { ids[timer] = queue->schedule(deadline, timer); });
        }
        if (pair % 32 == 31) {
            ++now;
            if (pair < latency_pending) {
                queue->pop_expired(now, reschedule);
            } else {
                time_one(advance, clock_cost, [&] { queue->pop_expired(now, reschedule); });
            }
        }
    }

    rows.push_back(std::move(schedule));
    rows.push_back(std::move(cancel));
    rows.push_back(std::move(advance));
}

// fire_all's stream (U[1, 4096] delays, about 49 timers fired per tick) and
// idle_jump's (10^6-tick jumps, timers 2^50 to 2^51 ticks ahead).
template <class Q>
void measure_advance_latency(std::vector<latency_row>& rows, std::uint64_t clock_cost) {
    {
        constexpr timer_tick horizon = 4096;
        const std::vector<timer_tick> delays = uniform_table(103, 1, horizon);
        auto queue = std::make_unique<Q>(start_tick);
        timer_tick now = start_tick;
        for (std::uint32_t i = 0; i < latency_pending; ++i) {
            queue->schedule(now + delays[i & table_mask], i);
        }
        const auto reschedule = [&](timer_id, timer_tick deadline, std::uint32_t payload) {
            queue->schedule(deadline + delays[delay_index(payload, deadline)], payload);
        };
        latency_row advance{std::string(Q::name), "advance 1 tick (fire_all)", {}};
        for (timer_tick tick = 0; tick < horizon + 65'536; ++tick) {
            ++now;
            if (tick < horizon) {
                queue->pop_expired(now, reschedule);
            } else {
                time_one(advance, clock_cost, [&] { queue->pop_expired(now, reschedule); });
            }
        }
        rows.push_back(std::move(advance));
    }
    {
        const std::vector<timer_tick> delays =
            uniform_table(104, timer_tick{1} << 50, timer_tick{1} << 51);
        auto queue = std::make_unique<Q>(start_tick);
        timer_tick now = start_tick;
        for (std::uint32_t i = 0; i < latency_pending; ++i) {
            queue->schedule(now + delays[delay_index(i, 0)], i);
        }
        const auto reschedule = [&](timer_id, timer_tick deadline, std::uint32_t payload) {
            queue->schedule(now + delays[delay_index(payload, deadline)], payload);
        };
        latency_row jump{std::string(Q::name), "advance 10^6 ticks (idle_jump)", {}};
        for (int i = 0; i < 4096; ++i) {
            now += 1'000'000;
            time_one(jump, clock_cost, [&] { queue->pop_expired(now, reschedule); });
        }
        rows.push_back(std::move(jump));
    }
}

double percentile(const std::vector<std::uint64_t>& sorted, double fraction) {
    if (sorted.empty()) {
        return 0.0;
    }
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return static_cast<double>(sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)]);
}

// Appends Q's rows: per sample, the least of latency_replays replays.
template <class Q>
void measure_latency(std::vector<latency_row>& rows, std::uint64_t clock_cost) {
    std::vector<latency_row> least;
    for (int replay = 0; replay < latency_replays; ++replay) {
        std::vector<latency_row> replayed;
        measure_churn_latency<Q>(replayed, clock_cost);
        measure_advance_latency<Q>(replayed, clock_cost);
        if (replay == 0) {
            least = std::move(replayed);
            continue;
        }
        for (std::size_t row = 0; row < least.size(); ++row) {
            std::vector<std::uint64_t>& least_samples = least[row].samples;
            const std::vector<std::uint64_t>& next = replayed[row].samples;
            for (std::size_t i = 0; i < least_samples.size(); ++i) {
                least_samples[i] = std::min(least_samples[i], next[i]);
            }
        }
    }
    for (latency_row& row : least) {
        rows.push_back(std::move(row));
    }
}

int run_latency() {
    const std::uint64_t clock_cost = clock_cost_ns();
    std::vector<latency_row> rows;
    measure_latency<std_priority_queue_timers>(rows, clock_cost);
    measure_latency<boost_d_ary_heap_timers>(rows, clock_cost);
    measure_latency<chime::binary_heap>(rows, clock_cost);
    measure_latency<chime::quaternary_heap>(rows, clock_cost);
    measure_latency<chime::hashed_wheel>(rows, clock_cost);
    measure_latency<chime::hierarchical_wheel>(rows, clock_cost);

    std::printf("Latency at %zu pending timers, in ns: per sample the least of %d replays, "
                "less the clock's own %llu ns.\n\n",
                latency_pending, latency_replays, static_cast<unsigned long long>(clock_cost));
    std::printf("| queue | operation | samples | p50 | p99 | p99.9 | max |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (latency_row& row : rows) {
        std::sort(row.samples.begin(), row.samples.end());
        std::printf("| %s | %s | %zu | %.0f | %.0f | %.0f | %.0f |\n", row.queue.c_str(),
                    row.operation.c_str(), row.samples.size(), percentile(row.samples, 0.50),
                    percentile(row.samples, 0.99), percentile(row.samples, 0.999),
                    percentile(row.samples, 1.0));
    }

    std::printf("\nLargest single advance per queue:\n\n");
    std::printf("| queue | ns | operation |\n| --- | ---: | --- |\n");
    for (std::size_t first = 0; first < rows.size();) {
        const latency_row* largest = nullptr;
        std::size_t last = first;
        for (; last < rows.size() && rows[last].queue == rows[first].queue; ++last) {
            const latency_row& row = rows[last];
            if (row.operation.starts_with("advance") && !row.samples.empty() &&
                (largest == nullptr || row.samples.back() > largest->samples.back())) {
                largest = &row;
            }
        }
        if (largest != nullptr) {
            std::printf("| %s | %llu | %s |\n", largest->queue.c_str(),
                        static_cast<unsigned long long>(largest->samples.back()),
                        largest->operation.c_str());
        }
        first = last;
    }
    return 0;
}

// Removes `flag` from argv and returns whether it was there.
bool take_flag(int& argc, char** argv, const char* flag) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], flag) == 0) {
            std::copy(argv + i + 1, argv + argc, argv + i);
            --argc;
            return true;
        }
    }
    return false;
}

} // namespace

int main(int argc, char** argv) {
    if (take_flag(argc, argv, "--latency")) {
        return run_latency();
    }
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0) {
            std::printf("bench_timers: timer-queue benchmarks, cells named WORKLOAD/QUEUE/SIZE.\n"
                        "  --latency   print per-operation latency percentiles at %zu pending "
                        "timers instead of running the cells\n"
                        "Google Benchmark's flags follow.\n\n",
                        latency_pending);
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::fprintf(stderr, "bench_timers: the correctness gate passed for %zu cells\n", gated_cells);
    return 0;
}
