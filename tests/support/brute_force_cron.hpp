// A slow, independent reference for cron fire times, used by the differential
// test to check chime::cron_trigger. It shares no code with
// chime/cron_expression.hpp or chime/cron.hpp. It reads a restricted dialect
// itself: numbers, '*', ranges, wrapping ranges, steps and lists, in 5 or 6
// fields. It walks real instants one step at a time and reads the local time
// of each from date::time_zone, not from chime::zone.
//
// date 3.0.1 with USE_OS_TZDB has no transitions after 2037, so the
// reference searches no further than reference_end.
#pragma once

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace chime_test {

// The three DST policies of chime/dst.hpp, restated as the reference applies
// them. every_instant fires at every instant whose local time matches. skip
// does the same except at the second occurrence of a repeated local time.
// cronie behaves as every_instant for a job whose minute or hour field starts
// with '*'. For other jobs it behaves as skip, and also fires once at the
// first instant after a forward jump that skipped a matching local time.
enum class reference_policy { every_instant, skip, cronie };

// The end of the instants for which date::time_zone is a valid reference.
inline const date::sys_seconds reference_end{date::sys_days{date::year{2037} / 1 / 1}};

// One parsed expression: plain tables of the values each field allows.
struct reference_cron {
    bool with_seconds = false;
    std::array<bool, 60> seconds{};
    std::array<bool, 60> minutes{};
    std::array<bool, 24> hours{};
    std::array<bool, 32> days{};     // 1-31
    std::array<bool, 13> months{};   // 1-12
    std::array<bool, 7> weekdays{};  // 0 = Sunday
    bool day_of_month_star = false;  // the field text starts with '*'
    bool day_of_week_star = false;
    bool fixed_time = false;         // neither minute nor hour starts with '*'

    // True when the whole local second `t` matches every field.
    bool matches(date::local_seconds t) const {
        auto day = date::floor<date::days>(t);
        date::year_month_day ymd{day};
        date::hh_mm_ss<std::chrono::seconds> clock{t - day};
        if (!months[unsigned(ymd.month())]) {
            return false;
        }
        if (!hours[clock.hours().count()] || !minutes[clock.minutes().count()] ||
            !seconds[clock.seconds().count()]) {
            return false;
        }
        return day_matches(day);
    }

    bool day_matches(date::local_days day) const {
        date::year_month_day ymd{day};
        bool by_date = days[unsigned(ymd.day())];
        bool by_weekday = weekdays[date::weekday{day}.c_encoding()];
        // Vixie cron: when either day field starts with '*' both must match,
        // otherwise either may.
        if (day_of_month_star || day_of_week_star) {
            return by_date && by_weekday;
        }
        return by_date || by_weekday;
    }
};

namespace detail {

inline std::vector<std::string_view> split_on(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t begin = 0;
    while (true) {
        auto end = text.find(separator, begin);
        parts.push_back(text.substr(begin, end == std::string_view::npos ? text.npos : end - begin));
        if (end == std::string_view::npos) {
            return parts;
        }
        begin = end + 1;
    }
}

inline int to_int(std::string_view text) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        throw std::invalid_argument("reference cron: not a number: " + std::string(text));
    }
    return value;
}

// Expands one field over [min, max] into `allowed`. A range whose start is
// above its end wraps past max back to min; a step counts positions along
// the (possibly wrapped) sequence. `fold` maps a value before it is stored,
// so day-of-week 7 becomes 0.
template <std::size_t N, class Fold>
void expand_field(std::string_view field, int min, int max, std::array<bool, N>& allowed,
                  Fold fold) {
    for (auto element : split_on(field, ',')) {
        int step = 1;
        std::string_view range = element;
        bool stepped = false;
        if (auto slash = element.find('/'); slash != std::string_view::npos) {
            step = to_int(element.substr(slash + 1));
            range = element.substr(0, slash);
            stepped = true;
        }
        int low = min;
        int high = max;
        if (range != "*") {
            if (auto dash = range.find('-'); dash != std::string_view::npos) {
                low = to_int(range.substr(0, dash));
                high = to_int(range.substr(dash + 1));
            } else {
                low = to_int(range);
                high = stepped ? max : low;
            }
        }
        if (low < min || high > max || step < 1) {
            throw std::invalid_argument("reference cron: bad element " + std::string(element));
        }
        std::vector<int> sequence;
        if (low <= high) {
            for (int v = low; v <= high; ++v) {
                sequence.push_back(v);
            }
        } else {
            for (int v = low; v <= max; ++v) {
                sequence.push_back(v);
            }
            for (int v = min; v <= high; ++v) {
                sequence.push_back(v);
            }
        }
        for (std::size_t i = 0; i < sequence.size(); i += static_cast<std::size_t>(step)) {
            allowed[static_cast<std::size_t>(fold(sequence[i]))] = true;
        }
    }
}

} // namespace detail

