// A clock that tests set and advance by hand, so scheduling tests control
// time exactly and never sleep. It models chime::clock.
// Thread safety: now(), set() and advance() may be called from any thread,
// so a worker thread may read the time while the test thread moves it.
#pragma once

#include <chime/clock.hpp>
#include <chime/zone.hpp>

#include <atomic>
#include <chrono>

namespace chime::testing {

class manual_clock {
public:
    // Starts at `start`, by default the epoch (1970-01-01T00:00:00Z).
    explicit manual_clock(instant start = instant{}) : now_(start) {}

    instant now() const noexcept { return now_.load(); }

    // Moves the clock to `t`. Earlier instants are allowed, so tests can
    // model a system clock that is stepped back.
    void set(instant t) noexcept { now_.store(t); }

    // Moves the clock by `d`, which may be negative.
    void advance(std::chrono::seconds d) noexcept {
        instant current = now_.load();
        while (!now_.compare_exchange_weak(current, current + d)) {
        }
    }

private:
    std::atomic<instant> now_;
};

static_assert(clock<manual_clock>);

} // namespace chime::testing
