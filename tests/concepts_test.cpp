// Tests of the policy concepts (trigger, task, report_sink, clock), of
// output_buffer's byte cap and of the manual clock that other tests use.
#include <chime/clock.hpp>
#include <chime/combinators.hpp>
#include <chime/report_sink.hpp>
#include <chime/task.hpp>
#include <chime/trigger.hpp>

#include "support/manual_clock.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

chime::instant at_seconds(std::int64_t s) { return chime::instant{std::chrono::seconds{s}}; }

// Types that meet every requirement of their concept, and variants that
// break one requirement each.

struct minute_trigger {
    static constexpr std::string_view kind = "minute";
    std::optional<chime::instant> next_after(chime::instant t) const {
        return std::chrono::floor<std::chrono::minutes>(t) + 1min;
    }
    json to_json() const { return json::object(); }
    static minute_trigger from_json(const json&) { return {}; }
};

struct trigger_without_from_json {
    static constexpr std::string_view kind = "no_from_json";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    json to_json() const { return json::object(); }
};

struct trigger_reading_another_type {
    static constexpr std::string_view kind = "reads_int";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    json to_json() const { return json::object(); }
    static int from_json(const json&) { return 0; }
};

struct trigger_with_children {
    static constexpr std::string_view kind = "with_children";
    std::optional<chime::instant> next_after(chime::instant) const { return std::nullopt; }
    json to_json() const { return json::object(); }
    template <chime::child_trigger_parser F>
    static trigger_with_children from_json(const json&, const F&) {
        return {};
    }
};

struct echo_task {
    static constexpr std::string_view kind = "echo";
    std::string text;
    static echo_task from_json(const json& j) { return {j.at("text").get<std::string>()}; }
    json to_json() const { return {{"text", text}}; }
    chime::report run(chime::run_context& context) const {
        context.output.write(text);
        return {};
    }
};

struct task_with_mutable_run {
    static constexpr std::string_view kind = "mutable_run";
    static task_with_mutable_run from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context&) { return {}; }
};

struct task_returning_int {
    static constexpr std::string_view kind = "returns_int";
    static task_returning_int from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    int run(chime::run_context&) const { return 0; }
};

struct task_not_copyable {
    static constexpr std::string_view kind = "not_copyable";
    std::unique_ptr<int> state;
    static task_not_copyable from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context&) const { return {}; }
};

struct counting_sink {
    static constexpr std::string_view kind = "counting";
    int delivered = 0;
    static counting_sink from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    void deliver(const chime::report&) { ++delivered; }
};

struct sink_returning_bool {
    static constexpr std::string_view kind = "returns_bool";
    static sink_returning_bool from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    bool deliver(const chime::report&) { return true; }
};

struct sink_without_kind {
    static sink_without_kind from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    void deliver(const chime::report&) {}
};

struct clock_with_nanoseconds {
    std::chrono::system_clock::time_point now() const { return {}; }
};

} // namespace

// ---------------------------------------------------------------------------
// concepts

TEST_CASE("trigger concept requires from_json", "[concepts]") {
    STATIC_REQUIRE(chime::trigger<minute_trigger>);
    STATIC_REQUIRE_FALSE(chime::trigger<trigger_without_from_json>);
    STATIC_REQUIRE_FALSE(chime::trigger<trigger_reading_another_type>);
}

TEST_CASE("trigger concept accepts a child parser", "[concepts]") {
    STATIC_REQUIRE(chime::trigger<trigger_with_children>);
    STATIC_REQUIRE(chime::trigger<chime::any_of>);
    STATIC_REQUIRE(chime::trigger<chime::except>);
}

TEST_CASE("any_trigger holds a user trigger", "[concepts]") {
    chime::any_trigger held = minute_trigger{};

    CHECK(held.kind() == "minute");
    CHECK(held.next_after(at_seconds(30)) == at_seconds(60));
    CHECK(held.target<minute_trigger>() != nullptr);
}

TEST_CASE("task concept checks run and copying", "[concepts]") {
    STATIC_REQUIRE(chime::task<echo_task>);
    STATIC_REQUIRE_FALSE(chime::task<task_with_mutable_run>);
    STATIC_REQUIRE_FALSE(chime::task<task_returning_int>);
    STATIC_REQUIRE_FALSE(chime::task<task_not_copyable>);
    STATIC_REQUIRE_FALSE(chime::task<minute_trigger>);
}

TEST_CASE("report_sink concept checks deliver and kind", "[concepts]") {
    STATIC_REQUIRE(chime::report_sink<counting_sink>);
    STATIC_REQUIRE_FALSE(chime::report_sink<sink_returning_bool>);
    STATIC_REQUIRE_FALSE(chime::report_sink<sink_without_kind>);
    STATIC_REQUIRE_FALSE(chime::report_sink<echo_task>);
}

TEST_CASE("clock concept requires whole seconds", "[concepts]") {
    STATIC_REQUIRE(chime::clock<chime::system_clock_source>);
    STATIC_REQUIRE(chime::clock<chime::testing::manual_clock>);
    STATIC_REQUIRE_FALSE(chime::clock<clock_with_nanoseconds>);
}

