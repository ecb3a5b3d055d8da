// The cron trigger: a cron expression read in a time zone, with a DST policy
// deciding what happens to local times that a jump skips or repeats.
//
//   chime::cron_trigger daily("30 2 * * *", chime::zone::locate("Europe/Berlin"));
//   auto next = daily.next_after(now); // std::optional<chime::instant>
//
// Thread safety: an immutable value; next_after may be called from any thread.
#pragma once

#include <chime/cron_expression.hpp>
#include <chime/detail/json_fields.hpp>
#include <chime/dst.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace chime {

class cron_trigger {
public:
    static constexpr std::string_view kind = "cron";

    // Parses `expression` (see cron_expression) to be read in `tz`, by
    // default the system's local zone as cron does. Throws invalid_input.
    explicit cron_trigger(std::string_view expression, zone tz = zone::local(),
                          dst_setting dst = {}, cron_options options = {},
                          time_window window = {})
        : expression_(cron_expression::parse(expression, options)), zone_(std::move(tz)),
          dst_(dst), window_(window) {}

    // The first fire time strictly after `t`, or none when there is no
    // further one before the year 2400 (or before the window's end).
    std::optional<instant> next_after(instant t) const noexcept {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // next_after with the local time and what the DST policy did to it.
    std::optional<fire_time> next_fire_after(instant t) const noexcept;

    // True for "@reboot": the job runs once when the worker starts and has no
    // clock time, so next_after always returns none.
    bool fires_at_start() const noexcept { return expression_.is_reboot(); }

    const cron_expression& expression() const noexcept { return expression_; }
    const zone& time_zone() const noexcept { return zone_; }
    const dst_setting& dst() const noexcept { return dst_; }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"cron","expr":"30 2 * * *","tz":"Europe/Berlin","dst":"cronie",
    //  "day_rule":"or","weekdays":"cron","start":...,"end":...}; only "expr" is
    // required. Throws invalid_input naming the key and the value.
    template <dst_policy... Policies>
    static cron_trigger from_json(const nlohmann::json& j);

    nlohmann::json to_json() const;

    friend bool operator==(const cron_trigger& a, const cron_trigger& b) noexcept {
        return a.expression_ == b.expression_ && a.zone_ == b.zone_ && a.dst_ == b.dst_ &&
               a.window_ == b.window_;
    }

private:
    std::optional<fire_time> search(instant after) const noexcept;

    cron_expression expression_;
    zone zone_;
    dst_setting dst_;
    time_window window_;
};

// ---------------------------------------------------------------------------
// Definitions

inline std::optional<fire_time> cron_trigger::next_fire_after(instant t) const noexcept {
    if (expression_.is_reboot()) {
        return std::nullopt;
    }
    auto fire = search(window_.search_after(t));
    // Local years end at 2399, but west of UTC their last hours are in 2400.
    if (fire && (!window_.admits(fire->at) || fire->at >= search_limit)) {
        return std::nullopt;
    }
    return fire;
}

inline std::optional<fire_time> cron_trigger::search(instant after) const noexcept {
    using std::chrono::seconds;
    if (after >= search_limit - seconds{1}) {
        return std::nullopt;
    }
    // No fire time is before 1970, and starting there keeps the local-time
    // arithmetic below far from the limits of the 64-bit representation.
    const instant earliest = date::sys_days{date::year{1969} / 12 / 30};
    if (after < earliest) {
        after = earliest;
    }
    const auto local_limit = local_seconds{search_limit.time_since_epoch()} + date::days{1};
    auto local_of = [](instant i, seconds offset) {
        return local_seconds{i.time_since_epoch() + offset};
    };

    if (zone_.is_fixed()) {
        const auto offset = zone_.fixed_offset();
        auto local = expression_.next_local(local_of(after, offset) + seconds{1}, local_limit);
        if (!local) {
            return std::nullopt;
        }
        return fire_time{instant{local->time_since_epoch() - offset}, *local};
    }
    auto span = zone_.span_at(after);

    const dst_rule rule = dst_.rule_for({expression_.is_fixed_time()});
    local_seconds from = local_of(after, span.offset) + seconds{1};

    // Walk the zone's segments in time order. Inside one segment local time
    // and instants move together; the jumps between segments are where the
    // DST policy decides.
    while (true) {
        const bool open_end = span.end == instant::max() || span.end >= search_limit;
        const local_seconds segment_end = open_end ? local_limit : local_of(span.end, span.offset);
        // Local times before `repeat_end` were already passed once, in the
        // previous segment: here they are second occurrences.
        const local_seconds repeat_end = span.previous_offset > span.offset
                                             ? local_of(span.begin, span.previous_offset)
                                             : from;
        // Local times from `repeats_from` on will occur again in the next segment.
        const local_seconds repeats_from = !open_end && span.next_offset < span.offset
                                               ? local_of(span.end, span.next_offset)
                                               : segment_end;

        while (auto local = expression_.next_local(from, segment_end)) {
            instant at{local->time_since_epoch() - span.offset};
            if (*local < repeat_end) {
                if (rule.overlap == overlap_action::first_only) {
                    from = repeat_end;
                    continue;
                }
                return fire_time{at, *local, fire_note::second_of_two};
            }
            if (*local >= repeats_from) {
                return fire_time{at, *local, fire_note::first_of_two,
                                 rule.overlap == overlap_action::both};
            }
            return fire_time{at, *local};
        }
        if (open_end) {
            return std::nullopt;
        }

        const local_seconds next_begin = local_of(span.end, span.next_offset);
        if (span.next_offset > span.offset && rule.gap == gap_action::run_after_jump) {
            // Local times in [segment_end, next_begin) do not exist.
            if (auto skipped = expression_.next_local(segment_end, next_begin)) {
                return fire_time{span.end, *skipped, fire_note::after_jump};
            }
        }
        from = next_begin;
        span = zone_.span_at(span.end);
    }
}

namespace detail {

inline day_rule read_day_rule(const nlohmann::json& j) {
    auto text = optional_string(j, cron_trigger::kind, "day_rule");
    if (!text || *text == "or") {
        return day_rule::either;
    }
    if (*text == "and") {
        return day_rule::both;
    }
    throw_json_error(cron_trigger::kind,
                     "\"day_rule\" is \"" + *text + "\"; expected \"or\" or \"and\"");
}

inline weekday_numbering read_weekday_numbering(const nlohmann::json& j) {
    auto text = optional_string(j, cron_trigger::kind, "weekdays");
    if (!text || *text == "auto") {
        return weekday_numbering::automatic;
    }
    if (*text == "cron") {
        return weekday_numbering::cron;
    }
    if (*text == "quartz") {
        return weekday_numbering::quartz;
    }
    throw_json_error(cron_trigger::kind, "\"weekdays\" is \"" + *text +
                                             "\"; expected \"auto\", \"cron\" or \"quartz\"");
}

} // namespace detail

template <dst_policy... Policies>
cron_trigger cron_trigger::from_json(const nlohmann::json& j) {
    detail::check_object_keys(j, kind,
                              {"expr", "tz", "dst", "day_rule", "weekdays", "start", "end"});
    auto expr = detail::required_string(j, kind, "expr");
    auto tz_name = detail::optional_string(j, kind, "tz");
    cron_options options{detail::read_day_rule(j), detail::read_weekday_numbering(j)};
    zone tz = tz_name ? detail::zone_from_json(j, kind, "tz", zone{}) : zone::local();
    auto window = time_window::from_json(j, kind, &tz);
    auto dst = detail::dst_from_json<Policies...>(j, kind);
    return cron_trigger(expr, std::move(tz), dst, options, window);
}

inline nlohmann::json cron_trigger::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["expr"] = expression_.text();
    j["tz"] = zone_.name();
    j["dst"] = dst_.kind;
    j["day_rule"] = expression_.options().days == day_rule::both ? "and" : "or";
    switch (expression_.options().weekdays) {
    case weekday_numbering::automatic: break;
    case weekday_numbering::cron: j["weekdays"] = "cron"; break;
    case weekday_numbering::quartz: j["weekdays"] = "quartz"; break;
    }
    window_.to_json(j);
    return j;
}

static_assert(trigger<cron_trigger>);

} // namespace chime
