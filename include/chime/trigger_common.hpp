// Pieces shared by the triggers that ship: the optional start and end every
// trigger accepts, and the explained fire time that `chimectl next --explain`
// prints. Thread safety: immutable values.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/dst.hpp>
#include <chime/iso8601.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace chime {

// The reason a fire time differs from a plain reading of the local time.
enum class fire_note {
    none,
    after_jump,   // the local time does not exist; fired at the first instant after the jump
    first_of_two, // the local time occurs twice; this is the first occurrence
    second_of_two // the local time occurs twice; this is the second occurrence
};

// A fire time with the local time it was computed from.
struct fire_time {
    instant at;
    local_seconds wall;
    fire_note note = fire_note::none;
    bool repeats = false; // for first_of_two: whether the trigger also fires at the second
};

// Returns the text of a note, such as "02:30 does not exist; ran after the
// jump", or an empty string for fire_note::none.
inline std::string explain(const fire_time& fire) {
    auto wall = format_local(fire.wall).substr(11, 8);
    if (wall.ends_with(":00")) {
        wall.resize(5);
    }
    switch (fire.note) {
    case fire_note::none: return "";
    case fire_note::after_jump: return wall + " does not exist; ran after the jump";
    case fire_note::first_of_two:
        return fire.repeats ? wall + " occurs twice; first of two runs"
                            : wall + " occurs twice; runs at the first only";
    case fire_note::second_of_two: return wall + " occurs twice; second of two runs";
    }
    return "";
}

namespace detail {

// Reads the policy named by "dst" among `Policies` (by default the three that
// ship), or the cronie policy when the key is absent.
template <dst_policy... Policies>
dst_setting dst_from_json(const nlohmann::json& j, std::string_view kind) {
    auto name = optional_string(j, kind, "dst");
    if (!name) {
        return {};
    }
    try {
        return dst_setting_named<Policies...>(*name);
    } catch (const invalid_input& e) {
        throw_json_error(kind, std::string("\"dst\" is invalid: ") + e.what());
    }
}

// Reads the required elapsed duration at `key` ("PT30S"), at least one second.
inline std::chrono::seconds positive_duration_from_json(const nlohmann::json& j,
                                                        std::string_view kind, const char* key) {
    auto text = required_string(j, kind, key);
    std::chrono::seconds duration;
    try {
        duration = parse_elapsed_duration(text);
    } catch (const invalid_input& e) {
        throw_json_error(kind, std::string("\"") + key + "\" is invalid: " + e.what());
    }
    if (duration <= std::chrono::seconds{0}) {
        throw_json_error(kind, std::string("\"") + key + "\" is \"" + text +
                                   "\"; it must be at least one second (PT1S)");
    }
    return duration;
}

} // namespace detail

// The optional bounds every trigger takes: no fire before `start`, none
// after `end` (both inclusive).
struct time_window {
    std::optional<instant> start;
    std::optional<instant> end;

    // The instant to search after so that a fire at `start` is still found.
    instant search_after(instant t) const noexcept {
        if (start && *start - std::chrono::seconds{1} > t) {
            return *start - std::chrono::seconds{1};
        }
        return t;
    }

    bool admits(instant t) const noexcept { return !end || t <= *end; }

    // Reads "start" and "end": ISO 8601 instants, or local date-times read in
    // `local_zone` when the trigger has one. A local start that does not exist
    // is the first instant after the jump, and a repeated one its first
    // occurrence. A repeated local end is its second occurrence, so the
    // window covers both. A start with a fraction of a second is rounded up, an end
    // rounded down, as fire times are whole seconds.
    static time_window from_json(const nlohmann::json& j, std::string_view kind,
                                 const zone* local_zone = nullptr) {
        auto read = [&](const char* key) -> std::optional<precise_instant> {
            auto text = detail::optional_string(j, kind, key);
            if (!text) {
                return std::nullopt;
            }
            try {
                auto parsed = parse_date_time(*text);
                if (!parsed.offset && local_zone != nullptr) {
                    auto resolved = local_zone->resolve(parsed.local);
                    bool is_end = std::string_view(key) == "end";
                    return precise_instant{is_end ? resolved.second : resolved.first} +
                           parsed.fraction;
                }
                return parse_precise_instant(*text);
            } catch (const invalid_input& e) {
                std::string hint = local_zone == nullptr
                                       ? ""
                                       : "; a local date-time is read in " + local_zone->name();
                detail::throw_json_error(kind, std::string("\"") + key + "\": " + e.what() + hint);
            }
        };
        time_window window;
        if (auto start = read("start")) {
            window.start = std::chrono::ceil<std::chrono::seconds>(*start);
        }
        if (auto end = read("end")) {
            window.end = std::chrono::floor<std::chrono::seconds>(*end);
        }
        if (window.start && window.end && *window.end < *window.start) {
            detail::throw_json_error(kind, "\"end\" " + format_utc(*window.end) +
                                               " is before \"start\" " +
                                               format_utc(*window.start));
        }
        return window;
    }

    void to_json(nlohmann::json& j) const {
        if (start) {
            j["start"] = format_utc(*start);
        }
        if (end) {
            j["end"] = format_utc(*end);
        }
    }

    friend bool operator==(const time_window&, const time_window&) = default;
};

} // namespace chime
