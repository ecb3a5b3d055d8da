// The calendar_interval trigger: every N days, weeks, months or years at the
// local wall-clock time of its first occurrence, in a time zone and under a
// DST policy.
//
//   // 09:00 Paris time on the 31st of every month that has one.
//   chime::calendar_interval_trigger monthly(chime::calendar_step::parse("P1M"),
//       chime::parse_date_time("2024-01-31T09:00:00").local,
//       chime::zone::locate("Europe/Paris"));
//
// Thread safety: an immutable value; next_after may be called from any thread.
#pragma once

#include <chime/at.hpp>
#include <chime/detail/json_fields.hpp>
#include <chime/dst.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chime {

enum class calendar_unit { day, week, month, year };

// A whole number of one calendar unit: P3D, P2W, P1M, P1Y.
struct calendar_step {
    std::int64_t count = 1; // 1 to max_count
    calendar_unit unit = calendar_unit::day;

    static constexpr std::int64_t max_count = 1'000'000;

    // Parses an ISO 8601 duration with exactly one of Y, M, W or D and no
    // time part. Throws invalid_input naming `text`.
    static calendar_step parse(std::string_view text);

    // The ISO 8601 form, such as "P1M".
    std::string to_string() const;

    friend bool operator==(const calendar_step&, const calendar_step&) = default;
};

// Occurrence k (k = 0, 1, ...) is the first occurrence's local date advanced
// by k steps, keeping the day of the month, at the first occurrence's time of
// day. Occurrence 0 is itself a fire time. A date that does not exist (31
// April, 29 February in a common year) is skipped, never moved to another
// day, so "P1M from 31 January" fires on the 31st of the seven months that
// have one. Each local time becomes instants as at_trigger's local form does,
// through `dst.rule_for({true})`. No fire is returned at or after
// search_limit (2400-01-01T00:00:00Z); `end` is inclusive.
class calendar_interval_trigger {
public:
    static constexpr std::string_view kind = "calendar_interval";

    // Throws invalid_input when `every` is out of range, when `first` is not
    // before the year 2400, or when `end` is before the first occurrence.
    calendar_interval_trigger(calendar_step every, local_seconds first, zone tz = zone::local(),
                              dst_setting dst = {}, std::optional<instant> end = {});

