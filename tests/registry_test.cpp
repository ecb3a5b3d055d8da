// Tests of chime::registry: reading and writing each default trigger through
// default_triggers, the error texts, a user trigger nested in any_of, and
// registries of tasks and report sinks.
#include <chime/default_triggers.hpp>
#include <chime/registry.hpp>
#include <chime/triggers.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/equal.hpp>
#include <boost/hana/length.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

chime::instant at_seconds(std::int64_t s) { return chime::instant{std::chrono::seconds{s}}; }

// Fires at every instant whose count of seconds since the epoch is
// `offset` more than a multiple of `period`: {"period":60,"offset":5} fires
// at 5 s past each minute.
struct periodic_trigger {
    static constexpr std::string_view kind = "periodic";
    std::int64_t period = 60;
    std::int64_t offset = 0;

    std::optional<chime::instant> next_after(chime::instant t) const {
        const std::int64_t since = t.time_since_epoch().count() - offset;
        std::int64_t cycles = since / period;
        if (since % period < 0) {
            --cycles;
        }
        return at_seconds((cycles + 1) * period + offset);
    }

    json to_json() const { return {{"period", period}, {"offset", offset}}; }

    static periodic_trigger from_json(const json& j) {
        auto period = j.find("period");
        if (period == j.end() || !period->is_number_integer() || period->get<std::int64_t>() < 1) {
            throw chime::invalid_input("periodic trigger: \"period\" must be a positive integer");
        }
        return {period->get<std::int64_t>(), j.value("offset", std::int64_t{0})};
    }
};

using user_triggers =
    chime::registry<chime::cron_trigger, chime::any_of, chime::jitter, periodic_trigger>;

// One sample of each default kind. The at and calendar_interval samples name
// their zone, so they read the same on any machine.
const std::array<json, 8> default_trigger_samples = {
    json{{"kind", "cron"}, {"expr", "30 2 * * *"}, {"tz", "Europe/Berlin"}},
    json{{"kind", "interval"}, {"every", "PT90M"}, {"start", "2025-01-01T00:00:00Z"}},
    json{{"kind", "at"}, {"at", "2025-03-30T02:30:00"}, {"tz", "Europe/Berlin"}},
    json{{"kind", "calendar_interval"},
         {"every", "P1M"},
         {"start", "2024-01-31T09:00:00"},
         {"tz", "Europe/Paris"}},
    json{{"kind", "any_of"},
         {"of", {{{"kind", "cron"}, {"expr", "0 9 * * *"}, {"tz", "UTC"}},
                 {{"kind", "interval"}, {"every", "PT1H"}}}}},
    json{{"kind", "all_of"},
         {"of", {{{"kind", "cron"}, {"expr", "0 * * * *"}, {"tz", "UTC"}},
                 {{"kind", "interval"}, {"every", "PT2H"}}}}},
    json{{"kind", "except"},
         {"trigger", {{"kind", "cron"}, {"expr", "0 9 * * *"}, {"tz", "UTC"}}},
         {"unless", {{"kind", "cron"}, {"expr", "0 9 * * 6,0"}, {"tz", "UTC"}}}},
    json{{"kind", "jitter"},
         {"trigger", {{"kind", "cron"}, {"expr", "0 2 * * *"}, {"tz", "UTC"}}},
         {"max", "PT5M"},
         {"seed", "9e3779b97f4a7c15"}},
};

// The message of the invalid_input that `read` throws, or "" when it throws none.
template <class F>
std::string invalid_input_message(F read) {
    try {
        read();
    } catch (const chime::invalid_input& e) {
        return e.what();
    }
    return "";
}

} // namespace

// ---------------------------------------------------------------------------
// compile-time members

TEST_CASE("default_triggers lists the kinds in order", "[registry]") {
    constexpr std::array<std::string_view, 8> expected = {
        "cron", "interval", "at", "calendar_interval", "any_of", "all_of", "except", "jitter"};

    STATIC_REQUIRE(chime::default_triggers::size == 8);
    STATIC_REQUIRE(chime::default_triggers::kinds == expected);
}

TEST_CASE("registry contains and holds", "[registry]") {
    STATIC_REQUIRE(chime::default_triggers::contains("cron"));
    STATIC_REQUIRE(chime::default_triggers::contains("jitter"));
    STATIC_REQUIRE_FALSE(chime::default_triggers::contains("Cron"));
    STATIC_REQUIRE_FALSE(chime::default_triggers::contains(""));
    STATIC_REQUIRE_FALSE(chime::default_triggers::contains("periodic"));

    STATIC_REQUIRE(chime::default_triggers::holds<chime::except>);
    STATIC_REQUIRE_FALSE(chime::default_triggers::holds<periodic_trigger>);
    STATIC_REQUIRE_FALSE(chime::default_triggers::holds<chime::any_trigger>);
    STATIC_REQUIRE(user_triggers::holds<periodic_trigger>);
}

