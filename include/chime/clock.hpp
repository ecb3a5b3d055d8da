// The clock concept: a source of the current instant. The engine has no
// clock of its own, so tests can drive it with a manual clock while a worker
// reads system_clock_source.
//
// Thread safety: system_clock_source is stateless, so now() may be called
// from any thread.
#pragma once

#include <chime/zone.hpp>

#include <chrono>
#include <concepts>

namespace chime {

// A type whose `now() const` returns the current instant in whole seconds.
template <class C>
concept clock = requires(const C& c) {
    { c.now() } -> std::same_as<instant>;
};

// The system's wall clock, rounded down to the second.
struct system_clock_source {
    instant now() const noexcept {
        return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    }
};

static_assert(clock<system_clock_source>);
// std::chrono::system_clock::now() has a finer precision than instant.
static_assert(!clock<std::chrono::system_clock>);

} // namespace chime