    // The first fire time strictly after `t`, or none. It estimates the
    // occurrence from `t` and steps over at most a few occurrences, plus any
    // run of dates that do not exist (at most 7 for a yearly 29 February).
    std::optional<instant> next_after(instant t) const noexcept {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // next_after with the local time and what the DST policy did to it.
    std::optional<fire_time> next_fire_after(instant t) const noexcept;

    const calendar_step& every() const noexcept { return step_; }
    local_seconds first() const noexcept { return first_; }
    const zone& time_zone() const noexcept { return zone_; }
    const dst_setting& dst() const noexcept { return dst_; }
    const std::optional<instant>& end() const noexcept { return end_; }

    // {"kind":"calendar_interval","every":"P1M","start":"2024-01-31T09:00:00",
    //  "tz":"Europe/Paris","dst":"cronie","end":"2025-12-31T23:59:59Z"}.
    // "every" and "start" are required. "start" is a local date-time without a
    // UTC offset, because the wall-clock time is what repeats; an offset is
    // rejected rather than silently converted. "tz" defaults to the system's
    // local zone and "dst" to cronie. "end" is an instant with an offset.
    // Throws invalid_input naming the key and the value.
    template <dst_policy... Policies>
    static calendar_interval_trigger from_json(const nlohmann::json& j);

    nlohmann::json to_json() const;

    friend bool operator==(const calendar_interval_trigger& a,
                           const calendar_interval_trigger& b) noexcept {
        return a.step_ == b.step_ && a.first_ == b.first_ && a.zone_ == b.zone_ &&
               a.dst_ == b.dst_ && a.end_ == b.end_;
    }

private:
    enum class occurrence { exists, missing, beyond_limit };

    // The local time of occurrence k in `wall`, or why there is none.
    occurrence local_time_of(std::int64_t k, local_seconds& wall) const noexcept;

    // An occurrence index no later than the first one that fires after `t`.
    std::int64_t first_candidate(instant t) const noexcept;

    calendar_step step_;
    local_seconds first_;
    zone zone_;
    dst_setting dst_;
    std::optional<instant> end_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    auto q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Months since 0000-01, so that months and years step as plain integers.
inline std::int64_t month_index(const date::year_month_day& ymd) noexcept {
    return std::int64_t{int(ymd.year())} * 12 + (unsigned(ymd.month()) - 1);
}

} // namespace detail

inline calendar_step calendar_step::parse(std::string_view text) {
    auto fail = [&](const std::string& why) -> calendar_step {
        throw invalid_input("invalid calendar step \"" + std::string(text) + "\": " + why +
                            "; expected one of P<n>D, P<n>W, P<n>M or P<n>Y such as P1M");
    };
    auto d = parse_duration(text);
    if (d.clock != std::chrono::seconds{0}) {
        return fail("it has a time part, which is elapsed time; use an interval trigger");
    }
    int units = (d.years != 0) + (d.months != 0) + (d.weeks != 0) + (d.days != 0);
    if (units == 0) {
        return fail("the count must be at least 1");
    }
    if (units > 1) {
        return fail("it combines several units");
    }
    calendar_step step;
    if (d.years != 0) {
        step = {d.years, calendar_unit::year};
    } else if (d.months != 0) {
        step = {d.months, calendar_unit::month};
    } else if (d.weeks != 0) {
        step = {d.weeks, calendar_unit::week};
    } else {
        step = {d.days, calendar_unit::day};
    }
    if (step.count > max_count) {
        return fail("the count is larger than 1000000");
    }
    return step;
}

inline std::string calendar_step::to_string() const {
    iso_duration d;
    switch (unit) {
    case calendar_unit::day: d.days = count; break;
    case calendar_unit::week: d.weeks = count; break;
    case calendar_unit::month: d.months = count; break;
    case calendar_unit::year: d.years = count; break;
    }
    return format_duration(d);
}

inline calendar_interval_trigger::calendar_interval_trigger(calendar_step every,
                                                            local_seconds first, zone tz,
                                                            dst_setting dst,
                                                            std::optional<instant> end)
    : step_(every), first_(first), zone_(std::move(tz)), dst_(dst), end_(end) {
    if (step_.count < 1 || step_.count > calendar_step::max_count) {
        throw invalid_input("calendar_interval trigger: the step count " +
                            std::to_string(step_.count) + " is outside 1 to 1000000");
    }
    constexpr local_seconds earliest{date::local_days{date::year{0} / 1 / 1}};
    if (first_ < earliest || first_ >= local_seconds{search_limit.time_since_epoch()}) {
        throw invalid_input("calendar_interval trigger: \"start\" " + format_local(first_) +
                            " is outside the years 0000 to 2399");
    }
    if (end_) {
        auto first_instant = zone_.resolve(first_).first;
        if (*end_ < first_instant) {
            throw invalid_input("calendar_interval trigger: \"end\" " + format_utc(*end_) +
                                " is before \"start\" " + format_local(first_) + " (" +
                                format_instant(first_instant, zone_) + ")");
        }
    }
}

inline calendar_interval_trigger::occurrence
calendar_interval_trigger::local_time_of(std::int64_t k, local_seconds& wall) const noexcept {
    using namespace date;
    const auto first_day = floor<days>(first_);
    const auto time_of_day = first_ - first_day;
    // Steps stop being computed once past the year 2400; with k and the count
    // both bounded that way, no product below can overflow.
    constexpr std::int64_t last_day = 2400 * 366;
    constexpr std::int64_t last_month = 2401 * 12;

    if (step_.unit == calendar_unit::day || step_.unit == calendar_unit::week) {
        const std::int64_t length = step_.unit == calendar_unit::week ? 7 * step_.count : step_.count;
        if (k > last_day / length + 1) {
            return occurrence::beyond_limit;
        }
        const auto day = first_day + days{k * length};
        wall = day + time_of_day;
        return wall >= local_seconds{search_limit.time_since_epoch()} ? occurrence::beyond_limit
                                                                      : occurrence::exists;
    }

    const year_month_day first_date{first_day};
    const std::int64_t months = step_.unit == calendar_unit::year ? 12 * step_.count : step_.count;
    if (k > last_month / months + 1) {
        return occurrence::beyond_limit;
    }
    const std::int64_t index = detail::month_index(first_date) + k * months;
    const auto y = detail::floor_div(index, 12);
    if (y >= 2400) {
        return occurrence::beyond_limit;
    }
    const year_month_day date{year{int(y)}, month{unsigned(index - y * 12 + 1)}, first_date.day()};
    if (!date.ok()) {
        return occurrence::missing;
    }
    wall = local_days{date} + time_of_day;
    return occurrence::exists;
}

inline std::int64_t calendar_interval_trigger::first_candidate(instant t) const noexcept {
    using namespace date;
    // Two days before the local reading of `t` is earlier than any occurrence
    // that fires after `t`: UTC offsets and DST jumps stay below a day each.
    const local_seconds local = zone_.to_local(t) - days{2};
    if (local <= first_) {
        return 0;
    }
    const auto first_day = floor<days>(first_);
    const auto day = floor<days>(local);
    switch (step_.unit) {
    case calendar_unit::day:
    case calendar_unit::week: {
        const std::int64_t length = step_.unit == calendar_unit::week ? 7 * step_.count : step_.count;
        return detail::floor_div((day - first_day).count(), length);
    }
    case calendar_unit::month:
    case calendar_unit::year: {
        const std::int64_t months = step_.unit == calendar_unit::year ? 12 * step_.count : step_.count;
        const auto elapsed = detail::month_index(year_month_day{day}) -
                             detail::month_index(year_month_day{first_day});
        return detail::floor_div(elapsed, months);
    }
    }
    return 0;
}

inline std::optional<fire_time> calendar_interval_trigger::next_fire_after(instant t) const noexcept {
    if (t >= search_limit) {
        return std::nullopt;
    }
    const dst_rule rule = dst_.rule_for({true});
    // Before the year 0 `t` may be far enough out that its local reading
    // overflows; any such instant is before the first occurrence anyway.
    constexpr instant earliest = date::sys_days{date::year{-1} / 1 / 1};
    const auto k_first = t < earliest ? std::int64_t{0} : first_candidate(t);

    for (auto k = k_first;; ++k) {
        local_seconds wall;
        switch (local_time_of(k, wall)) {
        case occurrence::beyond_limit: return std::nullopt;
        case occurrence::missing: continue;
        case occurrence::exists: break;
        }
        for (const auto& fire : detail::resolve_local_fire(wall, zone_, rule)) {
            if (fire.at <= t) {
                continue;
            }
            if (fire.at >= search_limit || (end_ && fire.at > *end_)) {
                return std::nullopt;
            }
            return fire;
        }
    }
}

template <dst_policy... Policies>
calendar_interval_trigger calendar_interval_trigger::from_json(const nlohmann::json& j) {
    detail::check_object_keys(j, kind, {"every", "start", "tz", "dst", "end"});
    auto every_text = detail::required_string(j, kind, "every");
    calendar_step every;
    try {
        every = calendar_step::parse(every_text);
    } catch (const invalid_input& e) {
        detail::throw_json_error(kind, std::string("\"every\" is invalid: ") + e.what());
    }

    auto start_text = detail::required_string(j, kind, "start");
    auto start = detail::date_time_from_json(start_text, kind, "start");
    if (start.offset) {
        detail::throw_json_error(kind, "\"start\" \"" + start_text +
                                           "\" has a UTC offset; write the local date-time "
                                           "without one (" +
                                           format_local(start.local) +
                                           ") and name its zone in \"tz\"");
    }

    auto tz = detail::zone_from_json(j, kind, "tz", zone::local());
    auto dst = detail::dst_from_json<Policies...>(j, kind);

    // "end" may be an instant or a local date-time in `tz`, as for every trigger.
    nlohmann::json end_only = nlohmann::json::object();
    if (j.contains("end")) {
        end_only["end"] = j["end"];
    }
    std::optional<instant> end = time_window::from_json(end_only, kind, &tz).end;
    return calendar_interval_trigger(every, start.local, std::move(tz), dst, end);
}

inline nlohmann::json calendar_interval_trigger::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["every"] = step_.to_string();
    j["start"] = format_local(first_);
    j["tz"] = zone_.name();
    j["dst"] = dst_.kind;
    if (end_) {
        j["end"] = format_utc(*end_);
    }
    return j;
}

static_assert(trigger<calendar_interval_trigger>);

} // namespace chime