// Reads "m h dom mon dow" or "s m h dom mon dow". Wrapping day-of-week ranges
// are not part of the restricted dialect (the 0-7 numbering makes their
// meaning a choice of the dialect, not a fact to check against).
inline reference_cron parse_reference_cron(std::string_view text) {
    std::vector<std::string_view> fields;
    for (auto part : detail::split_on(text, ' ')) {
        if (!part.empty()) {
            fields.push_back(part);
        }
    }
    if (fields.size() != 5 && fields.size() != 6) {
        throw std::invalid_argument("reference cron: expected 5 or 6 fields: " + std::string(text));
    }

    reference_cron cron;
    auto same = [](int v) { return v; };
    std::size_t i = 0;
    if (fields.size() == 6) {
        cron.with_seconds = true;
        detail::expand_field(fields[i++], 0, 59, cron.seconds, same);
    } else {
        cron.seconds[0] = true;
    }

    auto minute_text = fields[i];
    auto hour_text = fields[i + 1];
    detail::expand_field(fields[i++], 0, 59, cron.minutes, same);
    detail::expand_field(fields[i++], 0, 23, cron.hours, same);
    cron.day_of_month_star = fields[i].front() == '*';
    detail::expand_field(fields[i++], 1, 31, cron.days, same);
    detail::expand_field(fields[i++], 1, 12, cron.months, same);

    cron.day_of_week_star = fields[i].front() == '*';
    auto dow = fields[i];
    for (auto element : detail::split_on(dow, ',')) {
        auto range = element.substr(0, element.find('/'));
        auto dash = range.find('-');
        if (dash != std::string_view::npos &&
            detail::to_int(range.substr(0, dash)) > detail::to_int(range.substr(dash + 1))) {
            throw std::invalid_argument("reference cron: wrapping day-of-week range");
        }
    }
    detail::expand_field(dow, 0, 7, cron.weekdays, [](int v) { return v % 7; });

    cron.fixed_time = minute_text.front() != '*' && hour_text.front() != '*';
    return cron;
}

// Finds fire times by walking instants. Inside one sys_info span of the zone
// the offset is constant, so the walk may jump over a local day or hour that
// cannot match. It never jumps over a transition.
class brute_force_cron {
public:
    brute_force_cron(std::string_view expression, const date::time_zone* zone,
                     reference_policy policy)
        : cron_(parse_reference_cron(expression)), zone_(zone) {
        bool wall_clock = policy == reference_policy::every_instant ||
                          (policy == reference_policy::cronie && !cron_.fixed_time);
        first_occurrence_only_ = !wall_clock;
        run_after_jump_ = policy == reference_policy::cronie && cron_.fixed_time;
    }

    // The first fire time strictly after `after`, searching at most `horizon`
    // and never past reference_end.
    std::optional<date::sys_seconds> next_after(date::sys_seconds after,
                                                std::chrono::seconds horizon) const {
        using namespace std::chrono;
        const seconds step = cron_.with_seconds ? seconds{1} : seconds{60};
        const date::sys_seconds limit = std::min(after + horizon, reference_end);
        date::sys_seconds t = after + seconds{1};
        t = date::sys_seconds{((t.time_since_epoch() + step - seconds{1}) / step) * step};
        while (t < limit) {
            auto info = zone_->get_info(t);
            // A forward jump at the start of this span, after `after`, fires
            // at the span's first instant when it skipped a matching time.
            if (info.begin > after && run_after_jump_ && gap_has_match(info.begin)) {
                return info.begin;
            }
            const date::sys_seconds segment_end = info.end < limit ? info.end : limit;
            while (t < segment_end) {
                date::local_seconds local{t.time_since_epoch() + info.offset};
                if (cron_.matches(local)) {
                    if (!first_occurrence_only_ || is_first_occurrence(local, t)) {
                        return t;
                    }
                    t += step;
                    continue;
                }
                t = skip_ahead(t, local, step, segment_end);
            }
            t = segment_end;
        }
        return std::nullopt;
    }

    const reference_cron& cron() const { return cron_; }

private:
    // The next instant worth testing after a miss at `t`: the next local day
    // when the day cannot match, the next hour when the hour cannot, the
    // next minute when the minute cannot, else the next step.
    date::sys_seconds skip_ahead(date::sys_seconds t, date::local_seconds local,
                                 std::chrono::seconds step, date::sys_seconds segment_end) const {
        using namespace std::chrono;
        auto day = date::floor<date::days>(local);
        date::year_month_day ymd{day};
        date::hh_mm_ss<seconds> clock{local - day};
        seconds advance = step;
        if (!cron_.months[unsigned(ymd.month())] || !cron_.day_matches(day)) {
            advance = (day + date::days{1}) - local;
        } else if (!cron_.hours[clock.hours().count()]) {
            advance = hours{1} - (clock.minutes() + clock.seconds());
        } else if (!cron_.minutes[clock.minutes().count()]) {
            advance = minutes{1} - clock.seconds();
        }
        auto next = t + (advance < step ? step : advance);
        return next < segment_end ? next : segment_end;
    }

    // True unless date reports `local` as ambiguous and `t` is its later instant.
    bool is_first_occurrence(date::local_seconds local, date::sys_seconds t) const {
        auto info = zone_->get_info(local);
        if (info.result != date::local_info::ambiguous) {
            return true;
        }
        return date::sys_seconds{local.time_since_epoch() - info.first.offset} == t;
    }

    // True when the transition at `jump` moves clocks forward over a local
    // time that matches.
    bool gap_has_match(date::sys_seconds jump) const {
        using namespace std::chrono;
        auto before = zone_->get_info(jump - seconds{1});
        auto after = zone_->get_info(jump);
        if (after.offset <= before.offset) {
            return false;
        }
        const seconds step = cron_.with_seconds ? seconds{1} : seconds{60};
        date::local_seconds first{jump.time_since_epoch() + before.offset};
        date::local_seconds end{jump.time_since_epoch() + after.offset};
        for (auto local = first; local < end; local += step) {
            if (cron_.matches(local)) {
                return true;
            }
        }
        return false;
    }

    reference_cron cron_;
    const date::time_zone* zone_;
    bool first_occurrence_only_ = false;
    bool run_after_jump_ = false;
};

} // namespace chime_test
