// The webhook sink: its settings, and delivery to a real HTTP server
// (tests/servers/http_server.py) that can fail on purpose or respond slowly.
#include "sink_test_support.hpp"

#include <chime/registry.hpp>
#include <chime/report_json.hpp>
#include <chime/sinks/dispatcher.hpp>
#include <chime/sinks/log_sink.hpp>
#include <chime/sinks/mail_sink.hpp>
#include <chime/sinks/webhook_sink.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using chime::webhook_sink;
using chime::testing::read_file;
using chime::testing::sample_report;
using chime::testing::server_process;
using chime::testing::temporary_directory;
using nlohmann::json;
using namespace std::chrono_literals;

static_assert(chime::report_sink<webhook_sink>);

namespace {

const auto patience_for_servers = 30s;

// An HTTP server storing each POST in a directory of its own.
struct http_server {
    temporary_directory received;
    server_process process;

    explicit http_server(const std::vector<std::string>& options = {})
        : process(arguments(received.path().string(), options)) {}

    static std::vector<std::string> arguments(const std::string& directory,
                                              const std::vector<std::string>& options) {
        std::vector<std::string> argv{CHIME_PYTHON3,
                                      chime::testing::server_script("http_server.py"), directory};
        argv.insert(argv.end(), options.begin(), options.end());
        return argv;
    }

    std::string url(const std::string& path = "/hook") const {
        return "http://127.0.0.1:" + std::to_string(process.port()) + path;
    }

    // The record of each request: path, headers and the response status.
    std::vector<json> requests() const {
        std::vector<json> found;
        for (const auto& path : chime::testing::files_ending_in(received.path(), ".json")) {
            found.push_back(json::parse(read_file(path)));
        }
        return found;
    }

    std::vector<std::string> bodies() const {
        std::vector<std::string> found;
        for (const auto& path : chime::testing::files_ending_in(received.path(), ".body")) {
            found.push_back(read_file(path));
        }
        return found;
    }
};

// The value of header `name` in a request record, whatever its case.
std::string header(const json& request, const std::string& name) {
    for (const auto& item : request.at("headers").items()) {
        std::string key = item.key();
        std::string expected = name;
        for (auto* text : {&key, &expected}) {
            for (char& c : *text) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
        }
        if (key == expected) {
            return item.value().get<std::string>();
        }
    }
    return "(absent)";
}

} // namespace

// ---------------------------------------------------------------------------
// Settings

TEST_CASE("webhook sink defaults", "[webhook_sink]") {
    const auto sink = webhook_sink::from_json(json{{"kind", "webhook"}, {"url", "http://h/x"}});
    CHECK(sink.url == "http://h/x");
    CHECK(sink.timeout == 10s);
    CHECK(sink.retries == 3);
    CHECK(sink.headers.empty());
    CHECK(sink.when == chime::delivery_mode::always);
}

TEST_CASE("webhook sink JSON round trip", "[webhook_sink]") {
    const json settings{
        {"when", "on_state_change"},
        {"url", "https://hooks.example.org/chime?channel=ops"},
        {"timeout", "PT5S"},
        {"retries", 0},
        {"headers", {{"Authorization", {{"env", "CHIME_HOOK_AUTH"}}}, {"X-Team", "ops"}}}};
    const auto sink = webhook_sink::from_json(settings);
    REQUIRE(sink.headers.size() == 2);
    CHECK(sink.headers[0] == webhook_sink::header{"Authorization", "CHIME_HOOK_AUTH", true});
    CHECK(sink.headers[1] == webhook_sink::header{"X-Team", "ops", false});
    CHECK(sink.to_json() == settings);
}

TEST_CASE("webhook sink hides the query in messages", "[webhook_sink]") {
    const auto sink =
        webhook_sink::from_json(json{{"url", "https://hooks.example.org/a/b?token=s3cret#frag"}});
    CHECK(sink.shown_url() == "https://hooks.example.org/a/b?...");
}

