// A trigger policy written by a user: business days at a local time, skipping
// a list of holidays. It is added to a registry in one line, read from the
// JSON a store would keep, and driven by the engine over Christmas week.
//
// Output:
//   business_days job read from {"at":"09:00","holidays":["2025-12-25","2025-12-26","2026-01-01"],"kind":"business_days","tz":"Europe/Berlin"}
//   start 2025-12-22T09:00:00+01:00
//   start 2025-12-23T09:00:00+01:00
//   start 2025-12-24T09:00:00+01:00
//   start 2025-12-29T09:00:00+01:00
//   start 2025-12-30T09:00:00+01:00
//   start 2025-12-31T09:00:00+01:00
//   start 2026-01-02T09:00:00+01:00
#include <chime/chime.hpp>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

class business_days {
public:
    // The name stored in the database and written in JSON.
    static constexpr std::string_view kind = "business_days";

    business_days(std::chrono::minutes time_of_day, chime::zone tz,
                  std::vector<date::local_days> holidays)
        : time_of_day_(time_of_day), zone_(std::move(tz)), holidays_(std::move(holidays)) {
        std::sort(holidays_.begin(), holidays_.end());
    }

    // The first business day at time_of_day strictly after `t`. A local time
    // that a DST jump skips runs at the first instant after the jump.
    std::optional<chime::instant> next_after(chime::instant t) const {
        auto day = date::floor<date::days>(zone_.to_local(t));
        // Ten years of days is more than any holiday list can block.
        for (int i = 0; i < 3660; ++i, day += date::days{1}) {
            if (!is_business_day(day)) {
                continue;
            }
            auto fire = zone_.resolve(day + time_of_day_).first;
            if (fire > t) {
                return fire;
            }
        }
        return std::nullopt;
    }

    const chime::zone& time_zone() const noexcept { return zone_; }

    // {"kind":"business_days","at":"09:00","tz":"Europe/Berlin",
    //  "holidays":["2025-12-25"]}. Throws chime::invalid_input naming the key.
    static business_days from_json(const nlohmann::json& j) {
        auto at = j.value("at", std::string("09:00"));
        int hours = 0, minutes = 0;
        char colon = 0;
        std::istringstream in(at);
        if (!(in >> hours >> colon >> minutes) || colon != ':' || hours < 0 || hours > 23 ||
            minutes < 0 || minutes > 59 || !in.eof()) {
            throw chime::invalid_input("business_days trigger: \"at\" is \"" + at +
                                       "\"; expected a time of day such as \"09:00\"");
        }
        std::vector<date::local_days> holidays;
        for (const auto& text : j.value("holidays", std::vector<std::string>{})) {
            int y = 0;
            unsigned m = 0, d = 0;
            char extra = 0;
            date::year_month_day ymd{};
            if (std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &extra) == 3) {
                ymd = date::year{y} / date::month{m} / date::day{d};
            }
            if (!ymd.ok()) {
                throw chime::invalid_input("business_days trigger: holiday \"" + text +
                                           "\" is not a date such as \"2025-12-25\"");
            }
            holidays.push_back(date::local_days{ymd});
        }
        auto tz = chime::zone::locate(j.value("tz", std::string("UTC")));
        return business_days(std::chrono::hours{hours} + std::chrono::minutes{minutes},
                             std::move(tz), std::move(holidays));
    }

    nlohmann::json to_json() const {
        std::vector<std::string> holidays;
        for (auto d : holidays_) {
            holidays.push_back(date::format("%F", d));
        }
        return {{"kind", kind},
                {"at", date::format("%H:%M", time_of_day_)},
                {"tz", zone_.name()},
                {"holidays", holidays}};
    }

private:
    bool is_business_day(date::local_days day) const {
        date::weekday wd{day};
        if (wd == date::Saturday || wd == date::Sunday) {
            return false;
        }
        return !std::binary_search(holidays_.begin(), holidays_.end(), day);
    }

    std::chrono::minutes time_of_day_;
    chime::zone zone_;
    std::vector<date::local_days> holidays_;
};

// The one line that adds the policy: list it with the triggers the program uses.
using my_triggers = chime::registry<chime::cron_trigger, chime::interval_trigger, business_days>;

int main() {
    // What a store would hold for the job: a kind and its settings.
    auto stored = nlohmann::json::parse(R"({"kind": "business_days", "at": "09:00",
        "tz": "Europe/Berlin", "holidays": ["2025-12-25", "2025-12-26", "2026-01-01"]})");
    my_triggers::variant trigger = my_triggers::from_json(stored);
    std::cout << "business_days job read from " << my_triggers::to_json(trigger).dump() << '\n';

    chime::engine<my_triggers> engine;
    auto now = chime::parse_instant("2025-12-21T12:00:00Z");
    engine.add(1, {trigger, {}}, now);

    // Wake at each next_wakeup() as a worker would, and end each run at once.
    const auto& berlin = std::get<business_days>(trigger).time_zone();
    while (auto wake = engine.next_wakeup()) {
        if (*wake > chime::parse_instant("2026-01-03T00:00:00Z")) {
            break;
        }
        now = *wake;
        for (const auto& d : engine.due(now)) {
            std::cout << chime::to_string(d.kind) << ' ' << chime::format_instant(d.scheduled, berlin)
                      << '\n';
            engine.finished(d.run, chime::run_status::succeeded, now);
        }
    }
}
