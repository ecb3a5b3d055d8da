// hierarchical_wheel: a timer queue made of eleven 64-slot wheels, one per
// 6 bits of the tick, with one occupancy bitmap per level. schedule() and
// cancel() cost O(1), and a timer moves down a level only when its slot
// comes due, so it moves at most ten times in its life.
//
// Thread safety: not thread-safe; one thread at a time may use a queue.
#pragma once

#include <chime/timer_queue.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace chime {

// A timer_queue (see timer_queue.hpp) in which a timer's level is the
// highest 6-bit digit where its deadline differs from now(), and its slot is
// the deadline's digit at that level. A level-0 slot contains one deadline,
// so it fires without a scan. A level-L slot (L > 0) has deadlines that share
// their digits from L up. When pop_expired() reaches the slot's first tick,
// it fires the timers due at that tick and moves the others to lower levels.
//
// Eleven levels cover all 64 bits of a tick, so every deadline up to
// UINT64_MAX has a slot and none is clamped. Deadlines at or before now()
// wait in an overdue bucket until the next pop_expired().
//
// Costs: schedule() and cancel() O(1), amortized over the growth of a slot's
// array. pop_expired() costs O(1) per timer it fires or moves
// down and per occupied slot it passes, found with count-trailing-zeros, so
// its cost does not grow with the number of ticks it skips. next_deadline()
// is O(1) when the earliest slot is at level 0 and otherwise scans that one
// slot. The result is cached until a cancel() or pop_expired() touches the
// slot that contains it. Precision: exact. No timer fires early, and none is
// late relative to the `now` passed to pop_expired().
//
// Memory: a 16-byte node per timer, for the most timers ever pending at once,
// and a 16-byte entry per pending timer in per-slot arrays that grow by
// doubling.
class hierarchical_wheel {
public:
    static constexpr std::string_view name = "hierarchical_wheel";
    static constexpr unsigned level_bits = 6;
    static constexpr unsigned slots_per_level = 1U << level_bits;
    static constexpr unsigned level_count = (64 + level_bits - 1) / level_bits;

    hierarchical_wheel() = default;
    explicit hierarchical_wheel(timer_tick start) noexcept : now_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload);
    bool cancel(timer_id id) noexcept;

    template <class F>
        requires std::invocable<F&, timer_id, timer_tick, std::uint32_t>
    std::size_t pop_expired(timer_tick now, F&& f);

    std::optional<timer_tick> next_deadline() const noexcept;
    std::size_t size() const noexcept { return store_.pending(); }
    timer_tick now() const noexcept { return now_; }

    // The number of times a timer moved down a level since construction,
    // for the benchmarks' moves-per-timer figure.
    std::uint64_t moves() const noexcept { return moves_; }

    // Drops every pending timer; now() is unchanged and old ids stay stale.
    void clear() noexcept;

    // Makes room for `count` pending timers without reallocating the nodes.
    void reserve(std::size_t count) { store_.reserve(count); }

private:
    static constexpr std::uint32_t overdue_bucket = level_count * slots_per_level;
    static constexpr std::uint32_t due_bucket = overdue_bucket + 1;

    // The first tick of a slot, given a tick that the slot's level shares
    // its higher digits with.
    static timer_tick slot_start(timer_tick now, unsigned level, unsigned slot) noexcept;

    // Grows the deadline's bucket or the nodes, then schedules.
    CHIME_NOINLINE timer_id schedule_after_growth(timer_tick deadline, std::uint32_t payload) {
        buckets_[bucket_for(deadline)].reserve_one();
        if (!store_.has_free_node()) {
            store_.add_free_node();
        }
        return schedule(deadline, payload);
    }

    // The bucket for a deadline, relative to now_.
    std::uint32_t bucket_for(timer_tick deadline) const noexcept;

    // Adds the entry of a pending node. reserve_one() must have been called
    // on the bucket.
    void append(std::uint32_t bucket, timer_tick deadline, std::uint32_t index) noexcept;

    void insert(timer_tick deadline, std::uint32_t index);

    // Clears a bucket and its occupancy bit. Out of line, so that cancel()
    // stays small.
    CHIME_NOINLINE void empty_bucket(std::uint32_t bucket) noexcept {
        buckets_[bucket].clear();
        if (bucket == overdue_bucket) {
            return;
        }
        const unsigned level = bucket / slots_per_level;
        occupied_[level] &= ~(std::uint64_t{1} << (bucket % slots_per_level));
        if (occupied_[level] == 0) {
            occupied_levels_ &= ~(1U << level);
        }
    }

    void collect_overdue();
    bool collect_until(timer_tick now);
    std::optional<timer_tick> earliest_deadline(std::uint32_t& bucket) const noexcept;
    timer_tick least_deadline_in(std::uint32_t bucket) const noexcept;
    void invalidate_cache() const noexcept;

    // A node's link is its bucket: level * 64 + slot, overdue_bucket, or
    // due_bucket while pop_expired() keeps the timer for its call.
    detail::timer_store store_;
    std::array<detail::wheel_bucket, overdue_bucket + 1> buckets_;
    std::array<std::uint64_t, level_count> occupied_{};
    std::uint32_t occupied_levels_ = 0;
    timer_tick now_ = 0;
    std::uint64_t moves_ = 0;

    // The cached earliest deadline of the wheel and the overdue bucket,
    // without the timers that pop_expired() keeps for their call. While
    // valid, cache_bound_ is that deadline, else 0, so that schedule() needs
    // one comparison. An empty queue leaves the cache invalid, which costs
    // nothing to recompute. Every timer with that deadline is in
    // cached_bucket_.
    mutable timer_tick cache_bound_ = 0;
    mutable std::uint32_t cached_bucket_ = detail::no_index;
    mutable bool cache_valid_ = false;
};