TEST_CASE("webhook sink settings errors", "[webhook_sink]") {
    for (const char* bad : {"ftp://h/x", "http://", "http://user:pw@h/x", "http://h/a b",
                            "http://h\r\nX: y/", "https://h\xc3\xa9.org/"}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(webhook_sink::from_json(json{{"url", bad}}),
                          Catch::StartsWith("sink \"webhook\": \"url\" is "));
    }
    CHECK_THROWS_WITH(webhook_sink::from_json(json::object()),
                      "sink \"webhook\": \"url\" is missing or empty");
    CHECK_THROWS_WITH(
        webhook_sink::from_json(json{{"url", "http://h/"}, {"retries", 101}}),
        "sink \"webhook\": \"retries\" must be a whole number from 0 to 100, got 101");
    CHECK_THROWS_WITH(
        webhook_sink::from_json(json{{"url", "http://h/"}, {"headers", {{"Bad Name", "x"}}}}),
        "sink \"webhook\": header name \"Bad Name\" is invalid; use letters, digits and -, such "
        "as X-Team");
    CHECK_THROWS_WITH(
        webhook_sink::from_json(json{{"url", "http://h/"}, {"headers", {{"X-A", "1\r\nX-B: 2"}}}}),
        "sink \"webhook\": the value of header X-A contains a control character");
    CHECK_THROWS_WITH(
        webhook_sink::from_json(json{{"url", "http://h/"}, {"headers", {{"X-A", 5}}}}),
        "sink \"webhook\": header \"X-A\" must be a string or {\"env\": NAME}, got 5");
    CHECK_THROWS_WITH(webhook_sink::from_json(json{{"url", "http://h/"}, {"method", "PUT"}}),
                      "sink \"webhook\": unknown key \"method\"; expected when, url, timeout, "
                      "headers, retries");
}

// ---------------------------------------------------------------------------
// Delivery through http.server

TEST_CASE("webhook posts the report JSON", "[webhook_sink][http]") {
    http_server server;
    chime::testing::environment_variable token("CHIME_TEST_HOOK_AUTH", "Bearer t0ken");
    auto sink = webhook_sink::from_json(json{
        {"url", server.url("/hook?channel=ops")},
        {"headers", {{"X-Team", "ops"}, {"Authorization", {{"env", "CHIME_TEST_HOOK_AUTH"}}}}}});
    auto r = sample_report();
    // Large enough that libcurl would send "Expect: 100-continue" without the sink's empty Expect
    // header.
    r.output = std::string(2'000'000, 'o') + "\n\xff invalid byte\n";
    sink.deliver(r);

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].at("path") == "/hook?channel=ops");
    CHECK(header(requests[0], "Content-Type") == "application/json");
    CHECK(header(requests[0], "X-Team") == "ops");
    CHECK(header(requests[0], "Authorization") == "Bearer t0ken");
    CHECK(header(requests[0], "Expect") == "(absent)");
    const auto body = json::parse(server.bodies().at(0));
    CHECK(body == chime::report_to_json(r));
    CHECK(body.at("job") == "backup");
    CHECK(body.at("duration_ms") == 2125);
}

TEST_CASE("webhook error names the URL and status", "[webhook_sink][http]") {
    http_server server({"--fail-first", "1", "--fail-status", "503"});
    auto sink = webhook_sink::from_json(json{{"url", server.url("/hook?token=s3cret")}});
    try {
        sink.deliver(sample_report());
        FAIL("a 503 response counted as delivered");
    } catch (const chime::delivery_error& e) {
        CHECK(e.http_status() == 503);
        CHECK(e.curl_code() == 0);
        CHECK(std::string(e.what()) == "webhook " + server.url("/hook") +
                                           "?... failed: the server responded with HTTP status 503 "
                                           "and body \"failing on purpose\\n\"");
    }
}

TEST_CASE("webhook to a closed port fails", "[webhook_sink][http]") {
    std::string url;
    {
        http_server stopped;
        url = stopped.url();
    }
    auto sink = webhook_sink::from_json(json{{"url", url}});
    try {
        sink.deliver(sample_report());
        FAIL("delivery to a stopped server succeeded");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_COULDNT_CONNECT);
        CHECK_THAT(e.what(), Catch::StartsWith("webhook " + url + " failed: "));
    }
}

