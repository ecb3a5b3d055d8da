// hashed_wheel: a timer queue of one wheel whose slot for a deadline is
// deadline mod N, with an occupancy bitmap over the slots. Timers more than
// N ticks ahead share slots with nearer ones (they are in a later round),
// so each slot that pop_expired() passes is scanned whole.
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

// A timer_queue (see timer_queue.hpp) on a wheel of N = 2^SlotBits slots,
// SlotBits from 1 to 12. A slot keeps its timers' entries in insertion
// order. A timer's round is not stored: a scan compares deadlines.
//
// Deadlines at or before now() wait in an overdue bucket until the next
// pop_expired(). Every other deadline, up to UINT64_MAX, goes to its slot;
// a far-future timer costs a comparison in each scan of its slot until due.
//
// Costs, with n pending timers:
// - schedule() and cancel(): O(1), amortized over the growth of a slot's
//   array.
// - pop_expired() over fewer than N ticks visits the occupied slots in that
//   range, found with count-trailing-zeros, and compares every entry in
//   each, later rounds included. With timers spread evenly that is about
//   n / N comparisons per tick passed.
// - pop_expired() over N ticks or more scans every occupied slot, O(n), and
//   sorts the k timers it fires, O(k log k).
// - next_deadline() walks the occupied slots from now() until one contains
//   a timer of the current round. That is O(n) when every timer is at least
//   N ticks ahead. The result is cached until a cancel() or pop_expired()
//   touches the slot that contains it.
// Precision: exact. No timer fires early, and none is late relative to the
// `now` passed to pop_expired().
//
// Memory: a 16-byte node per timer, for the most timers ever pending at once,
// and a 16-byte entry per pending timer in per-slot arrays that grow by
// doubling.
template <unsigned SlotBits>
class basic_hashed_wheel {
    static_assert(SlotBits >= 1 && SlotBits <= 12,
                  "a hashed wheel has 2 to 4096 slots (one bitmap word per 64 slots, "
                  "at most 64 words)");

public:
    static constexpr std::string_view name = "hashed_wheel";
    static constexpr std::size_t slot_count = std::size_t{1} << SlotBits;

    basic_hashed_wheel() = default;
    explicit basic_hashed_wheel(timer_tick start) noexcept : now_(start) {}

    timer_id schedule(timer_tick deadline, std::uint32_t payload);
    bool cancel(timer_id id) noexcept;

    template <class F>
        requires std::invocable<F&, timer_id, timer_tick, std::uint32_t>
    std::size_t pop_expired(timer_tick now, F&& f);

    std::optional<timer_tick> next_deadline() const noexcept;
    std::size_t size() const noexcept { return store_.pending(); }
    timer_tick now() const noexcept { return now_; }

    // Drops every pending timer; now() is unchanged and old ids stay stale.
    void clear() noexcept;

    // Makes room for `count` pending timers without reallocating the nodes.
    void reserve(std::size_t count) { store_.reserve(count); }

private:
    static constexpr std::size_t slot_mask = slot_count - 1;
    static constexpr std::size_t word_count = (slot_count + 63) / 64;
    static constexpr std::uint32_t overdue_bucket = slot_count;
    static constexpr std::uint32_t due_bucket = slot_count + 1;

    // The first occupied slot in [from, slot_count), or slot_count.
    std::size_t next_occupied(std::size_t from) const noexcept;

    // Grows the deadline's bucket or the nodes, then schedules.
    CHIME_NOINLINE timer_id schedule_after_growth(timer_tick deadline, std::uint32_t payload) {
        buckets_[bucket_for(deadline)].reserve_one();
        if (!store_.has_free_node()) {
            store_.add_free_node();
        }
        return schedule(deadline, payload);
    }

    // The bucket for a deadline, relative to now_.
    std::uint32_t bucket_for(timer_tick deadline) const noexcept {
        return deadline <= now_ ? overdue_bucket : static_cast<std::uint32_t>(deadline & slot_mask);
    }

    // Adds the entry of a pending node. reserve_one() must have been called
    // on the bucket.
    void append(std::uint32_t bucket, timer_tick deadline, std::uint32_t index) noexcept;