TEST_CASE("registry types and variant follow the list", "[registry]") {
    namespace hana = boost::hana;
    using registry = chime::default_triggers;

    STATIC_REQUIRE(hana::length(registry::types) == hana::size_c<8>);
    STATIC_REQUIRE(hana::at_c<0>(registry::types) == hana::type_c<chime::cron_trigger>);
    STATIC_REQUIRE(hana::at_c<7>(registry::types) == hana::type_c<chime::jitter>);
    STATIC_REQUIRE(std::is_same_v<std::variant_alternative_t<4, registry::variant>, chime::any_of>);
    STATIC_REQUIRE(std::variant_size_v<registry::variant> == 8);
}

TEST_CASE("trigger_registry fixes the role", "[registry]") {
    using fixed = chime::trigger_registry<periodic_trigger, chime::cron_trigger>;

    STATIC_REQUIRE(fixed::kinds == std::array<std::string_view, 2>{"periodic", "cron"});

    auto value = fixed::from_json(json{{"kind", "periodic"}, {"period", 10}});
    CHECK(fixed::kind_of(value) == "periodic");
}

// ---------------------------------------------------------------------------
// reading and writing

TEST_CASE("default triggers round trip through JSON", "[registry]") {
    using registry = chime::default_triggers;
    for (std::size_t i = 0; i < default_trigger_samples.size(); ++i) {
        const json& sample = default_trigger_samples[i];
        INFO(sample.dump());

        auto value = registry::from_json(sample);
        CHECK(value.index() == i);
        CHECK(registry::kind_of(value) == registry::kinds[i]);

        json written = registry::to_json(value);
        CHECK(written["kind"] == sample["kind"]);

        auto again = registry::from_json(written);
        CHECK(registry::to_json(again) == written);

        // The registry reads what trigger_from_json reads.
        CHECK(written == chime::trigger_from_json(sample).to_json());
    }
}

TEST_CASE("registry values fire like triggers", "[registry]") {
    using registry = chime::default_triggers;
    const auto from = chime::parse_instant("2025-06-01T00:00:00Z");
    for (const json& sample : default_trigger_samples) {
        INFO(sample.dump());
        auto value = registry::from_json(sample);
        auto direct = chime::trigger_from_json(sample);

        auto next = std::visit([&](const auto& t) { return t.next_after(from); }, value);
        CHECK(next == direct.next_after(from));
    }
}

TEST_CASE("registry reads kind and settings apart", "[registry]") {
    using registry = chime::default_triggers;
    const json settings = {{"expr", "*/5 * * * *"}, {"tz", "UTC"}};

    auto value = registry::from_json("cron", settings);

    REQUIRE(std::holds_alternative<chime::cron_trigger>(value));
    CHECK(std::get<chime::cron_trigger>(value).expression().text() == "*/5 * * * *");
    CHECK(registry::to_json(value)["kind"] == "cron");
}

TEST_CASE("settings with the same kind accepted", "[registry]") {
    using registry = chime::default_triggers;
    const json settings = {{"kind", "interval"}, {"every", "PT30S"}};

    auto value = registry::from_json("interval", settings);

    CHECK(std::holds_alternative<chime::interval_trigger>(value));
}

TEST_CASE("registry adds kind to to_json", "[registry]") {
    const json settings = {{"kind", "periodic"}, {"period", 60}, {"offset", 5}};

    auto value = user_triggers::from_json(settings);

    CHECK(user_triggers::to_json(value) ==
          json{{"kind", "periodic"}, {"period", 60}, {"offset", 5}});
}

// ---------------------------------------------------------------------------
// errors

TEST_CASE("unknown kind lists known kinds", "[registry][errors]") {
    using registry = chime::default_triggers;

    CHECK(invalid_input_message([] { registry::from_json(json{{"kind", "crn"}}); }) ==
          "trigger: unknown kind \"crn\"; expected one of cron, interval, at, "
          "calendar_interval, any_of, all_of, except, jitter");
    CHECK(invalid_input_message([] { registry::from_json("periodic", json::object()); }) ==
          "trigger: unknown kind \"periodic\"; expected one of cron, interval, at, "
          "calendar_interval, any_of, all_of, except, jitter");
}

TEST_CASE("long unknown kind is cut", "[registry][errors]") {
    const std::string kind(200, 'x');

    auto message = invalid_input_message([&] { chime::default_triggers::from_json(kind, {}); });

    CHECK(message.starts_with("trigger: unknown kind \"xxxx"));
    CHECK(message.find(kind) == std::string::npos);
}