static_assert(timer_queue<hierarchical_wheel>);

// ---------------------------------------------------------------------------
// Definitions

// The common path makes no call, so it saves few registers. Growing a
// bucket or the nodes happens in schedule_after_growth().
inline timer_id hierarchical_wheel::schedule(timer_tick deadline, std::uint32_t payload) {
    const std::uint32_t bucket = bucket_for(deadline);
    if (!buckets_[bucket].has_room() || !store_.has_free_node()) [[unlikely]] {
        return schedule_after_growth(deadline, payload);
    }
    const std::uint32_t index = store_.take_free_node();
    store_[index].payload = payload;
    append(bucket, deadline, index);
    if (deadline < cache_bound_) {
        cache_bound_ = deadline;
        cached_bucket_ = bucket;
    }
    return store_.id_of(index);
}

inline bool hierarchical_wheel::cancel(timer_id id) noexcept {
    const std::uint32_t index = store_.find(id);
    if (index == detail::no_index) {
        return false;
    }
    const std::uint32_t bucket = store_[index].link;
    const std::uint32_t position = store_[index].position;
    store_.release(index);
    if (bucket == due_bucket) {
        return true;
    }
    if (bucket == cached_bucket_) {
        invalidate_cache();
    }
    if (buckets_[bucket].remove(store_, position)) [[unlikely]] {
        empty_bucket(bucket);
    }
    return true;
}

template <class F>
    requires std::invocable<F&, timer_id, timer_tick, std::uint32_t>
std::size_t hierarchical_wheel::pop_expired(timer_tick now, F&& f) {
    if (now < now_ || store_.firing()) {
        return 0;
    }
    collect_overdue();
    const bool moved = collect_until(now);
    now_ = now;
    if (moved || store_.due_count() != 0) {
        invalidate_cache();
    }
    if (store_.due_count() == 0) {
        return 0;
    }
    return store_.fire_due(f, [this](std::uint32_t index, timer_tick deadline) {
        insert(deadline, index);
        invalidate_cache();
    });
}

inline std::optional<timer_tick> hierarchical_wheel::next_deadline() const noexcept {
    if (!cache_valid_) {
        std::uint32_t bucket = detail::no_index;
        if (const std::optional<timer_tick> earliest = earliest_deadline(bucket)) {
            cache_bound_ = *earliest;
            cached_bucket_ = bucket;
            cache_valid_ = true;
        }
    }
    std::optional<timer_tick> next = store_.next_due_deadline();
    if (cache_valid_ && (!next || cache_bound_ < *next)) {
        next = cache_bound_;
    }
    return next;
}

inline void hierarchical_wheel::clear() noexcept {
    for (detail::wheel_bucket& bucket : buckets_) {
        bucket.clear();
    }
    occupied_.fill(0);
    occupied_levels_ = 0;
    store_.release_all();
    invalidate_cache();
}

inline timer_tick hierarchical_wheel::slot_start(timer_tick now, unsigned level,
                                                 unsigned slot) noexcept {
    const unsigned shift = level * level_bits;
    const unsigned higher_digits = shift + level_bits; // the first bit kept from now
    const timer_tick high = higher_digits >= 64 ? 0 : (now >> higher_digits) << higher_digits;
    return high | (timer_tick{slot} << shift);
}

