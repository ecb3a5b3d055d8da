// Every trigger that ships with chime, and trigger_from_json, which builds
// any of them from its JSON form by "kind".
// Thread safety: trigger_from_json is a pure function.
#pragma once

#include <chime/at.hpp>
#include <chime/calendar_interval.hpp>
#include <chime/combinators.hpp>
#include <chime/cron.hpp>
#include <chime/detail/json_fields.hpp>
#include <chime/interval.hpp>
#include <chime/jitter.hpp>
#include <chime/trigger.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace chime {

// Builds a trigger from JSON such as {"kind":"cron","expr":"30 2 * * *"}.
// Throws invalid_input naming the kind, the key and the value at fault.
inline any_trigger trigger_from_json(const nlohmann::json& j) {
    if (!j.is_object()) {
        throw invalid_input("trigger: expected a JSON object, got " + detail::describe_json(j));
    }
    auto it = j.find("kind");
    if (it == j.end() || !it->is_string()) {
        throw invalid_input("trigger: \"kind\" is missing or not a string in " + detail::describe_json(j));
    }
    auto kind = it->get<std::string>();

    if (kind == cron_trigger::kind) {
        return cron_trigger::from_json(j);
    }
    if (kind == interval_trigger::kind) {
        return interval_trigger::from_json(j);
    }
    if (kind == at_trigger::kind) {
        return at_trigger::from_json(j);
    }
    if (kind == calendar_interval_trigger::kind) {
        return calendar_interval_trigger::from_json(j);
    }

    // Combinators and jitter read their children with this same function.
    if (kind == any_of::kind) {
        return any_of::from_json(j, trigger_from_json);
    }
    if (kind == all_of::kind) {
        return all_of::from_json(j, trigger_from_json);
    }
    if (kind == except::kind) {
        return except::from_json(j, trigger_from_json);
    }
    if (kind == jitter::kind) {
        return jitter::from_json(j, trigger_from_json);
    }

    throw invalid_input("trigger: unknown kind \"" + kind +
                        "\"; expected one of cron, interval, at, calendar_interval, any_of, "
                        "all_of, except, jitter");
}

} // namespace chime
