// The timer_queue concept: how the engine keeps pending deadlines and gets
// back the ones that have come. Four queues model it (binary_heap,
// quaternary_heap, hashed_wheel, hierarchical_wheel). This header also
// contains the slot storage and the firing loop they share.
//
// Thread safety: a queue is not thread-safe. Even its const members may
// update a cache, so one thread at a time may use a queue.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

// Keeps a rarely taken path out of a hot function, so that the hot path
// needs fewer registers.
#if defined(__GNUC__)
#define CHIME_NOINLINE [[gnu::noinline]]
#else
#define CHIME_NOINLINE
#endif

namespace chime {

// An integer clock reading. The engine counts seconds since 1970; a queue
// only compares ticks, so any unit works.
using timer_tick = std::uint64_t;

// The handle that schedule() returns. Bits 0-31 are the timer's slot and bits
// 32-63 a generation that changes whenever the slot is freed, so the id of a
// timer that fired or was cancelled never matches the timer that reuses its
// slot. A slot's generation wraps after 2^31 reuses.
using timer_id = std::uint64_t;

// An id that no timer ever has.
inline constexpr timer_id no_timer = ~timer_id{0};

namespace detail {

// Stands for the caller's callback when the concept checks pop_expired().
// The queues accept any callable that takes these three arguments.
struct expired_timer_callback {
    void operator()(timer_id, timer_tick, std::uint32_t) const noexcept {}
};

} // namespace detail

// A queue of timers, each a deadline and a 32-bit payload. Every chime queue
// follows these rules.
//
// - A queue starts empty with now() == 0, or with now() == start when built
//   as Q(start). clear() drops every timer and leaves now() as it is.
// - schedule(deadline, payload) accepts any deadline from 0 to UINT64_MAX and
//   returns the timer's id. A deadline at or before now() fires at the next
//   pop_expired() whose `now` is not earlier than now(), and is reported as
//   given, not moved to now().
// - cancel(id) removes a pending timer and returns true. It returns false for
//   no_timer and for the id of a timer that fired or was cancelled, even when
//   a newer timer reuses its slot, so a stale id never removes another timer.
// - pop_expired(now, f) returns 0 and does nothing when now < now(), because
//   time in a queue never goes back. Otherwise it sets now() to `now`, calls
//   f(id, deadline, payload) for every pending timer with deadline <= now in
//   non-decreasing deadline order (equal deadlines in any order), and returns
//   how many it called f for. No timer fires before its deadline, and none
//   with deadline <= now stays pending after the call, except those that f
//   schedules.
// - f may call schedule(), cancel(), next_deadline(), size() and clear(), and
//   now() already returns the new now. A timer that f schedules never fires
//   in the same call, even when its deadline is <= now: it fires at the next
//   pop_expired(). A pending timer that f cancels does not fire. A
//   pop_expired() from inside f does nothing and returns 0. When f throws,
//   the exception propagates, and the timers not yet passed to f stay
//   pending and fire at the next call.
// - A pop_expired() that skips many ticks costs time in the timers it fires
//   (and, in a wheel, the occupied slots it passes), never in the ticks it
//   skips.
// - next_deadline() returns the earliest pending deadline exactly, or
//   std::nullopt when no timer is pending.
// - size() returns the number of pending timers.
//
// The queues also have clear(), reserve(n), and a `name` such as
// "binary_heap". Costs and limits of each are in docs/timer_queues.md.
template <class Q>
concept timer_queue =
    std::default_initializable<Q> &&
    requires(Q q, const Q cq, timer_tick t, timer_id id, std::uint32_t payload,
             detail::expired_timer_callback callback) {
        { q.schedule(t, payload) } -> std::same_as<timer_id>;
        { q.cancel(id) } -> std::same_as<bool>;
        { q.pop_expired(t, callback) } -> std::same_as<std::size_t>;
        { cq.next_deadline() } -> std::same_as<std::optional<timer_tick>>;
        { cq.size() } -> std::same_as<std::size_t>;
        { cq.now() } -> std::same_as<timer_tick>;
    };

static_assert(!timer_queue<std::vector<int>>);

namespace detail {

inline constexpr std::uint32_t no_index = 0xFFFF'FFFF;

constexpr timer_id make_timer_id(std::uint32_t index, std::uint32_t generation) noexcept {
    return (timer_id{generation} << 32) | index;
}

constexpr std::uint32_t index_of(timer_id id) noexcept {
    return static_cast<std::uint32_t>(id);
}

constexpr std::uint32_t generation_of(timer_id id) noexcept {
    return static_cast<std::uint32_t>(id >> 32);
}

// The per-timer node of every chime queue: 16 bytes.
//
// The generation is odd while the timer is pending and even while the node
// is free. It grows by one at each change, so an id, which carries an odd
// generation, matches only the timer it was made for.
struct timer_node {
    std::uint32_t payload = 0;
    std::uint32_t generation = 0;
    // While pending: the heap position, or the wheel bucket. While free: the
    // next free node.
    std::uint32_t link = no_index;
    // The index of the timer's entry in its wheel bucket; unused by heaps.
    std::uint32_t position = 0;
};

static_assert(sizeof(timer_node) <= 32);

// A timer taken out of its queue by pop_expired() and waiting for its call.
struct due_timer {
    timer_tick deadline;
    timer_id id;
};

// The timer nodes of one queue in a vector with a free list, and the loop
// that passes due timers to the caller's callback.
class timer_store {
public:
    // Takes a free node, or appends one. Throws std::length_error when
    // 2^32 - 1 nodes exist, because index 2^32 - 1 is part of no_timer.
    std::uint32_t allocate() {
        if (!has_free_node()) [[unlikely]] {
            add_free_node();
        }
        return take_free_node();
    }

