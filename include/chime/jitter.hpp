// The jitter trigger: wraps a trigger and delays each of its fire times by an
// amount in [0, max), so that many machines or jobs on one schedule do not
// all start in the same second.
//
//   // Nightly at 02:00, started up to 5 minutes late, the same delay every night.
//   chime::jitter backup(chime::cron_trigger("0 2 * * *"), std::chrono::minutes{5},
//                        chime::stable_delay{"backup-job"});
//
// Thread safety: an immutable value; next_after may be called from any thread.
#pragma once

#include <chime/combinators.hpp>
#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace chime {

namespace detail {

// A fresh seed from std::random_device.
std::uint64_t draw_jitter_seed();

} // namespace detail

// A delay drawn anew for each fire time: a hash of `seed` and the inner fire
// time. The seed is drawn when the value is built, so one trigger value gives
// the same delays on every call of next_after.
struct random_delay {
    std::uint64_t seed = detail::draw_jitter_seed();
};

// One delay for every fire time: a hash of `key`, typically the job id, like
// systemd's FixedRandomDelay. The same key gives the same delay on every
// machine; put the host name in the key to spread hosts apart.
struct stable_delay {
    std::string key;
};

enum class jitter_mode { random, stable };

// next_after(t) returns the earliest delayed fire strictly after t. An inner
// fire as early as t - max may be delayed past t, so the search starts there.
// When max exceeds the gap between two inner fires, their delayed times may
// swap order or coincide. next_after still returns the earliest delayed time,
// so successive calls visit every delayed fire once and in time order. Two
// inner fires delayed to the same second fire once. The window (start and
// end, inclusive) bounds the delayed fire times.
//
// Cost: stable mode calls the inner trigger once. Random mode calls it once for
// each inner fire in (t - max, t + max], so a per-second trigger with a
// one-day max takes about 170,000 calls.
class jitter {
public:
    static constexpr std::string_view kind = "jitter";

    // Throws invalid_input when `max` is not between 1 second and 31 days.
    jitter(any_trigger inner, std::chrono::seconds max, random_delay delay = {},
           time_window window = {});
    jitter(any_trigger inner, std::chrono::seconds max, stable_delay delay,
           time_window window = {});

    std::optional<instant> next_after(instant t) const {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // The delayed fire time, with the inner trigger's local time and DST
    // note: the note explains the inner fire, which the delay then shifts.
    std::optional<fire_time> next_fire_after(instant t) const;

    // The delay for the inner fire at `inner_fire`, in [0, max).
    std::chrono::seconds delay_for(instant inner_fire) const noexcept;

    const any_trigger& inner() const noexcept { return inner_; }
    std::chrono::seconds max() const noexcept { return max_; }
    jitter_mode mode() const noexcept { return mode_; }
    std::uint64_t seed() const noexcept { return seed_; }
    const std::string& key() const noexcept { return key_; }
    const zone& time_zone() const noexcept { return inner_.time_zone(); }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"jitter","trigger":{...},"max":"PT5M","mode":"stable",
    //  "key":"backup-job"} or {"kind":"jitter","trigger":{...},"max":"PT5M",
    //  "mode":"random","seed":"9e3779b97f4a7c15"}, with optional "start" and
    // "end". "mode" defaults to "random". A random seed is 1 to 16 hex digits
    // and is drawn afresh when absent. to_json always writes it, so store
    // to_json() rather than the input to keep the delays across restarts.
    // "key" is required in stable mode and "seed" is only allowed in random mode.
    template <child_trigger_parser F>
    static jitter from_json(const nlohmann::json& j, const F& parse_child);

    nlohmann::json to_json() const;

    friend bool operator==(const jitter& a, const jitter& b);

private:
    any_trigger inner_;
    std::chrono::seconds max_;
    jitter_mode mode_;
    std::uint64_t seed_ = 0;
    std::string key_;
    time_window window_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// Hashes that give the same value on every platform and library version,
// which std::hash does not promise: delays must not change on an upgrade.

// splitmix64's output function (Steele, Lea and Flood, 2014).
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
    x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
    return x ^ (x >> 31);
}

// 64-bit FNV-1a over the bytes of `text`.
constexpr std::uint64_t fnv1a64(std::string_view text) noexcept {
    std::uint64_t hash = 0xcbf29ce484222325;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x100000001b3;
    }
    return hash;
}

inline std::uint64_t draw_jitter_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
}

inline std::string format_seed(std::uint64_t seed) {
    constexpr char digits[] = "0123456789abcdef";
    std::string text(16, '0');
    for (int i = 15; i >= 0; --i) {
        text[static_cast<std::size_t>(i)] = digits[seed & 0xf];
        seed >>= 4;
    }
    return text;
}

inline std::uint64_t parse_seed(const std::string& text, std::string_view kind) {
    std::uint64_t seed = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed, 16);
    if (text.empty() || text.size() > 16 || ec != std::errc{} ||
        end != text.data() + text.size()) {
        throw_json_error(kind, "\"seed\" is \"" + text +
                                   "\"; expected 1 to 16 hex digits such as 9e3779b97f4a7c15");
    }
    return seed;
}

// The largest delay: 31 days. Random mode calls the inner trigger once per
// inner fire within max of t, so the cap bounds the cost of one call.
inline constexpr std::chrono::seconds jitter_max_limit{31 * 86400};

