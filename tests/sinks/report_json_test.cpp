#include "sink_test_support.hpp"

#include <chime/report_json.hpp>

#include <catch2/catch.hpp>

using nlohmann::json;

TEST_CASE("report JSON has every field", "[report_json]") {
    const auto j = chime::report_to_json(chime::testing::sample_report());
    CHECK(j.at("job") == "backup");
    CHECK(j.at("status") == "failed");
    CHECK(j.at("scheduled") == "2025-03-30T01:00:00Z");
    CHECK(j.at("started") == "2025-03-30T01:00:00.125Z");
    CHECK(j.at("finished") == "2025-03-30T01:00:02.250Z");
    CHECK(j.at("duration_ms") == 2125);
    CHECK(j.at("exit_code") == 3);
    CHECK(j.at("attempt") == 2);
    CHECK(j.at("reason") == "scheduled");
    CHECK(j.at("error") == "exit code 3");
    CHECK(j.at("output") == "line one\nline two\n");
    CHECK(j.at("output_truncated") == false);
    CHECK(j.size() == 12);
}

TEST_CASE("report JSON writes null for unset values", "[report_json]") {
    chime::report r;
    r.status = chime::run_status::missed;
    const auto j = chime::report_to_json(r);
    CHECK(j.at("status") == "missed");
    CHECK(j.at("scheduled") == "1970-01-01T00:00:00Z");
    CHECK(j.at("started").is_null());
    CHECK(j.at("finished").is_null());
    CHECK(j.at("duration_ms").is_null());
    CHECK(j.at("exit_code").is_null());
}

TEST_CASE("report JSON round trip", "[report_json]") {
    auto original = chime::testing::sample_report();
    original.output_truncated = true;
    original.exit_code = -15;
    const auto back = chime::report_from_json(chime::report_to_json(original));
    CHECK(back.status == original.status);
    CHECK(back.exit_code == original.exit_code);
    CHECK(back.output == original.output);
    CHECK(back.output_truncated);
    CHECK(back.error == original.error);
    CHECK(back.job == original.job);
    CHECK(back.scheduled == original.scheduled);
    CHECK(back.started == original.started);
    CHECK(back.finished == original.finished);
    CHECK(back.reason == original.reason);
    CHECK(back.attempt == original.attempt);
}

TEST_CASE("report JSON replaces invalid UTF-8", "[report_json]") {
    chime::report r;
    r.output = "ok \xff\xfe end \xc3\xa9 \xed\xa0\x80 \xc0\xaf";
    const auto j = chime::report_to_json(r);
    CHECK(j.at("output") ==
          "ok \xef\xbf\xbd\xef\xbf\xbd end \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
          "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_NOTHROW(j.dump());
}

TEST_CASE("report JSON keeps valid multibyte text", "[report_json]") {
    chime::report r;
    r.output = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x95\x90";
    CHECK(chime::report_to_json(r).at("output") == r.output);
}

TEST_CASE("millisecond instants always have three digits", "[report_json]") {
    using namespace std::chrono;
    CHECK(chime::format_utc_milliseconds(chime::millisecond_instant{milliseconds{7}}) ==
          "1970-01-01T00:00:00.007Z");
    CHECK(chime::format_utc_milliseconds(chime::millisecond_instant{milliseconds{-1}}) ==
          "1969-12-31T23:59:59.999Z");
}

TEST_CASE("report JSON errors name the key", "[report_json]") {
    auto j = chime::report_to_json(chime::testing::sample_report());
    j["status"] = "exploded";
    CHECK_THROWS_WITH(chime::report_from_json(j),
                      Catch::StartsWith("report JSON: \"status\": run status: unknown value "
                                        "\"exploded\""));

    j = chime::report_to_json(chime::testing::sample_report());
    j["exit_code"] = 1e10;
    CHECK_THROWS_WITH(
        chime::report_from_json(j),
        "report JSON: \"exit_code\" must be a whole number or null, got 10000000000.0");

    j = chime::report_to_json(chime::testing::sample_report());
    j["started"] = "yesterday";
    CHECK_THROWS_WITH(chime::report_from_json(j), Catch::StartsWith("report JSON: \"started\": "));

    j = chime::report_to_json(chime::testing::sample_report());
    j.erase("scheduled");
    CHECK_THROWS_WITH(chime::report_from_json(j),
                      "report JSON: \"scheduled\" is missing or not a string");

    CHECK_THROWS_AS(chime::report_from_json(json::array()), chime::invalid_input);
}

TEST_CASE("report JSON ignores unknown keys", "[report_json]") {
    auto j = chime::report_to_json(chime::testing::sample_report());
    j["added_later"] = {{"x", 1}};
    CHECK(chime::report_from_json(j).job == "backup");
}
