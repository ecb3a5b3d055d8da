// The at trigger: fires once, like the at command. It takes either an exact
// instant or a local date-time read in a time zone, where a DST policy
// decides what happens when a jump skips or repeats that local time.
//
//   chime::at_trigger once(chime::parse_instant("2025-03-30T03:00:00+02:00"));
//   chime::at_trigger local(chime::parse_date_time("2015-03-08T02:30:00").local,
//                           chime::zone::locate("America/New_York"));
//
// Thread safety: an immutable value; next_after may be called from any thread.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/dst.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

namespace detail {

// The fire times of one local time under a DST rule, in time order. A skipped
// time under gap_action::skip has none, a repeated time under
// overlap_action::both has two, and any other local time has one.
struct local_fires {
    std::array<fire_time, 2> fires{};
    std::size_t count = 0;

    const fire_time* begin() const noexcept { return fires.data(); }
    const fire_time* end() const noexcept { return fires.data() + count; }
};

local_fires resolve_local_fire(local_seconds wall, const zone& tz, dst_rule rule) noexcept;

// Parses the date-time in `text`, read from `key`. Fire times are whole
// seconds, so a fraction of a second rounds up to the next second.
date_time_text date_time_from_json(std::string_view text, std::string_view kind, const char* key);

} // namespace detail

class at_trigger {
public:
    static constexpr std::string_view kind = "at";

    // Fires once, at `when`. `display` is only the zone in which the fire time
    // is shown (UTC by default). Throws invalid_input when `when` is not
    // before search_limit (2400-01-01T00:00:00Z).
    explicit at_trigger(instant when, zone display = zone{}, time_window window = {});

    // Fires once, at the local time `wall` in `tz`. A one-shot is a fixed-time
    // job, so `dst.rule_for({true})` decides: a local time that a forward jump
    // skips fires at the first instant after the jump under
    // gap_action::run_after_jump and never under gap_action::skip. A local time
    // that a backward jump repeats fires at its first occurrence, and also at
    // the second under overlap_action::both. Throws invalid_input when `wall`
    // is not before the year 2400.
    explicit at_trigger(local_seconds wall, zone tz = zone::local(), dst_setting dst = {},
                        time_window window = {});