    bool has_free_node() const noexcept { return free_head_ != no_index; }

    // Appends a node to the free list; see allocate() for the limit. Kept
    // out of line so that the common paths stay small.
    CHIME_NOINLINE void add_free_node() {
        if (node_count_ == no_index) {
            throw std::length_error("chime: too many pending timers; a timer queue has room "
                                    "for 4294967295, so cancel timers or split them over queues");
        }
        nodes_.emplace_back();
        nodes_.back().link = free_head_;
        free_head_ = node_count_++;
    }

    // allocate() when has_free_node() is known to be true.
    std::uint32_t take_free_node() noexcept {
        const std::uint32_t index = free_head_;
        timer_node& node = nodes_[index];
        free_head_ = node.link;
        ++node.generation;
        ++pending_;
        return index;
    }

    // Frees the node of a pending timer. Its id becomes stale.
    void release(std::uint32_t index) noexcept;

    // The index of the pending timer `id` names, or no_index.
    std::uint32_t find(timer_id id) const noexcept;

    timer_id id_of(std::uint32_t index) const noexcept {
        return make_timer_id(index, nodes_[index].generation);
    }

    timer_node& operator[](std::uint32_t index) noexcept { return nodes_[index]; }
    const timer_node& operator[](std::uint32_t index) const noexcept { return nodes_[index]; }

    std::size_t pending() const noexcept { return pending_; }

    void reserve(std::size_t count) { nodes_.reserve(count); }

    // Frees every node. Generations are kept, so every old id stays stale.
    void release_all() noexcept;

    // Appends a timer to the batch that fire_due() passes to the callback.
    // The caller has taken it out of its queue structure.
    void add_due(timer_tick deadline, std::uint32_t index) {
        due_.push_back(due_timer{deadline, id_of(index)});
    }

    // Sorts the batch from position `first` by deadline.
    void sort_due_from(std::size_t first);

    std::size_t due_count() const noexcept { return due_.size(); }

    // True while fire_due() is calling the callback.
    bool firing() const noexcept { return firing_; }

    // The deadline of the first batch timer still waiting for its call, or
    // none. Because the batch is sorted, it is the earliest of them.
    std::optional<timer_tick> next_due_deadline() const noexcept;

    // Calls f(id, deadline, payload) for each batch timer that is still
    // pending, freeing its node first so that f may reuse it. When f throws,
    // `requeue(index, deadline)` gets each timer not yet called back, and the
    // exception propagates.
    template <class F, class Requeue>
    std::size_t fire_due(F& f, Requeue requeue);

private:
    std::vector<timer_node> nodes_;
    std::vector<due_timer> due_;
    std::uint32_t node_count_ = 0; // nodes_.size() as 32 bits
    std::uint32_t free_head_ = no_index;
    std::size_t pending_ = 0;
    std::size_t cursor_ = 0;
    bool firing_ = false;
};

// A timer's entry in a wheel bucket: 16 bytes.
struct timer_entry {
    timer_tick deadline;
    std::uint32_t index;
};

static_assert(sizeof(timer_entry) <= 32);

// A wheel slot: the entries of its timers, in no order. Each timer's node
// records where its entry is, so cancel() moves the last entry into the
// hole, and schedule() writes at the end. Each bucket has an array of its
// own, so both touch few cache lines.
class wheel_bucket {
public:
    const timer_entry* begin() const noexcept { return storage_.data(); }
    const timer_entry* end() const noexcept { return storage_.data() + size_; }
    bool empty() const noexcept { return size_ == 0; }

    bool has_room() const noexcept { return size_ != capacity_; }

    // Makes room for one more entry, so that append() cannot throw.
    void reserve_one() {
        if (!has_room()) [[unlikely]] {
            grow();
        }
    }

