// Timer queues on an indexed d-ary min-heap: binary_heap (d = 2) and
// quaternary_heap (d = 4). Every timer's node stores its position in the
// heap, so cancel() removes it in O(log n) instead of leaving a tombstone.
//
// Thread safety: not thread-safe; one thread at a time may use a queue.
#pragma once

#include <chime/timer_queue.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace chime {

// A timer_queue (see timer_queue.hpp) on a min-heap of arity `Arity`.
// schedule() and cancel() cost O(log n), next_deadline() O(1), and
// pop_expired() O(log n) per timer fired, whatever the number of ticks it
// skips. Precision: exact. The heap entries (16 bytes: deadline and node
// index) sit in one vector and the per-timer nodes (16 bytes) in another,
// so comparisons never leave the heap vector.
template <unsigned Arity>
class heap_timer_queue {
    static_assert(Arity >= 2, "a heap needs at least two children per node");

public:
    static constexpr std::string_view name = Arity == 2   ? "binary_heap"
                                             : Arity == 4 ? "quaternary_heap"
                                                          : "d_ary_heap";

    heap_timer_queue() = default;
    explicit heap_timer_queue(timer_tick start) noexcept : now_(start) {}

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

    // Makes room for `count` pending timers without reallocation.
    void reserve(std::size_t count);

private:
    struct entry {
        timer_tick deadline;
        std::uint32_t index;
    };

    static constexpr std::uint32_t due_position = detail::no_index - 1;

    void place(std::size_t position, entry e) noexcept;
    void sift_up(std::size_t position, entry e) noexcept;
    void sift_down(std::size_t position, entry e) noexcept;
    void remove_at(std::size_t position) noexcept;
    void push(entry e);

    // A node's link is its heap position, or due_position while
    // pop_expired() keeps the timer for its call.
    detail::timer_store store_;
    std::vector<entry> heap_;
    timer_tick now_ = 0;
};

using binary_heap = heap_timer_queue<2>;
using quaternary_heap = heap_timer_queue<4>;

static_assert(timer_queue<binary_heap>);
static_assert(timer_queue<quaternary_heap>);

// ---------------------------------------------------------------------------
// Definitions

template <unsigned Arity>
timer_id heap_timer_queue<Arity>::schedule(timer_tick deadline, std::uint32_t payload) {
    const std::uint32_t index = store_.allocate();
    store_[index].payload = payload;
    try {
        push(entry{deadline, index});
    } catch (...) {
        store_.release(index);
        throw;
    }
    return store_.id_of(index);
}

template <unsigned Arity>
bool heap_timer_queue<Arity>::cancel(timer_id id) noexcept {
    const std::uint32_t index = store_.find(id);
    if (index == detail::no_index) {
        return false;
    }
    const std::uint32_t position = store_[index].link;
    if (position != due_position) {
        remove_at(position);
    }
    store_.release(index);
    return true;
}

template <unsigned Arity>
template <class F>
    requires std::invocable<F&, timer_id, timer_tick, std::uint32_t>
std::size_t heap_timer_queue<Arity>::pop_expired(timer_tick now, F&& f) {
    if (now < now_ || store_.firing()) {
        return 0;
    }
    now_ = now;
    while (!heap_.empty() && heap_.front().deadline <= now) {
        const entry top = heap_.front();
        store_.add_due(top.deadline, top.index);
        store_[top.index].link = due_position;
        remove_at(0);
    }
    if (store_.due_count() == 0) {
        return 0;
    }
    return store_.fire_due(f, [this](std::uint32_t index, timer_tick deadline) {
        push(entry{deadline, index});
    });
}

template <unsigned Arity>
std::optional<timer_tick> heap_timer_queue<Arity>::next_deadline() const noexcept {
    std::optional<timer_tick> next = store_.next_due_deadline();
    if (!heap_.empty() && (!next || heap_.front().deadline < *next)) {
        next = heap_.front().deadline;
    }
    return next;
}

template <unsigned Arity>
void heap_timer_queue<Arity>::clear() noexcept {
    heap_.clear();
    store_.release_all();
}

template <unsigned Arity>
void heap_timer_queue<Arity>::reserve(std::size_t count) {
    store_.reserve(count);
    heap_.reserve(count);
}

template <unsigned Arity>
void heap_timer_queue<Arity>::place(std::size_t position, entry e) noexcept {
    heap_[position] = e;
    store_[e.index].link = static_cast<std::uint32_t>(position);
}

// Both sifts move a hole instead of swapping, so each level costs one
// entry copy.
template <unsigned Arity>
void heap_timer_queue<Arity>::sift_up(std::size_t position, entry e) noexcept {
    while (position > 0) {
        const std::size_t parent = (position - 1) / Arity;
        if (heap_[parent].deadline <= e.deadline) {
            break;
        }
        place(position, heap_[parent]);
        position = parent;
    }
    place(position, e);
}

template <unsigned Arity>
void heap_timer_queue<Arity>::sift_down(std::size_t position, entry e) noexcept {
    const std::size_t count = heap_.size();
    for (;;) {
        const std::size_t first = position * Arity + 1;
        if (first >= count) {
            break;
        }
        const std::size_t end = first + Arity < count ? first + Arity : count;
        std::size_t least = first;
        for (std::size_t child = first + 1; child < end; ++child) {
            if (heap_[child].deadline < heap_[least].deadline) {
                least = child;
            }
        }
        if (heap_[least].deadline >= e.deadline) {
            break;
        }
        place(position, heap_[least]);
        position = least;
    }
    place(position, e);
}

template <unsigned Arity>
void heap_timer_queue<Arity>::remove_at(std::size_t position) noexcept {
    const entry last = heap_.back();
    heap_.pop_back();
    if (position == heap_.size()) {
        return;
    }
    if (position > 0 && last.deadline < heap_[(position - 1) / Arity].deadline) {
        sift_up(position, last);
    } else {
        sift_down(position, last);
    }
}

template <unsigned Arity>
void heap_timer_queue<Arity>::push(entry e) {
    heap_.push_back(e);
    sift_up(heap_.size() - 1, e);
}

} // namespace chime