TEST_CASE("settings error is the type's own", "[registry][errors]") {
    using registry = chime::default_triggers;
    const json bad_interval = {{"kind", "interval"}, {"every", "soon"}};
    const json bad_cron = {{"kind", "cron"}, {"expr", "0 9 * * *"}, {"tz", "Mars/Olympus"}};

    for (const json& bad : {bad_interval, bad_cron}) {
        INFO(bad.dump());
        auto own = invalid_input_message([&] { chime::trigger_from_json(bad); });
        auto through_registry = invalid_input_message([&] { registry::from_json(bad); });

        CHECK_FALSE(own.empty());
        CHECK(through_registry == own);
    }
    CHECK_THAT(invalid_input_message([&] { registry::from_json(bad_interval); }),
               Catch::Matchers::Contains("\"every\"") && Catch::Matchers::Contains("soon"));
}

TEST_CASE("settings with another kind rejected", "[registry][errors]") {
    auto message = invalid_input_message([] {
        chime::default_triggers::from_json("cron", json{{"kind", "interval"}, {"every", "PT1M"}});
    });

    CHECK(message ==
          "trigger \"cron\": the settings have \"kind\" \"interval\"; remove it or set it to "
          "\"cron\"");
}

TEST_CASE("JSON that is not an object rejected", "[registry][errors]") {
    using registry = chime::default_triggers;

    CHECK(invalid_input_message([] { registry::from_json(json::array({1, 2})); }) ==
          "trigger: expected a JSON object, got an array of 2 elements");
    CHECK(invalid_input_message([] { registry::from_json(json{{"expr", "* * * * *"}}); }) ==
          "trigger: \"kind\" is missing or not a string in an object with 1 key");
    CHECK(invalid_input_message([] { registry::from_json(json{{"kind", 7}}); }) ==
          "trigger: \"kind\" is missing or not a string in an object with 1 key");
    CHECK(invalid_input_message([] { registry::from_json("cron", json("* * * * *")); }) ==
          "trigger \"cron\": settings must be a JSON object, got \"* * * * *\"");
}

// ---------------------------------------------------------------------------
// nesting

TEST_CASE("user trigger inside any_of", "[registry]") {
    const json j = {{"kind", "any_of"},
                    {"of", {{{"kind", "periodic"}, {"period", 3600}, {"offset", 1800}},
                            {{"kind", "cron"}, {"expr", "10 * * * *"}, {"tz", "UTC"}}}}};

    auto value = user_triggers::from_json(j);

    REQUIRE(std::holds_alternative<chime::any_of>(value));
    const auto& union_of = std::get<chime::any_of>(value);
    REQUIRE(union_of.children().size() == 2);
    const auto* periodic = union_of.children()[0].target<periodic_trigger>();
    REQUIRE(periodic != nullptr);
    CHECK(periodic->period == 3600);
    CHECK(periodic->offset == 1800);

    // 00:10 from cron, 00:30 from periodic, then 01:10 and 01:30.
    const auto start = chime::parse_instant("2025-01-01T00:00:00Z");
    auto first = union_of.next_after(start);
    REQUIRE(first);
    CHECK(chime::format_instant(*first, chime::zone{}) == "2025-01-01T00:10:00+00:00");
    auto second = union_of.next_after(*first);
    REQUIRE(second);
    CHECK(chime::format_instant(*second, chime::zone{}) == "2025-01-01T00:30:00+00:00");

    // The child's to_json() leaves out "kind", but any_of's JSON has it, so
    // the union reads back.
    const json written = user_triggers::to_json(value);
    CHECK(written["of"][0] == json{{"kind", "periodic"}, {"period", 3600}, {"offset", 1800}});
    CHECK(user_triggers::to_json(user_triggers::from_json(written)) == written);
}

TEST_CASE("user trigger nested two deep", "[registry]") {
    const json inner = {{"kind", "periodic"}, {"period", 60}, {"offset", 0}};
    const json j = {{"kind", "jitter"},
                    {"trigger", {{"kind", "any_of"}, {"of", {inner}}}},
                    {"max", "PT1M"},
                    {"mode", "random"},
                    {"seed", "00000000000000ff"}};

    auto value = user_triggers::from_json(j);

    CHECK(user_triggers::to_json(value) == j);
}

TEST_CASE("children read with the same registry", "[registry][errors]") {
    const json j = {{"kind", "any_of"}, {"of", {{{"kind", "periodic"}, {"period", 60}}}}};

    CHECK(invalid_input_message([&] { chime::default_triggers::from_json(j); }) ==
          "trigger: unknown kind \"periodic\"; expected one of cron, interval, at, "
          "calendar_interval, any_of, all_of, except, jitter");
    const json interval_child = {{"kind", "any_of"},
                                 {"of", {{{"kind", "interval"}, {"every", "PT1M"}}}}};
    CHECK(invalid_input_message([&] { user_triggers::from_json(interval_child); }) ==
          "trigger: unknown kind \"interval\"; expected one of cron, any_of, jitter, periodic");
}