// A deadline after now_ differs from now_ first (from the top) in some digit,
// and is greater there. The timer goes to that digit's level, in the slot of
// its own digit, which is therefore always after now_'s digit. So every
// timer at level L is later than every timer below L, and the earliest
// timer is in the first occupied slot of the lowest occupied level.
inline std::uint32_t hierarchical_wheel::bucket_for(timer_tick deadline) const noexcept {
    if (deadline <= now_) {
        return overdue_bucket;
    }
    const auto top_bit = static_cast<unsigned>(std::bit_width(deadline ^ now_)) - 1;
    const unsigned level = top_bit / level_bits;
    const auto slot =
        static_cast<unsigned>(deadline >> (level * level_bits)) & (slots_per_level - 1);
    return level * slots_per_level + slot;
}

inline void hierarchical_wheel::append(std::uint32_t bucket, timer_tick deadline,
                                       std::uint32_t index) noexcept {
    store_[index].link = bucket;
    const bool was_empty = buckets_[bucket].append(store_, deadline, index);
    if (was_empty && bucket != overdue_bucket) {
        const unsigned level = bucket / slots_per_level;
        occupied_[level] |= std::uint64_t{1} << (bucket % slots_per_level);
        occupied_levels_ |= 1U << level;
    }
}

inline void hierarchical_wheel::insert(timer_tick deadline, std::uint32_t index) {
    const std::uint32_t bucket = bucket_for(deadline);
    buckets_[bucket].reserve_one();
    append(bucket, deadline, index);
}

inline void hierarchical_wheel::collect_overdue() {
    if (buckets_[overdue_bucket].empty()) {
        return;
    }
    for (const detail::timer_entry& entry : buckets_[overdue_bucket]) {
        store_[entry.index].link = due_bucket;
        store_.add_due(entry.deadline, entry.index);
    }
    empty_bucket(overdue_bucket);
    store_.sort_due_from(0);
}

// Empties, in time order, each slot whose first tick is at or before `now`,
// and returns whether there was one. Moving now_ to that first tick is safe,
// because no pending deadline is earlier. The slot's timers due at that tick
// are collected, and the rest go to lower levels. When the first occupied
// slot starts after `now`, every deadline still differs from `now` first in
// the digit where it differs from now_, so each timer keeps its place when
// now_ becomes `now`.
inline bool hierarchical_wheel::collect_until(timer_tick now) {
    bool moved = false;
    while (occupied_levels_ != 0) {
        const auto level = static_cast<unsigned>(std::countr_zero(occupied_levels_));
        const auto slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
        const timer_tick start = slot_start(now_, level, slot);
        if (start > now) {
            break;
        }
        moved = true;
        now_ = start;
        const std::uint32_t bucket = level * slots_per_level + slot;
        // insert() only adds to lower levels, never to this bucket.
        for (const detail::timer_entry& entry : buckets_[bucket]) {
            if (entry.deadline == start) {
                store_[entry.index].link = due_bucket;
                store_.add_due(entry.deadline, entry.index);
            } else {
                insert(entry.deadline, entry.index);
                ++moves_;
            }
        }
        empty_bucket(bucket);
    }
    return moved;
}

inline std::optional<timer_tick>
hierarchical_wheel::earliest_deadline(std::uint32_t& bucket) const noexcept {
    if (!buckets_[overdue_bucket].empty()) {
        bucket = overdue_bucket;
        return least_deadline_in(overdue_bucket);
    }
    if (occupied_levels_ == 0) {
        return std::nullopt;
    }
    const auto level = static_cast<unsigned>(std::countr_zero(occupied_levels_));
    const auto slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
    bucket = level * slots_per_level + slot;
    if (level == 0) {
        return slot_start(now_, 0, slot); // a level-0 slot has one deadline
    }
    return least_deadline_in(bucket);
}

inline timer_tick hierarchical_wheel::least_deadline_in(std::uint32_t bucket) const noexcept {
    timer_tick least = ~timer_tick{0};
    for (const detail::timer_entry& entry : buckets_[bucket]) {
        if (entry.deadline < least) {
            least = entry.deadline;
        }
    }
    return least;
}

inline void hierarchical_wheel::invalidate_cache() const noexcept {
    cache_bound_ = 0;
    cached_bucket_ = detail::no_index;
    cache_valid_ = false;
}

} // namespace chime