TEST_CASE("task runs with a run_context", "[concepts]") {
    chime::output_buffer output(64);
    std::stop_source stop;
    chime::run_context context{.stop = stop.get_token(),
                               .output = output,
                               .scheduled = at_seconds(120),
                               .job = "greeting"};

    auto report = echo_task{"hello"}.run(context);

    CHECK(report.status == chime::run_status::succeeded);
    CHECK(output.text() == "hello");
    CHECK(context.deadline == std::chrono::steady_clock::time_point::max());
    CHECK_FALSE(context.stop.stop_requested());
    stop.request_stop();
    CHECK(context.stop.stop_requested());
}

// ---------------------------------------------------------------------------
// clocks

TEST_CASE("system clock source reads whole seconds", "[concepts][clock]") {
    using std::chrono::floor;
    using std::chrono::seconds;
    using std::chrono::system_clock;

    const auto before = floor<seconds>(system_clock::now());
    const chime::instant now = chime::system_clock_source{}.now();
    const auto after = floor<seconds>(system_clock::now());

    CHECK(before <= now);
    CHECK(now <= after);
}

TEST_CASE("manual clock starts where told", "[concepts][clock]") {
    CHECK(chime::testing::manual_clock{}.now() == chime::instant{});
    CHECK(chime::testing::manual_clock{at_seconds(1'700'000'000)}.now() ==
          at_seconds(1'700'000'000));
}

TEST_CASE("manual clock set and advance", "[concepts][clock]") {
    chime::testing::manual_clock clock{at_seconds(1000)};

    clock.advance(90s);
    CHECK(clock.now() == at_seconds(1090));

    clock.advance(-30s);
    CHECK(clock.now() == at_seconds(1060));

    clock.set(at_seconds(5));
    CHECK(clock.now() == at_seconds(5));

    clock.advance(std::chrono::hours{1});
    CHECK(clock.now() == at_seconds(3605));
}

// ---------------------------------------------------------------------------
// output_buffer

TEST_CASE("output buffer keeps writes under the cap", "[concepts][output]") {
    chime::output_buffer output(10);

    output.write("abc");
    output.write("");
    output.write("defg");

    CHECK(output.text() == "abcdefg");
    CHECK_FALSE(output.truncated());
    CHECK(output.max_bytes() == 10);
}

TEST_CASE("output buffer fills to exactly the cap", "[concepts][output]") {
    chime::output_buffer output(6);

    output.write("abc");
    output.write("def");

    CHECK(output.text() == "abcdef");
    CHECK_FALSE(output.truncated());
}

TEST_CASE("output buffer cuts at the cap", "[concepts][output]") {
    chime::output_buffer output(5);

    output.write("abc");
    output.write("defgh");

    CHECK(output.text() == "abcde");
    CHECK(output.truncated());
}

TEST_CASE("output buffer drops writes after truncation", "[concepts][output]") {
    chime::output_buffer output(4);

    output.write("abcdef");
    output.write("x");
    output.write("");

    CHECK(output.text() == "abcd");
    CHECK(output.truncated());
}

TEST_CASE("output buffer with zero cap", "[concepts][output]") {
    chime::output_buffer output(0);

    output.write("");
    CHECK_FALSE(output.truncated());

    output.write("a");
    CHECK(output.text().empty());
    CHECK(output.truncated());
}

TEST_CASE("output buffer keeps UTF-8 whole", "[concepts][output]") {
    // "é" is 2 bytes (c3 a9), "€" is 3 (e2 82 ac), "😀" is 4 (f0 9f 98 80).
    struct cut_case {
        std::size_t cap;
        std::string written;
        std::string kept;
    };
    const cut_case cases[] = {
        {2, "a\xc3\xa9", "a"},
        {3, "a\xc3\xa9", "a\xc3\xa9"},
        {2, "a\xe2\x82\xac", "a"},
        {3, "a\xe2\x82\xac", "a"},
        {4, "a\xe2\x82\xac" "b", "a\xe2\x82\xac"},
        {2, "a\xf0\x9f\x98\x80", "a"},
        {4, "a\xf0\x9f\x98\x80", "a"},
        {5, "a\xf0\x9f\x98\x80" "b", "a\xf0\x9f\x98\x80"},
        {1, "\xf0\x9f\x98\x80", ""},
    };
    for (const auto& c : cases) {
        chime::output_buffer output(c.cap);
        output.write(c.written);

        INFO("cap " << c.cap << ", written " << c.written.size() << " bytes");
        CHECK(output.text() == c.kept);
        CHECK(output.truncated() == (c.kept.size() < c.written.size()));
    }
}

TEST_CASE("output buffer cuts bytes that are not UTF-8 at the cap", "[concepts][output]") {
    // Five continuation bytes in a row start no valid sequence, so there is
    // no sequence start within 3 bytes to move the cut back to.
    chime::output_buffer output(4);

    output.write("\x80\x80\x80\x80\x80");

    CHECK(output.text() == "\x80\x80\x80\x80");
    CHECK(output.truncated());
}
