// Cost of cron_trigger::next_after and of parsing, per case and zone.
// Each next_after call continues from the previous result, as a scheduler
// does; the trigger restarts from a fixed instant when it runs out.
#include <chime/cron.hpp>
#include <chime/iso8601.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

struct cron_case {
    const char* name;
    const char* expression;
};

constexpr cron_case cases[] = {
    {"daily_0230", "30 2 * * *"},      {"every_5min", "*/5 * * * *"},
    {"weekdays_noon", "0 12 * * 1-5"}, {"feb29", "0 0 29 2 *"},
    {"every_7s", "*/7 * * * * *"},
};

constexpr const char* zones[] = {"UTC", "Europe/Berlin"};

void BM_cron_next(benchmark::State& state, const char* expression, const char* zone_name) {
    chime::cron_trigger trigger(expression, chime::zone::locate(zone_name));
    const auto origin = chime::parse_instant("2024-01-01T00:00:00Z");
    auto t = origin;
    for (auto _ : state) {
        auto next = trigger.next_after(t);
        benchmark::DoNotOptimize(next);
        t = next ? *next : origin;
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_cron_parse(benchmark::State& state) {
    std::string text = "0 12 * * 1-5";
    for (auto _ : state) {
        auto expression = chime::cron_expression::parse(text);
        benchmark::DoNotOptimize(expression);
    }
    state.SetItemsProcessed(state.iterations());
}

const bool registered = [] {
    for (const auto& c : cases) {
        for (const char* zone_name : zones) {
            std::string name = std::string("BM_cron_next/") + c.name + "/" + zone_name;
            benchmark::RegisterBenchmark(name.c_str(), BM_cron_next, c.expression, zone_name);
        }
    }
    benchmark::RegisterBenchmark("BM_cron_parse", BM_cron_parse);
    return true;
}();

} // namespace

BENCHMARK_MAIN();
