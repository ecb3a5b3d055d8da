#include "sink_test_support.hpp"

#include <chime/registry.hpp>
#include <chime/sinks/log_sink.hpp>

#include <catch2/catch.hpp>

using chime::log_sink;
using chime::testing::captured_logger;
using chime::testing::sample_report;
using nlohmann::json;

static_assert(chime::report_sink<log_sink>);

TEST_CASE("log sink defaults", "[log_sink]") {
    const auto sink = log_sink::from_json(json{{"kind", "log"}});
    CHECK(sink.logger == "chime");
    CHECK(sink.success_level == spdlog::level::info);
    CHECK(sink.failure_level == spdlog::level::err);
    CHECK(sink.when == chime::delivery_mode::always);
}

TEST_CASE("log sink JSON round trip", "[log_sink]") {
    const json settings{{"when", "on_failure"},
                        {"logger", "jobs"},
                        {"success_level", "debug"},
                        {"failure_level", "critical"}};
    const auto sink = log_sink::from_json(settings);
    CHECK(sink.logger == "jobs");
    CHECK(sink.success_level == spdlog::level::debug);
    CHECK(sink.failure_level == spdlog::level::critical);
    CHECK(sink.when == chime::delivery_mode::on_failure);
    CHECK(sink.to_json() == settings);
}

TEST_CASE("log sink accepts warn for warning", "[log_sink]") {
    const auto sink = log_sink::from_json(json{{"failure_level", "warn"}});
    CHECK(sink.failure_level == spdlog::level::warn);
    CHECK(sink.to_json().at("failure_level") == "warning");
}

TEST_CASE("log sink settings errors", "[log_sink]") {
    CHECK_THROWS_WITH(log_sink::from_json(json{{"failure_level", "loud"}}),
                      "sink \"log\": \"failure_level\" is \"loud\"; expected one of trace, debug, "
                      "info, warning, error, critical, off");
    CHECK_THROWS_WITH(log_sink::from_json(json{{"level", "info"}}),
                      "sink \"log\": unknown key \"level\"; expected when, logger, "
                      "success_level, failure_level");
    CHECK_THROWS_WITH(log_sink::from_json(json{{"logger", ""}}),
                      Catch::StartsWith("sink \"log\": \"logger\" is empty"));
}

TEST_CASE("log sink line has every field", "[log_sink]") {
    CHECK(log_sink::format_line(sample_report()) ==
          "run report: job=\"backup\" status=failed scheduled=2025-03-30T01:00:00Z "
          "duration=2.125s exit_code=3 attempt=2 error=\"exit code 3\"");
}

TEST_CASE("log sink line marks missing values", "[log_sink]") {
    chime::report r;
    r.job = "nightly";
    r.status = chime::run_status::missed;
    r.output_truncated = true;
    CHECK(log_sink::format_line(r) ==
          "run report: job=\"nightly\" status=missed scheduled=1970-01-01T00:00:00Z "
          "duration=- exit_code=- attempt=0 output_truncated=true");
}

TEST_CASE("log sink line stays on one line", "[log_sink]") {
    auto r = sample_report();
    r.job = "a \"quoted\" job";
    r.error = "first\nsecond\r\n\x1b[31mred";
    const auto line = log_sink::format_line(r);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK_THAT(line, Catch::Contains("job=\"a \\\"quoted\\\" job\""));
    CHECK_THAT(line, Catch::Contains("error=\"first\\nsecond\\x0d\\n\\x1b[31mred\""));
}

TEST_CASE("log sink cuts long error text", "[log_sink]") {
    auto r = sample_report();
    r.error = std::string(1000, 'e');
    const auto line = log_sink::format_line(r);
    CHECK_THAT(line,
               Catch::EndsWith("error=\"" + std::string(log_sink::max_field_bytes, 'e') + "...\""));
}

TEST_CASE("log sink never logs output", "[log_sink]") {
    auto r = sample_report();
    r.output = "token=hunter2\n";
    CHECK_THAT(log_sink::format_line(r), !Catch::Contains("hunter2"));
}

TEST_CASE("log sink writes at the level of the status", "[log_sink]") {
    captured_logger capture("chime-log-sink-test");
    auto sink = log_sink::from_json(json{{"logger", "chime-log-sink-test"},
                                         {"success_level", "debug"},
                                         {"failure_level", "warning"}});

    auto failed = sample_report();
    sink.deliver(failed);
    auto succeeded = sample_report();
    succeeded.status = chime::run_status::succeeded;
    succeeded.error.clear();
    sink.deliver(succeeded);
    auto skipped = succeeded;
    skipped.status = chime::run_status::skipped;
    sink.deliver(skipped);
    auto missed = succeeded;
    missed.status = chime::run_status::missed;
    sink.deliver(missed);

    const auto lines = capture.lines();
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == "warning " + log_sink::format_line(failed));
    CHECK(lines[1] == "debug " + log_sink::format_line(succeeded));
    CHECK(lines[2] == "debug " + log_sink::format_line(skipped));
    CHECK(lines[3] == "warning " + log_sink::format_line(missed));
}

TEST_CASE("log sink registers a missing logger", "[log_sink]") {
    captured_logger capture("chime-log-sink-default");
    const auto previous_default = spdlog::default_logger();
    spdlog::set_default_logger(capture.logger());
    spdlog::drop("chime-log-sink-new");

    auto sink = log_sink::from_json(json{{"logger", "chime-log-sink-new"}});
    sink.deliver(sample_report());

    spdlog::set_default_logger(previous_default);
    const auto registered = spdlog::get("chime-log-sink-new");
    REQUIRE(registered);
    CHECK(registered->name() == "chime-log-sink-new");
    spdlog::drop("chime-log-sink-new");
    REQUIRE(capture.lines().size() == 1);
    CHECK(capture.lines()[0] == "error " + log_sink::format_line(sample_report()));
}

TEST_CASE("log sink works in a sink registry", "[log_sink]") {
    using sinks = chime::sink_registry<log_sink>;
    const auto value = sinks::from_json(json{{"kind", "log"}, {"when", "non_empty"}});
    CHECK(sinks::kind_of(value) == "log");
    CHECK(sinks::to_json(value).at("when") == "non_empty");
}
