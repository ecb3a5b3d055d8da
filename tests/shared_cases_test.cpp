// Runs every case of tests/data/cron-cases.jsonl: cron fire times taken from
// public bug reports against other schedulers. Each case lists the expected
// fire times under the default DST policy ("expected") and, where the result
// differs, under dst_skip ("expected_skip_policy") and dst_every_instant
// ("expected_wall_clock_all"). Results for other dialects
// ("expected_cronie", "expected_strict_parse") describe parsers chime does
// not imitate and are not checked.
#include <chime/at.hpp>
#include <chime/cron.hpp>
#include <chime/interval.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;

std::vector<json> load_cases() {
    std::ifstream in(CHIME_TEST_DATA_DIR "/cron-cases.jsonl");
    REQUIRE(in.good());
    std::vector<json> cases;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            cases.push_back(json::parse(line));
        }
    }
    return cases;
}

// Fire times of `trigger` after the case's start, as many as expected, plus
// one more when the case has an end (which must then yield nothing).
template <class Trigger>
void check_fires(const Trigger& trigger, const json& c, const json& expected) {
    auto from = std::chrono::floor<std::chrono::seconds>(
        chime::parse_precise_instant(c["start"].get<std::string>()));
    std::optional<chime::instant> end;
    if (c.contains("end")) {
        end = std::chrono::floor<std::chrono::seconds>(
            chime::parse_precise_instant(c["end"].get<std::string>()));
    }
    for (const auto& want : expected) {
        auto text = want.get<std::string>();
        INFO("expected " << text);
        auto next = trigger.next_after(from);
        REQUIRE(next.has_value());
        REQUIRE((!end || *next <= *end));
        CHECK(chime::format_instant(*next, trigger.time_zone()) == text);
        CHECK(*next == chime::parse_instant(text));
        from = *next;
    }
    if (end || expected.empty()) {
        auto next = trigger.next_after(from);
        INFO("unexpected fire " << (next ? chime::format_utc(*next) : std::string("none")));
        CHECK((!next || (end && *next > *end)));
    }
}

} // namespace

TEST_CASE("shared cron cases hold under each DST policy", "[cron][cases]") {
    auto cases = load_cases();
    REQUIRE(cases.size() >= 70);
    int checked = 0;
    for (const auto& c : cases) {
        if (c["kind"] != "cron") {
            continue;
        }
        DYNAMIC_SECTION(c["id"].get<std::string>()) {
            INFO(c["expr"].get<std::string>() << " in " << c["tz"].get<std::string>() << " from "
                                              << c["start"].get<std::string>());
            auto expr = c["expr"].get<std::string>();
            auto tz = chime::zone::locate(c["tz"].get<std::string>());
            const auto& expected = c["expected"];
            if (!expected.empty() && expected[0].get<std::string>().starts_with("error:")) {
                CHECK_THROWS_AS(chime::cron_trigger(expr, tz), chime::invalid_input);
            } else {
                check_fires(chime::cron_trigger(expr, tz), c, expected);
                if (c.contains("expected_skip_policy")) {
                    SECTION("skip") {
                        check_fires(chime::cron_trigger(expr, tz,
                                                        chime::dst_setting::of(chime::dst_skip{})),
                                    c, c["expected_skip_policy"]);
                    }
                }
                if (c.contains("expected_wall_clock_all")) {
                    SECTION("every_instant") {
                        check_fires(chime::cron_trigger(
                                        expr, tz, chime::dst_setting::of(chime::dst_every_instant{})),
                                    c, c["expected_wall_clock_all"]);
                    }
                }
            }
            ++checked;
        }
    }
}

namespace {

// The text after `prefix` and before `suffix` in `text`; fails the test when
// `text` does not have that shape.
std::string between(std::string_view text, std::string_view prefix, std::string_view suffix) {
    INFO("expr \"" << text << "\" should start with \"" << prefix << "\" and contain \""
                    << suffix << "\"");
    REQUIRE(text.starts_with(prefix));
    text.remove_prefix(prefix.size());
    auto end = suffix.empty() ? text.size() : text.find(suffix);
    REQUIRE(end != std::string_view::npos);
    return std::string(text.substr(0, end));
}

} // namespace

TEST_CASE("shared date and interval cases hold", "[at][interval][cases]") {
    auto cases = load_cases();
    int dates = 0;
    int intervals = 0;
    for (const auto& c : cases) {
        const auto kind = c["kind"].get<std::string>();
        if (kind != "date" && kind != "interval") {
            continue;
        }
        DYNAMIC_SECTION(c["id"].get<std::string>()) {
            const auto expr = c["expr"].get<std::string>();
            INFO(expr << " in " << c["tz"].get<std::string>() << " from "
                      << c["start"].get<std::string>());
            auto tz = chime::zone::locate(c["tz"].get<std::string>());
            if (kind == "date") {
                // "date: 2015-03-08 02:30 local": a local time read in the case's zone.
                auto local = chime::parse_date_time(between(expr, "date: ", " local")).local;
                check_fires(chime::at_trigger(local, tz), c, c["expected"]);
                ++dates;
            } else {
                // "interval: every 30 s from 2026-03-08T01:59:00-08:00".
                auto seconds = std::stoll(between(expr, "interval: every ", " s from "));
                auto anchor = chime::parse_instant(expr.substr(expr.find(" s from ") + 8));
                chime::time_window window{anchor, std::nullopt};
                check_fires(chime::interval_trigger(std::chrono::seconds{seconds}, window, tz), c,
                            c["expected"]);
                ++intervals;
            }
        }
    }
    CHECK(dates + intervals >= 1);
}