TEST_CASE("webhook is retried once after a 500", "[webhook_sink][http]") {
    http_server server({"--fail-first", "1"});
    chime::testing::captured_logger capture("chime-webhook-retry-test");
    chime::dispatcher_settings settings;
    settings.initial_delay = 1ms;
    settings.max_delay = 1ms;
    settings.logger = capture.logger();
    chime::sink_dispatcher<webhook_sink> dispatcher(settings);

    dispatcher.submit(webhook_sink::from_json(json{{"url", server.url()}, {"retries", 2}}),
                      sample_report());
    REQUIRE(dispatcher.wait_until([](const auto& c) { return c.delivered + c.failed == 1; },
                                  std::chrono::steady_clock::now() + patience_for_servers));
    const auto summary = dispatcher.stop(0ms);

    CHECK(summary.totals.delivered == 1);
    CHECK(summary.totals.failed == 0);
    CHECK(summary.totals.retries == 1);
    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].at("status") == 500);
    CHECK(requests[1].at("status") == 200);
    CHECK(server.bodies()[0] == server.bodies()[1]);
    CHECK_THAT(capture.text(),
               Catch::Contains("sink delivery failed: job=\"backup\" sink=webhook attempt 1 of 3 "
                               "error=\"webhook " +
                               server.url() +
                               " failed: the server responded with HTTP status 500"));
}

TEST_CASE("webhook gives up after its retries", "[webhook_sink][http]") {
    http_server server({"--fail-first", "100"});
    chime::testing::captured_logger capture("chime-webhook-give-up-test");
    chime::dispatcher_settings settings;
    settings.initial_delay = 1ms;
    settings.max_delay = 2ms;
    settings.logger = capture.logger();
    chime::sink_dispatcher<webhook_sink> dispatcher(settings);

    dispatcher.submit(webhook_sink::from_json(json{{"url", server.url()}, {"retries", 1}}),
                      sample_report());
    REQUIRE(dispatcher.wait_until([](const auto& c) { return c.failed == 1; },
                                  std::chrono::steady_clock::now() + patience_for_servers));
    dispatcher.stop(0ms);
    CHECK(server.requests().size() == 2);
    CHECK_THAT(capture.text(), Catch::Contains("attempt 2 of 2"));
    CHECK_THAT(capture.text(), Catch::Contains("; giving up"));
}

TEST_CASE("webhook to a slow server times out", "[webhook_sink][http]") {
    http_server server({"--delay", "30"});
    auto sink = webhook_sink::from_json(json{{"url", server.url()}, {"timeout", "PT1S"}});
    const auto start = std::chrono::steady_clock::now();
    try {
        sink.deliver(sample_report());
        FAIL("a server that never responded counted as delivered");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_OPERATION_TIMEDOUT);
        CHECK_THAT(e.what(), Catch::StartsWith("webhook " + server.url() +
                                               " failed: Timeout was "
                                               "reached (curl code 28)"));
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // libcurl's timer has been seen to end the transfer 0.2 ms before the second.
    CHECK(elapsed >= 900ms);
    CHECK(elapsed < 10s);
}

TEST_CASE("dispatcher delivers a registry's sinks", "[webhook_sink][http]") {
    using sinks = chime::sink_registry<chime::log_sink, chime::mail_sink, webhook_sink>;
    http_server server;
    chime::testing::captured_logger reports("chime-registry-reports");
    chime::testing::captured_logger dispatcher_log("chime-registry-dispatcher");
    chime::dispatcher_settings settings;
    settings.logger = dispatcher_log.logger();
    chime::sink_dispatcher<sinks::variant> dispatcher(settings);

    const json stored[] = {
        {{"kind", "log"}, {"logger", "chime-registry-reports"}},
        {{"kind", "webhook"}, {"when", "on_failure"}, {"url", server.url()}},
    };
    for (const auto& sink : stored) {
        const auto value = sinks::from_json(sink);
        CHECK(sinks::to_json(value) == sinks::to_json(sinks::from_json(sinks::to_json(value))));
        dispatcher.submit(value, sample_report());
    }
    const auto summary = dispatcher.stop(patience_for_servers);

    CHECK(summary.totals.delivered == 2);
    CHECK(reports.lines().size() == 1);
    CHECK(server.requests().size() == 1);
    CHECK(sinks::kind_of(sinks::from_json(json{{"kind", "mail"}, {"to", "root"}})) == "mail");
}