TEST_CASE("registry keeps the nesting limit", "[registry][errors]") {
    json j = {{"kind", "periodic"}, {"period", 60}};
    for (int depth = 0; depth <= chime::max_trigger_nesting; ++depth) {
        j = json{{"kind", "any_of"}, {"of", json::array({j})}};
    }

    CHECK_THAT(invalid_input_message([&] { user_triggers::from_json(j); }),
               Catch::Matchers::Contains("nested more than"));
}

// ---------------------------------------------------------------------------
// tasks and report sinks

namespace {

struct echo_task {
    static constexpr std::string_view kind = "echo";
    std::string text;

    static echo_task from_json(const json& j) {
        auto text = j.find("text");
        if (text == j.end() || !text->is_string()) {
            throw chime::invalid_input("echo task: \"text\" is missing or not a string");
        }
        return {text->get<std::string>()};
    }
    json to_json() const { return {{"text", text}}; }
    chime::report run(chime::run_context& context) const {
        context.output.write(text);
        return {};
    }
};

struct failing_task {
    static constexpr std::string_view kind = "fail";
    static failing_task from_json(const json&) { return {}; }
    // No settings: null, which the registry writes as {"kind":"fail"}.
    json to_json() const { return nullptr; }
    chime::report run(chime::run_context&) const {
        chime::report r;
        r.status = chime::run_status::failed;
        r.error = "always fails";
        return r;
    }
};

struct string_settings_task {
    static constexpr std::string_view kind = "string_settings";
    static string_settings_task from_json(const json&) { return {}; }
    json to_json() const { return "not an object"; }
    chime::report run(chime::run_context&) const { return {}; }
};

struct status_log_sink {
    static constexpr std::string_view kind = "status_log";
    std::shared_ptr<std::vector<chime::run_status>> seen =
        std::make_shared<std::vector<chime::run_status>>();

    static status_log_sink from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    void deliver(const chime::report& r) { seen->push_back(r.status); }
};

using tasks = chime::registry<echo_task, failing_task, string_settings_task>;
using sinks = chime::registry<status_log_sink>;

} // namespace

TEST_CASE("task registry reads and runs a task", "[registry][task]") {
    auto value = tasks::from_json(json{{"kind", "echo"}, {"text", "hi"}});
    chime::output_buffer output(16);
    chime::run_context context{.stop = {}, .output = output, .job = "greet"};

    auto report = std::visit([&](const auto& task) { return task.run(context); }, value);

    CHECK(tasks::kind_of(value) == "echo");
    CHECK(report.status == chime::run_status::succeeded);
    CHECK(output.text() == "hi");
    CHECK(tasks::to_json(value) == json{{"kind", "echo"}, {"text", "hi"}});
}

TEST_CASE("task null settings become an object", "[registry][task]") {
    auto value = tasks::from_json(json{{"kind", "fail"}});

    CHECK(tasks::to_json(value) == json{{"kind", "fail"}});
}

TEST_CASE("task to_json must write an object", "[registry][task]") {
    tasks::variant value = string_settings_task{};

    CHECK_THROWS_WITH(tasks::to_json(value),
                      "task \"string_settings\": to_json() returned \"not an object\"; it must "
                      "return a JSON object of settings");
}

TEST_CASE("task registry names tasks in its errors", "[registry][task][errors]") {
    CHECK(invalid_input_message([] { tasks::from_json(json{{"kind", "shell"}}); }) ==
          "task: unknown kind \"shell\"; expected one of echo, fail, string_settings");
    CHECK(invalid_input_message([] { tasks::from_json(json{{"kind", "echo"}}); }) ==
          "echo task: \"text\" is missing or not a string");
}

TEST_CASE("sink registry delivers through the variant", "[registry][sink]") {
    STATIC_REQUIRE(sinks::kinds == std::array<std::string_view, 1>{"status_log"});

    auto value = sinks::from_json(json{{"kind", "status_log"}});
    chime::report r;
    r.status = chime::run_status::timed_out;
    std::visit([&](auto& sink) { sink.deliver(r); }, value);

    const auto& seen = *std::get<status_log_sink>(value).seen;
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == chime::run_status::timed_out);
    CHECK(invalid_input_message([] { sinks::from_json(json{{"kind", "mail"}}); }) ==
          "report sink: unknown kind \"mail\"; expected one of status_log");
}
