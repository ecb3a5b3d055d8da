#include <chime/run_policy.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("run policy defaults", "[run_policy]") {
    chime::run_policy p;
    CHECK(p.misfire_grace == 60s);
    CHECK(p.coalesce == chime::coalesce_mode::latest);
    CHECK(p.catch_up == chime::catch_up_mode::none);
    CHECK(p.overlap == chime::overlap_mode::skip);
    CHECK(p.concurrency_limit() == 1);
    CHECK(p.retry.count == 0);
    CHECK_FALSE(p.timeout);
    CHECK(chime::run_policy::from_json(json::object()) == p);
}

TEST_CASE("run policy JSON round trip", "[run_policy]") {
    chime::run_policy p;
    p.misfire_grace.reset();
    p.coalesce = chime::coalesce_mode::all;
    p.catch_up = chime::catch_up_mode::once;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 3;
    p.retry = {.count = 4, .initial_delay = 15s, .factor = 1.5, .max_delay = 600s};
    p.timeout = 300s;

    auto j = p.to_json();
    CHECK(j.at("misfire_grace") == "none");
    CHECK(j.at("coalesce") == "all");
    CHECK(j.at("catch_up") == "once");
    CHECK(j.at("overlap") == "allow");
    CHECK(j.at("max_instances") == 3);
    CHECK(j.at("retry").at("initial_delay") == "PT15S");
    CHECK(j.at("retry").at("max_delay") == "PT10M");
    CHECK(j.at("timeout") == "PT5M");
    CHECK(chime::run_policy::from_json(j) == p);
}

TEST_CASE("run policy reads null as no limit", "[run_policy]") {
    auto p = chime::run_policy::from_json(json{{"misfire_grace", nullptr}, {"timeout", nullptr}});
    CHECK_FALSE(p.misfire_grace);
    CHECK_FALSE(p.timeout);
}

TEST_CASE("run policy errors name the key and the value", "[run_policy]") {
    using chime::run_policy;
    CHECK_THROWS_WITH(run_policy::from_json(json{{"overlap", "wait"}}),
                      "run policy: \"overlap\" is \"wait\"; expected one of skip, queue_one, "
                      "replace, allow");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"coalesce", 3}}),
                      "run policy: \"coalesce\" must be a string (earliest, latest, all), got 3");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"misfire_grace", "60"}}),
                      "run policy: \"misfire_grace\" is \"60\"; expected an ISO 8601 duration of "
                      "fixed length such as \"PT30S\", \"PT5M\" or \"P1D\" (years and months have no "
                      "fixed length)");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"timeout", "P25000D"}}),
                      "run policy: \"timeout\" is P25000D (2160000000 s); it must be from PT1S to "
                      "P24855DT3H14M7S");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"timeout", "PT0S"}}),
                      "run policy: \"timeout\" is \"PT0S\"; it must be at least one second, or "
                      "\"none\"");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"max_instances", 2}}),
                      "run policy: \"max_instances\" is 2 but \"overlap\" is \"skip\"; set "
                      "\"overlap\": \"allow\" to run several at once");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"overlap", "allow"}, {"max_instances", 0}}),
                      "run policy: \"max_instances\" is 0; it must be from 1 to 1000");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"max_instances", -1}}),
                      "run policy: \"max_instances\" must be a whole number from 1 to 1000, got -1");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"retry", {{"factor", 0.5}}}}),
                      "run policy: \"retry.factor\" must be a number from 1 to 100, got 0.5");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"retry", {{"tries", 3}}}}),
                      "run policy: \"retry\": unknown key \"tries\"; expected count, "
                      "initial_delay, factor, max_delay");
    CHECK_THROWS_WITH(
        run_policy::from_json(json{{"retry", {{"initial_delay", "PT2H"}, {"max_delay", "PT1H"}}}}),
        "run policy: \"retry.max_delay\" (PT1H) is shorter than \"retry.initial_delay\" (PT2H)");
    CHECK_THROWS_WITH(run_policy::from_json(json{{"misfire", "PT1M"}}),
                      Catch::StartsWith("run policy: unknown key \"misfire\"; expected "));
    CHECK_THROWS_WITH(run_policy::from_json(json::array()),
                      "run policy: expected a JSON object, got an array of 0 elements");
}

TEST_CASE("run policy validate rejects what JSON cannot hold", "[run_policy]") {
    chime::run_policy p;
    p.overlap = chime::overlap_mode::allow;
    p.max_instances = 5000;
    CHECK_THROWS_WITH(p.validate(), "run policy: \"max_instances\" is 5000; it must be from 1 to 1000");

    chime::run_policy q;
    q.retry.count = 5000;
    CHECK_THROWS_WITH(q.validate(), "run policy: \"retry.count\" is 5000; it must be from 0 to 1000");

    chime::run_policy r;
    r.max_instances = 0;
    CHECK_THROWS_WITH(r.validate(), Catch::StartsWith("run policy: \"max_instances\" is 0 but"));

    // Every valid policy reads back from its JSON form.
    chime::run_policy ok;
    ok.overlap = chime::overlap_mode::allow;
    ok.max_instances = 1000;
    ok.retry.count = 1000;
    ok.retry.factor = 1.1;
    ok.timeout = chime::run_policy::max_duration;
    CHECK(chime::run_policy::from_json(ok.to_json()) == ok);
}

TEST_CASE("retry delay grows by the factor up to the cap", "[run_policy]") {
    chime::retry_policy r{.count = 10, .initial_delay = 10s, .factor = 2.0, .max_delay = 100s};
    CHECK(r.delay_before(1) == 10s);
    CHECK(r.delay_before(2) == 20s);
    CHECK(r.delay_before(3) == 40s);
    CHECK(r.delay_before(4) == 80s);
    CHECK(r.delay_before(5) == 100s);
    CHECK(r.delay_before(1000) == 100s);
}
