// The interval trigger: fires every fixed length of elapsed time from an
// anchor, so wall-clock jumps (DST, a zone change) never move it.
//
//   chime::interval_trigger every_30s(std::chrono::seconds{30});
//   auto next = every_30s.next_after(now); // the next multiple of 30 s since the epoch
//
// Thread safety: an immutable value; next_after may be called from any thread.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

// Fire k is anchor + k * every, computed directly from k, so a late or early
// caller never shifts later fires (no drift). The anchor is the window's
// start when it has one: the start is then the first fire (k = 0, 1, ...).
// Without a start the anchor is the Unix epoch and k may be negative, so PT1H
// fires on the hour UTC before 1970 too.
// The window's end is inclusive. No fire is returned at or after
// search_limit (2400-01-01T00:00:00Z).
class interval_trigger {
public:
    static constexpr std::string_view kind = "interval";

    // Throws invalid_input when `every` is not positive, or when the
    // window's start is outside 0000-01-01 to 2399-12-31 (UTC). `display` is
    // only the zone in which fire times are shown; it never moves them.
    explicit interval_trigger(std::chrono::seconds every, time_window window = {},
                              zone display = zone{});

    // The first fire time strictly after `t`, or none. Constant time: one
    // division, whatever the distance from the anchor.
    std::optional<instant> next_after(instant t) const noexcept;

    std::chrono::seconds every() const noexcept { return every_; }
    instant anchor() const noexcept { return window_.start.value_or(instant{}); }
    const zone& time_zone() const noexcept { return zone_; }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"interval","every":"PT30S","start":"2026-03-08T01:59:00-08:00",
    //  "end":...,"tz":"America/Los_Angeles"}; only "every" is required. "every"
    // is an ISO 8601 duration of whole seconds, days or weeks (a day is
    // 86,400 s); "tz" is the display zone, UTC by default. Throws invalid_input
    // naming the key and the value.
    static interval_trigger from_json(const nlohmann::json& j);

    nlohmann::json to_json() const;

    friend bool operator==(const interval_trigger&, const interval_trigger&) = default;

private:
    std::chrono::seconds every_;
    time_window window_;
    zone zone_;
};

// ---------------------------------------------------------------------------
// Definitions

inline interval_trigger::interval_trigger(std::chrono::seconds every, time_window window,
                                          zone display)
    : every_(every), window_(window), zone_(std::move(display)) {
    if (every_ <= std::chrono::seconds{0}) {
        throw invalid_input("interval trigger: the interval is " +
                            std::to_string(every_.count()) +
                            " s; it must be at least one second (PT1S)");
    }
    // Bounding the anchor keeps `t - anchor` in next_after far from overflow.
    constexpr instant earliest = date::sys_days{date::year{0} / 1 / 1};
    if (window_.start && (*window_.start < earliest || *window_.start >= search_limit)) {
        throw invalid_input("interval trigger: \"start\" " + format_utc(*window_.start) +
                            " is outside 0000-01-01T00:00:00Z to 2399-12-31T23:59:59Z");
    }
}

inline std::optional<instant> interval_trigger::next_after(instant t) const noexcept {
    if (t >= search_limit) {
        return std::nullopt;
    }
    if (window_.start && t < *window_.start) {
        return window_.admits(*window_.start) ? window_.start : std::nullopt;
    }
    // The smallest k with anchor + k * every > t; k is negative before an
    // epoch anchor. Comparing k with the largest k that stays before
    // search_limit avoids overflowing k * every.
    const instant origin = anchor();
    const auto elapsed = (t - origin).count();
    const auto step = every_.count();
    const auto k = elapsed / step - (elapsed % step < 0 ? 1 : 0) + 1;
    const auto last_k = (search_limit - std::chrono::seconds{1} - origin).count() / step;
    if (k > last_k) {
        return std::nullopt;
    }
    const instant next = origin + k * every_;
    return window_.admits(next) ? std::optional<instant>{next} : std::nullopt;
}

inline interval_trigger interval_trigger::from_json(const nlohmann::json& j) {
    detail::check_object_keys(j, kind, {"every", "start", "end", "tz"});
    auto every = detail::positive_duration_from_json(j, kind, "every");
    zone display = detail::zone_from_json(j, kind, "tz", zone{});
    // A local "start" or "end" needs "tz": without it there is no zone to read it in.
    auto window = j.contains("tz") ? time_window::from_json(j, kind, &display)
                                   : time_window::from_json(j, kind);
    return interval_trigger(every, window, std::move(display));
}

inline nlohmann::json interval_trigger::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["every"] = format_duration(every_);
    j["tz"] = zone_.name();
    window_.to_json(j);
    return j;
}

static_assert(trigger<interval_trigger>);

} // namespace chime