    // The first fire time strictly after `t` that lies in the window, or none.
    std::optional<instant> next_after(instant t) const noexcept {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // next_after with the local time and what the DST policy did to it.
    std::optional<fire_time> next_fire_after(instant t) const noexcept;

    // True for the local form, false for an exact instant.
    bool is_local() const noexcept { return wall_.has_value(); }

    // The local date-time as given, for the local form.
    const std::optional<local_seconds>& wall_time() const noexcept { return wall_; }

    const zone& time_zone() const noexcept { return zone_; }
    const dst_setting& dst() const noexcept { return dst_; }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"at","at":"2015-03-08T02:30:00","tz":"America/New_York",
    //  "dst":"cronie","start":...,"end":...}; only "at" is required.
    // An "at" with Z or an offset is an exact instant: "tz" then only chooses
    // the display zone (default UTC) and "dst" is rejected, as it would have
    // no effect. An "at" without an offset is a local time in "tz" (default:
    // the system's local zone) under the policy "dst" (default cronie).
    // Throws invalid_input naming the key and the value.
    template <dst_policy... Policies>
    static at_trigger from_json(const nlohmann::json& j);

    nlohmann::json to_json() const;

    friend bool operator==(const at_trigger& a, const at_trigger& b) noexcept {
        return a.exact_ == b.exact_ && a.wall_ == b.wall_ && a.zone_ == b.zone_ &&
               a.dst_ == b.dst_ && a.window_ == b.window_;
    }

private:
    std::optional<instant> exact_;
    std::optional<local_seconds> wall_;
    zone zone_;
    dst_setting dst_;
    time_window window_;
    detail::local_fires fires_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline local_fires resolve_local_fire(local_seconds wall, const zone& tz, dst_rule rule) noexcept {
    local_fires result;
    auto add = [&](fire_time fire) { result.fires[result.count++] = fire; };
    auto resolution = tz.resolve(wall);
    switch (resolution.kind) {
    case local_kind::unique: add({resolution.first, wall}); break;
    case local_kind::nonexistent:
        if (rule.gap == gap_action::run_after_jump) {
            add({resolution.first, wall, fire_note::after_jump});
        }
        break;
    case local_kind::ambiguous: {
        const bool both = rule.overlap == overlap_action::both;
        add({resolution.first, wall, fire_note::first_of_two, both});
        if (both) {
            add({resolution.second, wall, fire_note::second_of_two});
        }
        break;
    }
    }
    return result;
}

inline date_time_text date_time_from_json(std::string_view text, std::string_view kind,
                                          const char* key) {
    date_time_text parsed;
    try {
        parsed = parse_date_time(text);
    } catch (const invalid_input& e) {
        throw_json_error(kind, std::string("\"") + key + "\" is invalid: " + e.what());
    }
    if (parsed.fraction != std::chrono::microseconds{0}) {
        parsed.local += std::chrono::seconds{1};
        parsed.fraction = std::chrono::microseconds{0};
    }
    return parsed;
}

} // namespace detail

inline at_trigger::at_trigger(instant when, zone display, time_window window)
    : exact_(when), zone_(std::move(display)), window_(window) {
    if (when >= search_limit) {
        throw invalid_input("at trigger: " + format_utc(when) +
                            " is not before 2400-01-01T00:00:00Z, where every search ends");
    }
    fires_.fires[0] = fire_time{when, zone_.to_local(when)};
    fires_.count = 1;
}

inline at_trigger::at_trigger(local_seconds wall, zone tz, dst_setting dst, time_window window)
    : wall_(wall), zone_(std::move(tz)), dst_(dst), window_(window) {
    if (wall >= local_seconds{search_limit.time_since_epoch()}) {
        throw invalid_input("at trigger: " + format_local(wall) +
                            " is not before the year 2400, where every search ends");
    }
    fires_ = detail::resolve_local_fire(wall, zone_, dst_.rule_for({true}));
}

inline std::optional<fire_time> at_trigger::next_fire_after(instant t) const noexcept {
    const instant after = window_.search_after(t);
    for (const auto& fire : fires_) {
        if (fire.at > after && fire.at < search_limit) {
            return window_.admits(fire.at) ? std::optional<fire_time>{fire} : std::nullopt;
        }
    }
    return std::nullopt;
}

template <dst_policy... Policies>
at_trigger at_trigger::from_json(const nlohmann::json& j) {
    detail::check_object_keys(j, kind, {"at", "tz", "dst", "start", "end"});
    auto text = detail::required_string(j, kind, "at");
    auto parsed = detail::date_time_from_json(text, kind, "at");
    auto dst_name = detail::optional_string(j, kind, "dst");
    const zone window_zone =
        detail::zone_from_json(j, kind, "tz", parsed.offset ? zone{} : zone::local());
    auto window = time_window::from_json(j, kind, &window_zone);

    if (parsed.offset) {
        if (dst_name) {
            detail::throw_json_error(kind, "\"dst\" is \"" + *dst_name + "\" but \"at\" \"" +
                                               text +
                                               "\" is an exact instant, which no DST policy "
                                               "changes; remove \"dst\" or the UTC offset");
        }
        auto display = detail::zone_from_json(j, kind, "tz", zone{});
        instant when{parsed.local.time_since_epoch() - *parsed.offset};
        return at_trigger(when, std::move(display), window);
    }

    auto tz = detail::zone_from_json(j, kind, "tz", zone::local());
    auto dst = detail::dst_from_json<Policies...>(j, kind);
    return at_trigger(parsed.local, std::move(tz), dst, window);
}

inline nlohmann::json at_trigger::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    if (wall_) {
        j["at"] = format_local(*wall_);
        j["dst"] = dst_.kind;
    } else {
        j["at"] = format_instant(*exact_, zone_);
    }
    j["tz"] = zone_.name();
    window_.to_json(j);
    return j;
}

static_assert(trigger<at_trigger>);

} // namespace chime
