// Daylight-saving time policies: what a trigger that reads wall-clock time
// does with a local time that a forward jump skips, and with one that a
// backward jump repeats.
//
// A policy is a type with a `kind` name and a `rule_for(wall_time_shape)`
// member returning a dst_rule. Three ship: dst_cronie (the default),
// dst_skip and dst_every_instant. Thread safety: policies are stateless values.
#pragma once

#include <chime/error.hpp>

#include <concepts>
#include <string>
#include <string_view>

namespace chime {

// The action for a local time inside a forward jump (a gap).
enum class gap_action {
    skip,          // the time never fires that day
    run_after_jump // the time fires once, at the first instant after the jump
};

// The action for a local time that occurs twice in a backward jump.
enum class overlap_action {
    first_only, // fires at the first occurrence only
    both        // fires at both occurrences
};

struct dst_rule {
    gap_action gap;
    overlap_action overlap;
    friend constexpr bool operator==(dst_rule, dst_rule) = default;
};

// The input of a policy: whether the trigger fires at fixed times of day.
// A cron job is fixed-time when neither its minute nor its hour field starts
// with '*'. A one-shot local time and a calendar interval are always fixed-time.
struct wall_time_shape {
    bool fixed_time;
};

template <class P>
concept dst_policy = requires(const P& policy, wall_time_shape shape) {
    { P::kind } -> std::convertible_to<std::string_view>;
    { policy.rule_for(shape) } -> std::same_as<dst_rule>;
};

// The cronie (Vixie cron 4) rule. A fixed-time job whose time falls in a
// forward jump runs once right after the jump, and once at the first of two
// repeated times. A job whose minute or hour starts with '*' follows the wall
// clock: it skips the missing times and runs in both repeated hours.
struct dst_cronie {
    static constexpr std::string_view kind = "cronie";
    constexpr dst_rule rule_for(wall_time_shape shape) const noexcept {
        if (shape.fixed_time) {
            return {gap_action::run_after_jump, overlap_action::first_only};
        }
        return {gap_action::skip, overlap_action::both};
    }
};

// A local time that does not exist never fires; a repeated one fires once, at
// its first occurrence.
struct dst_skip {
    static constexpr std::string_view kind = "skip";
    constexpr dst_rule rule_for(wall_time_shape) const noexcept {
        return {gap_action::skip, overlap_action::first_only};
    }
};

// Fires at every real instant whose local time matches: twice in a repeated
// hour, never in a skipped one.
struct dst_every_instant {
    static constexpr std::string_view kind = "every_instant";
    constexpr dst_rule rule_for(wall_time_shape) const noexcept {
        return {gap_action::skip, overlap_action::both};
    }
};

// A policy reduced to its decisions, so that a trigger stores it by value
// without a template parameter. Built from any dst_policy by dst_setting::of.
struct dst_setting {
    std::string_view kind = dst_cronie::kind;
    dst_rule fixed_time = dst_cronie{}.rule_for({true});
    dst_rule wall_clock = dst_cronie{}.rule_for({false});

    template <dst_policy P>
    static constexpr dst_setting of(const P& policy) noexcept {
        return {P::kind, policy.rule_for({true}), policy.rule_for({false})};
    }

    constexpr dst_rule rule_for(wall_time_shape shape) const noexcept {
        return shape.fixed_time ? fixed_time : wall_clock;
    }

    friend constexpr bool operator==(const dst_setting& a, const dst_setting& b) noexcept {
        return a.kind == b.kind && a.fixed_time == b.fixed_time && a.wall_clock == b.wall_clock;
    }
};

// Finds the policy named `name` among `Policies` (by default the three that
// ship). Throws invalid_input naming the value and listing the known names.
template <dst_policy... Policies>
dst_setting dst_setting_named(std::string_view name) {
    if constexpr (sizeof...(Policies) == 0) {
        return dst_setting_named<dst_cronie, dst_skip, dst_every_instant>(name);
    } else {
        dst_setting found;
        bool matched = ((name == Policies::kind ? (found = dst_setting::of(Policies{}), true)
                                                : false) ||
                        ...);
        if (!matched) {
            std::string known;
            ((known += (known.empty() ? "" : ", ") + std::string(Policies::kind)), ...);
            throw invalid_input("dst: unknown policy \"" + std::string(name) +
                                "\"; expected one of " + known);
        }
        return found;
    }
}

static_assert(dst_policy<dst_cronie>);
static_assert(dst_policy<dst_skip>);
static_assert(dst_policy<dst_every_instant>);
static_assert(!dst_policy<int>);

} // namespace chime