    // Appends the entry of pending node `index` when has_room(), and
    // records its position in the node. Returns true when the bucket was
    // empty before.
    bool append(timer_store& store, timer_tick deadline, std::uint32_t index) noexcept {
        store[index].position = size_;
        storage_[size_++] = timer_entry{deadline, index};
        return size_ == 1;
    }

    // Removes the entry at `position` and moves the last entry into its
    // place. Returns true when the bucket is now empty.
    bool remove(timer_store& store, std::uint32_t position) noexcept {
        const timer_entry last = storage_[--size_];
        if (position != size_) {
            storage_[position] = last;
            store[last.index].position = position;
        }
        return size_ == 0;
    }

    // Removes each entry with deadline <= now and passes it to take(entry).
    template <class Take>
    void extract_due(timer_tick now, timer_store& store, Take take);

    // Removes every entry. Storage of more than kept_capacity entries is
    // freed, so a burst of timers does not pin memory in each slot it passed.
    void clear() noexcept;

private:
    static constexpr std::size_t kept_capacity = 32;

    CHIME_NOINLINE void grow() {
        if (size_ >= 0x8000'0000) {
            throw std::length_error(
                "chime: too many timers in one timer wheel slot; a slot has room for 2^31");
        }
        storage_.resize(size_ < 8 ? 8 : std::size_t{size_} * 2);
        capacity_ = static_cast<std::uint32_t>(storage_.size());
    }

    // The entries are [0, size_). storage_.size() is the capacity, also kept
    // in capacity_ so that has_room() needs no division.
    std::vector<timer_entry> storage_;
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ = 0;
};

// ---------------------------------------------------------------------------
// Definitions

inline void timer_store::release(std::uint32_t index) noexcept {
    timer_node& node = nodes_[index];
    ++node.generation;
    node.link = free_head_;
    free_head_ = index;
    --pending_;
}

inline std::uint32_t timer_store::find(timer_id id) const noexcept {
    const std::uint32_t index = index_of(id);
    const std::uint32_t generation = generation_of(id);
    if (index >= node_count_ || (generation & 1U) == 0 ||
        nodes_[index].generation != generation) {
        return no_index;
    }
    return index;
}

inline void timer_store::release_all() noexcept {
    // Rebuilt from the back so that the lowest indexes are reused first.
    free_head_ = no_index;
    for (std::size_t i = nodes_.size(); i-- > 0;) {
        timer_node& node = nodes_[i];
        if ((node.generation & 1U) != 0) {
            ++node.generation;
        }
        node.link = free_head_;
        free_head_ = static_cast<std::uint32_t>(i);
    }
    pending_ = 0;
}

inline void timer_store::sort_due_from(std::size_t first) {
    std::sort(due_.begin() + static_cast<std::ptrdiff_t>(first), due_.end(),
              [](const due_timer& a, const due_timer& b) { return a.deadline < b.deadline; });
}

inline std::optional<timer_tick> timer_store::next_due_deadline() const noexcept {
    if (!firing_) {
        return std::nullopt;
    }
    for (std::size_t i = cursor_ + 1; i < due_.size(); ++i) {
        if (find(due_[i].id) != no_index) {
            return due_[i].deadline;
        }
    }
    return std::nullopt;
}

template <class F, class Requeue>
std::size_t timer_store::fire_due(F& f, Requeue requeue) {
    firing_ = true;
    std::size_t fired = 0;
    try {
        // f may append nodes, so no reference into nodes_ is kept across
        // the call.
        for (cursor_ = 0; cursor_ < due_.size(); ++cursor_) {
            const due_timer timer = due_[cursor_];
            const std::uint32_t index = find(timer.id);
            if (index == no_index) {
                continue; // an earlier call of f cancelled it
            }
            const std::uint32_t payload = nodes_[index].payload;
            release(index);
            ++fired;
            f(timer.id, timer.deadline, payload);
        }
    } catch (...) {
        for (++cursor_; cursor_ < due_.size(); ++cursor_) {
            const std::uint32_t index = find(due_[cursor_].id);
            if (index != no_index) {
                requeue(index, due_[cursor_].deadline);
            }
        }
        due_.clear();
        firing_ = false;
        throw;
    }
    due_.clear();
    firing_ = false;
    return fired;
}

template <class Take>
void wheel_bucket::extract_due(timer_tick now, timer_store& store, Take take) {
    std::uint32_t i = 0;
    while (i < size_) {
        const timer_entry entry = storage_[i];
        if (entry.deadline <= now) {
            take(entry);
            remove(store, i); // moves an unvisited entry to i
        } else {
            ++i;
        }
    }
}

inline void wheel_bucket::clear() noexcept {
    if (storage_.size() > kept_capacity) {
        std::vector<timer_entry>().swap(storage_);
        capacity_ = 0;
    }
    size_ = 0;
}

} // namespace detail
} // namespace chime