    void insert(timer_tick deadline, std::uint32_t index);

    // Clears a bucket and its occupancy bit. Out of line, so that cancel()
    // stays small.
    CHIME_NOINLINE void empty_bucket(std::uint32_t bucket) noexcept;

    void collect_overdue();
    void collect_slot(std::size_t slot, timer_tick now);
    void collect_until(timer_tick now);
    std::optional<timer_tick> earliest_deadline(std::uint32_t& bucket) const noexcept;
    void invalidate_cache() const noexcept;

    // A node's link is its bucket: the slot, overdue_bucket, or due_bucket
    // while pop_expired() keeps the timer for its call.
    detail::timer_store store_;
    std::array<detail::wheel_bucket, slot_count + 1> buckets_;
    std::array<std::uint64_t, word_count> occupied_{};
    std::uint64_t occupied_words_ = 0; // bit w: occupied_[w] != 0
    timer_tick now_ = 0;

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

// 4096 slots: with one-second ticks, the wheel turns in about 68 minutes.
using hashed_wheel = basic_hashed_wheel<12>;

static_assert(timer_queue<hashed_wheel>);

// ---------------------------------------------------------------------------
// Definitions

// The common path makes no call, so it saves few registers. Growing a
// bucket or the nodes happens in schedule_after_growth().
template <unsigned SlotBits>
timer_id basic_hashed_wheel<SlotBits>::schedule(timer_tick deadline, std::uint32_t payload) {
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

template <unsigned SlotBits>
bool basic_hashed_wheel<SlotBits>::cancel(timer_id id) noexcept {
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

template <unsigned SlotBits>
template <class F>
    requires std::invocable<F&, timer_id, timer_tick, std::uint32_t>
std::size_t basic_hashed_wheel<SlotBits>::pop_expired(timer_tick now, F&& f) {
    if (now < now_ || store_.firing()) {
        return 0;
    }
    collect_overdue();
    collect_until(now);
    now_ = now;
    if (store_.due_count() == 0) {
        return 0;
    }
    invalidate_cache();
    return store_.fire_due(f, [this](std::uint32_t index, timer_tick deadline) {
        insert(deadline, index);
        invalidate_cache();
    });
}

template <unsigned SlotBits>
std::optional<timer_tick> basic_hashed_wheel<SlotBits>::next_deadline() const noexcept {
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

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::clear() noexcept {
    for (detail::wheel_bucket& bucket : buckets_) {
        bucket.clear();
    }
    occupied_.fill(0);
    occupied_words_ = 0;
    store_.release_all();
    invalidate_cache();
}

template <unsigned SlotBits>
std::size_t basic_hashed_wheel<SlotBits>::next_occupied(std::size_t from) const noexcept {
    if (from >= slot_count) {
        return slot_count;
    }
    std::size_t word = from / 64;
    const std::uint64_t bits = occupied_[word] & (~std::uint64_t{0} << (from % 64));
    if (bits != 0) {
        return word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
    }
    if (word + 1 >= word_count) {
        return slot_count;
    }
    const std::uint64_t later_words = occupied_words_ & (~std::uint64_t{0} << (word + 1));
    if (later_words == 0) {
        return slot_count;
    }
    word = static_cast<std::size_t>(std::countr_zero(later_words));
    return word * 64 + static_cast<std::size_t>(std::countr_zero(occupied_[word]));
}

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::append(std::uint32_t bucket, timer_tick deadline,
                                          std::uint32_t index) noexcept {
    store_[index].link = bucket;
    const bool was_empty = buckets_[bucket].append(store_, deadline, index);
    if (was_empty && bucket != overdue_bucket) {
        occupied_[bucket / 64] |= std::uint64_t{1} << (bucket % 64);
        occupied_words_ |= std::uint64_t{1} << (bucket / 64);
    }
}

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::insert(timer_tick deadline, std::uint32_t index) {
    const std::uint32_t bucket = bucket_for(deadline);
    buckets_[bucket].reserve_one();
    append(bucket, deadline, index);
}

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::empty_bucket(std::uint32_t bucket) noexcept {
    buckets_[bucket].clear();
    if (bucket == overdue_bucket) {
        return;
    }
    occupied_[bucket / 64] &= ~(std::uint64_t{1} << (bucket % 64));
    if (occupied_[bucket / 64] == 0) {
        occupied_words_ &= ~(std::uint64_t{1} << (bucket / 64));
    }
}

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::collect_overdue() {
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

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::collect_slot(std::size_t slot, timer_tick now) {
    detail::wheel_bucket& source = buckets_[slot];
    source.extract_due(now, store_, [this](const detail::timer_entry& entry) {
        store_[entry.index].link = due_bucket;
        store_.add_due(entry.deadline, entry.index);
    });
    if (source.empty()) {
        empty_bucket(static_cast<std::uint32_t>(slot));
    }
}

// Every timer in the wheel has a deadline after now_. Over fewer than N
// ticks each slot stands for one tick, so visiting the slots from now_ + 1
// in wheel order collects the due timers in deadline order. Over N ticks or
// more a slot may hold due timers of several rounds, so every occupied slot
// is scanned and the collected timers are sorted.
template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::collect_until(timer_tick now) {
    if (now == now_) {
        return;
    }
    if (now - now_ >= slot_count) {
        const std::size_t first_new = store_.due_count();
        for (std::size_t slot = next_occupied(0); slot < slot_count;
             slot = next_occupied(slot + 1)) {
            collect_slot(slot, now);
        }
        store_.sort_due_from(first_new);
        return;
    }
    const auto first = static_cast<std::size_t>((now_ + 1) & slot_mask);
    const std::size_t end = first + static_cast<std::size_t>(now - now_);
    const std::size_t first_end = end < slot_count ? end : slot_count;
    for (std::size_t slot = next_occupied(first); slot < first_end;
         slot = next_occupied(slot + 1)) {
        collect_slot(slot, now);
    }
    if (end > slot_count) {
        for (std::size_t slot = next_occupied(0); slot < end - slot_count;
             slot = next_occupied(slot + 1)) {
            collect_slot(slot, now);
        }
    }
}

// The walk visits the slots in tick order from now_ + 1. A slot's current
// round is the first tick after now_ that maps to it, and every timer in a
// later slot is after that round. So once the least deadline seen is at or
// before the current slot's round, it is the earliest. Otherwise the walk
// ends having seen every timer.
template <unsigned SlotBits>
std::optional<timer_tick>
basic_hashed_wheel<SlotBits>::earliest_deadline(std::uint32_t& bucket) const noexcept {
    timer_tick least = ~timer_tick{0};
    const auto scan = [&](std::uint32_t slot, timer_tick current_round) {
        for (const detail::timer_entry& entry : buckets_[slot]) {
            // `<=`, so that a lone UINT64_MAX deadline still names its slot.
            if (entry.deadline <= least) {
                least = entry.deadline;
                bucket = slot;
            }
        }
        return least <= current_round;
    };
    if (!buckets_[overdue_bucket].empty()) {
        scan(overdue_bucket, 0);
        return least;
    }
    if (occupied_words_ == 0) {
        return std::nullopt;
    }
    const auto first = static_cast<std::size_t>((now_ + 1) & slot_mask);
    for (std::size_t slot = next_occupied(first); slot < slot_count;
         slot = next_occupied(slot + 1)) {
        if (scan(static_cast<std::uint32_t>(slot), now_ + 1 + (slot - first))) {
            return least;
        }
    }
    for (std::size_t slot = next_occupied(0); slot < first; slot = next_occupied(slot + 1)) {
        if (scan(static_cast<std::uint32_t>(slot), now_ + 1 + (slot + slot_count - first))) {
            return least;
        }
    }
    return least;
}

template <unsigned SlotBits>
void basic_hashed_wheel<SlotBits>::invalidate_cache() const noexcept {
    cache_bound_ = 0;
    cached_bucket_ = detail::no_index;
    cache_valid_ = false;
}

} // namespace chime
