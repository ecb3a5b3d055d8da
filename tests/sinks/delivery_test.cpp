#include <chime/delivery.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <utility>
#include <vector>

using chime::delivery_mode;
using chime::delivery_reason;
using chime::run_status;
using nlohmann::json;

namespace {

chime::report report_with(run_status status, std::string output = {}, std::string error = {}) {
    chime::report r;
    r.status = status;
    r.output = std::move(output);
    r.error = std::move(error);
    return r;
}

// Feeds `statuses` to should_deliver in order, as the worker would: the
// previous status is that of the latest run for which affects_state() holds.
std::vector<delivery_reason> decisions(delivery_mode mode,
                                       const std::vector<run_status>& statuses) {
    std::vector<delivery_reason> reasons;
    std::optional<run_status> previous;
    for (auto status : statuses) {
        reasons.push_back(chime::should_deliver(mode, report_with(status, "out"), previous));
        if (chime::affects_state(status)) {
            previous = status;
        }
    }
    return reasons;
}

} // namespace

TEST_CASE("delivery mode names round trip", "[delivery]") {
    for (auto mode : {delivery_mode::always, delivery_mode::on_failure, delivery_mode::non_empty,
                      delivery_mode::on_state_change}) {
        CHECK(chime::delivery_mode_from_string(chime::to_string(mode)) == mode);
    }
    CHECK(chime::to_string(delivery_mode::on_state_change) == "on_state_change");
}

TEST_CASE("delivery mode rejects unknown names", "[delivery]") {
    CHECK_THROWS_AS(chime::delivery_mode_from_string("sometimes"), chime::invalid_input);
    CHECK_THROWS_WITH(chime::delivery_mode_from_string("sometimes"),
                      "delivery mode: unknown value \"sometimes\"; expected always, on_failure, "
                      "non_empty or on_state_change");
}

TEST_CASE("always delivers every status", "[delivery]") {
    for (auto status : {run_status::succeeded, run_status::failed, run_status::timed_out,
                        run_status::missed, run_status::skipped, run_status::interrupted}) {
        CHECK(chime::should_deliver(delivery_mode::always, report_with(status), std::nullopt) ==
              delivery_reason::matched);
    }
}

TEST_CASE("on_failure delivers failures only", "[delivery]") {
    const std::vector<run_status> sequence{
        run_status::succeeded, run_status::failed,  run_status::failed,      run_status::timed_out,
        run_status::missed,    run_status::skipped, run_status::interrupted, run_status::succeeded};
    const std::vector<delivery_reason> expected{delivery_reason::none,    delivery_reason::matched,
                                                delivery_reason::matched, delivery_reason::matched,
                                                delivery_reason::none,    delivery_reason::none,
                                                delivery_reason::matched, delivery_reason::none};
    CHECK(decisions(delivery_mode::on_failure, sequence) == expected);
}

TEST_CASE("non_empty delivers output or error", "[delivery]") {
    const auto mode = delivery_mode::non_empty;
    CHECK(chime::should_deliver(mode, report_with(run_status::succeeded), std::nullopt) ==
          delivery_reason::none);
    CHECK(chime::should_deliver(mode, report_with(run_status::failed), std::nullopt) ==
          delivery_reason::none);
    CHECK(chime::should_deliver(mode, report_with(run_status::succeeded, "hello\n"),
                                std::nullopt) == delivery_reason::matched);
    CHECK(chime::should_deliver(mode, report_with(run_status::missed, "", "missed by PT5M"),
                                std::nullopt) == delivery_reason::matched);
}

TEST_CASE("on_state_change reports first failure and recovery", "[delivery]") {
    const std::vector<run_status> sequence{
        run_status::succeeded,   // no history, a success: nothing to report
        run_status::failed,      // first failure after a success
        run_status::failed,      // repeated failure
        run_status::timed_out,   // still failing
        run_status::succeeded,   // recovered
        run_status::succeeded,   // repeated success
        run_status::interrupted, // failing again
    };
    const std::vector<delivery_reason> expected{
        delivery_reason::none,   delivery_reason::failing,   delivery_reason::none,
        delivery_reason::none,   delivery_reason::recovered, delivery_reason::none,
        delivery_reason::failing};
    CHECK(decisions(delivery_mode::on_state_change, sequence) == expected);
}

TEST_CASE("on_state_change reports a first failure without history", "[delivery]") {
    const std::vector<run_status> sequence{run_status::failed, run_status::failed,
                                           run_status::succeeded};
    const std::vector<delivery_reason> expected{delivery_reason::failing, delivery_reason::none,
                                                delivery_reason::recovered};
    CHECK(decisions(delivery_mode::on_state_change, sequence) == expected);
}

TEST_CASE("on_state_change ignores missed and skipped runs", "[delivery]") {
    const std::vector<run_status> sequence{run_status::failed,  run_status::skipped,
                                           run_status::missed,  run_status::failed,
                                           run_status::skipped, run_status::succeeded};
    const std::vector<delivery_reason> expected{
        delivery_reason::failing, delivery_reason::none, delivery_reason::none,
        delivery_reason::none,    delivery_reason::none, delivery_reason::recovered};
    CHECK(decisions(delivery_mode::on_state_change, sequence) == expected);
}

TEST_CASE("on_state_change treats a skipped previous status as no history", "[delivery]") {
    CHECK(chime::should_deliver(delivery_mode::on_state_change, report_with(run_status::failed),
                                run_status::skipped) == delivery_reason::failing);
    CHECK(chime::should_deliver(delivery_mode::on_state_change, report_with(run_status::succeeded),
                                run_status::missed) == delivery_reason::none);
}

TEST_CASE("delivery reason names", "[delivery]") {
    CHECK(chime::to_string(delivery_reason::none) == "none");
    CHECK(chime::to_string(delivery_reason::matched) == "matched");
    CHECK(chime::to_string(delivery_reason::failing) == "failing");
    CHECK(chime::to_string(delivery_reason::recovered) == "recovered");
}

TEST_CASE("delivery_mode_of reads when with a default", "[delivery]") {
    CHECK(chime::delivery_mode_of(json{{"kind", "mail"}}) == delivery_mode::always);
    CHECK(chime::delivery_mode_of(json{{"kind", "mail"}, {"when", nullptr}}) ==
          delivery_mode::always);
    CHECK(chime::delivery_mode_of(json{{"kind", "mail"}, {"when", "non_empty"}}) ==
          delivery_mode::non_empty);
    CHECK(chime::delivery_mode_of(json{{"when", "on_state_change"}}) ==
          delivery_mode::on_state_change);
}

TEST_CASE("delivery_mode_of errors name the sink and value", "[delivery]") {
    CHECK_THROWS_WITH(chime::delivery_mode_of(json{{"kind", "mail"}, {"when", "weekly"}}),
                      "sink \"mail\": \"when\" is \"weekly\"; expected one of always, on_failure, "
                      "non_empty, on_state_change");
    CHECK_THROWS_WITH(chime::delivery_mode_of(json{{"kind", "log"}, {"when", 3}}),
                      "sink \"log\": \"when\" must be a string (always, on_failure, non_empty, "
                      "on_state_change), got 3");
    CHECK_THROWS_WITH(chime::delivery_mode_of(json::array()),
                      "sink \"sink\": expected a JSON object, got an array of 0 elements");
}