inline void check_jitter_max(std::chrono::seconds max) {
    if (max <= std::chrono::seconds{0}) {
        throw invalid_input("jitter trigger: the maximum delay is " + std::to_string(max.count()) +
                            " s; it must be at least one second (PT1S)");
    }
    if (max > jitter_max_limit) {
        throw invalid_input("jitter trigger: the maximum delay is " + std::to_string(max.count()) +
                            " s; it must be at most 31 days (P31D)");
    }
}

} // namespace detail

inline jitter::jitter(any_trigger inner, std::chrono::seconds max, random_delay delay,
                      time_window window)
    : inner_(std::move(inner)), max_(max), mode_(jitter_mode::random), seed_(delay.seed),
      window_(window) {
    detail::check_jitter_max(max_);
    detail::reject_start_trigger(inner_, kind);
}

inline jitter::jitter(any_trigger inner, std::chrono::seconds max, stable_delay delay,
                      time_window window)
    : inner_(std::move(inner)), max_(max), mode_(jitter_mode::stable),
      key_(std::move(delay.key)), window_(window) {
    detail::check_jitter_max(max_);
    detail::reject_start_trigger(inner_, kind);
}

inline std::chrono::seconds jitter::delay_for(instant inner_fire) const noexcept {
    const auto bound = static_cast<std::uint64_t>(max_.count());
    std::uint64_t hash;
    if (mode_ == jitter_mode::stable) {
        hash = detail::splitmix64(detail::fnv1a64(key_));
    } else {
        auto when = static_cast<std::uint64_t>(inner_fire.time_since_epoch().count());
        hash = detail::splitmix64(seed_ ^ detail::splitmix64(when));
    }
    return std::chrono::seconds{static_cast<std::int64_t>(hash % bound)};
}

inline std::optional<fire_time> jitter::next_fire_after(instant t) const {
    const instant after = window_.search_after(t);
    std::optional<fire_time> best;
    if (mode_ == jitter_mode::stable) {
        const auto delay = delay_for(instant{});
        // Inner fire f gives f + delay > after exactly when f > after - delay.
        const instant inner_after = after > instant::min() + delay ? after - delay : instant::min();
        if (auto fire = inner_.next_fire_after(inner_after)) {
            fire->at += delay;
            best = fire;
        }
    } else {
        // An inner fire at or before after - max is delayed to at most `after`.
        const instant from = after > instant::min() + max_ ? after - max_ : instant::min();
        auto fire = inner_.next_fire_after(from);
        // Later inner fires at or past the best delayed time cannot beat it.
        while (fire && (!best || fire->at < best->at)) {
            const instant delayed = fire->at + delay_for(fire->at);
            if (delayed > after && (!best || delayed < best->at)) {
                best = *fire;
                best->at = delayed;
            }
            fire = inner_.next_fire_after(fire->at);
        }
    }
    // A delay may carry the last inner fire past the end of every search.
    if (best && (!window_.admits(best->at) || best->at >= search_limit)) {
        return std::nullopt;
    }
    return best;
}

template <child_trigger_parser F>
jitter jitter::from_json(const nlohmann::json& j, const F& parse_child) {
    detail::check_object_keys(j, kind,
                              {"trigger", "max", "mode", "key", "seed", "start", "end"});
    detail::trigger_nesting_guard guard(kind);
    auto inner = detail::read_child_trigger(j, kind, "trigger", parse_child);

    auto max = detail::positive_duration_from_json(j, kind, "max");

    auto mode = detail::optional_string(j, kind, "mode").value_or("random");
    auto key = detail::optional_string(j, kind, "key");
    auto seed = detail::optional_string(j, kind, "seed");
    auto window = time_window::from_json(j, kind);
    if (mode == "stable") {
        if (seed) {
            detail::throw_json_error(kind, "\"seed\" applies only to \"mode\" \"random\"; "
                                           "stable mode hashes \"key\"");
        }
        if (!key) {
            detail::throw_json_error(kind, "\"key\" is missing; stable mode needs a key such "
                                           "as the job id");
        }
        return jitter(std::move(inner), max, stable_delay{*key}, window);
    }
    if (mode != "random") {
        detail::throw_json_error(kind,
                                 "\"mode\" is \"" + mode + "\"; expected \"random\" or \"stable\"");
    }
    if (key) {
        detail::throw_json_error(kind, "\"key\" applies only to \"mode\" \"stable\"; random "
                                       "mode uses \"seed\"");
    }
    random_delay delay = seed ? random_delay{detail::parse_seed(*seed, kind)} : random_delay{};
    return jitter(std::move(inner), max, delay, window);
}

inline nlohmann::json jitter::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["trigger"] = inner_.to_json();
    j["max"] = format_duration(max_);
    if (mode_ == jitter_mode::stable) {
        j["mode"] = "stable";
        j["key"] = key_;
    } else {
        j["mode"] = "random";
        j["seed"] = detail::format_seed(seed_);
    }
    window_.to_json(j);
    return j;
}

inline bool operator==(const jitter& a, const jitter& b) {
    return a.max_ == b.max_ && a.mode_ == b.mode_ && a.seed_ == b.seed_ && a.key_ == b.key_ &&
           a.window_ == b.window_ && detail::same_trigger(a.inner_, b.inner_);
}

static_assert(trigger<jitter>);

} // namespace chime
