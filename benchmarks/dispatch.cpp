// Runs through the whole worker: engine, executor threads, completion over
// inproc, and optionally the history in a real SQLite file.
//
//   BM_dispatch_runs/JOBS/HISTORY   every job fires once a second (a manual
//       clock advanced one second per batch); items_per_second counts runs
//       that started, ran a no-op in-process task and came back finished.
//       HISTORY=1 gives every job a history sink (keep_last 100), so each run
//       is written to the store twice (running, then finished).
//   BM_dispatch_lateness/QUEUE/JOBS/THREADS  the system clock, JOBS jobs spread over
//       100 seconds (JOBS/100 due each second) for a measured span; counters
//       p50_ms, p99_ms and max_ms are start minus scheduled instant, taken
//       when the task starts.
//
// Goals: 1,000,000 runs per second without history, 100,000 with history,
// and p99 lateness under 1 ms at 100,000 jobs.
#include <chime/default_triggers.hpp>
#include <chime/heap_timer_queue.hpp>
#include <chime/iso8601.hpp>
#include <chime/zmq/worker.hpp>

#include <benchmark/benchmark.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct noop_task {
    static constexpr std::string_view kind = "noop";
    static noop_task from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context&) const { return {}; }
};

// Lateness samples in milliseconds, written by pool threads.
std::vector<double> lateness_samples(1 << 22);
std::vector<std::int64_t> lateness_seconds(1 << 22);
std::atomic<std::size_t> lateness_count{0};

struct lateness_task {
    static constexpr std::string_view kind = "lateness";
    static lateness_task from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context& context) const {
        auto late = std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() -
                                                              context.scheduled);
        auto i = lateness_count.fetch_add(1, std::memory_order_relaxed);
        if (i < lateness_samples.size()) {
            lateness_samples[i] = late.count();
            lateness_seconds[i] = context.scheduled.time_since_epoch().count();
        }
        return {};
    }
};

struct manual_clock_handle {
    std::atomic<chime::instant>* now_;
    chime::instant now() const noexcept { return now_->load(); }
};

struct manual_config {
    using triggers = chime::default_triggers;
    using tasks = chime::task_registry<noop_task, lateness_task>;
    using sinks = chime::sink_registry<chime::history_sink>;
    using clock = manual_clock_handle;
};

struct system_config {
    using triggers = chime::default_triggers;
    using tasks = chime::task_registry<noop_task, lateness_task>;
    using sinks = chime::sink_registry<chime::history_sink>;
};

// The same with the 4-ary heap as the engine's timer queue, which has no
// cascades: see the lateness note in docs/benchmarks.md.
struct heap_config : system_config {
    using queue = chime::quaternary_heap;
};

struct bench_dir {
    fs::path path;
    bench_dir() {
        std::string pattern = (fs::temp_directory_path() / "chime-dispatch-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~bench_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

chime::worker_options bench_options(const bench_dir& dir) {
    chime::worker_options options;
    options.database = dir.path / "chime.db";
    options.control = "inproc://dispatch-bench";
    options.threads = 1; // the loop takes the other core
    options.logger = std::make_shared<spdlog::logger>(
        "bench", std::make_shared<spdlog::sinks::null_sink_mt>());
    // chimed logs a line per run at info. Formatting those lines is not what
    // this measures, and a program running a million runs a second would not log them.
    options.logger->set_level(spdlog::level::warn);
    return options;
}

void BM_dispatch_runs(benchmark::State& state) {
    const auto jobs = static_cast<std::size_t>(state.range(0));
    const bool history = state.range(1) != 0;
    bench_dir dir;
    std::atomic<chime::instant> now{chime::instant{std::chrono::seconds{1'800'000'000}}};
    chime::worker<manual_config> w(bench_options(dir), manual_clock_handle{&now});
    std::vector<json> definitions;
    definitions.reserve(jobs);
    json sinks = history ? json::array({{{"kind", "history"}, {"keep_last", 100}}}) : json::array();
    for (std::size_t i = 0; i < jobs; ++i) {
        definitions.push_back({{"name", "job-" + std::to_string(i)},
                               {"trigger", {{"kind", "interval"}, {"every", "PT1S"}}},
                               {"task", {{"kind", "noop"}}},
                               {"sinks", sinks}});
    }
    w.add_jobs(definitions);
    definitions.clear();
    std::uint64_t runs = 0;
    for (auto _ : state) {
        now.store(now.load() + std::chrono::seconds{1});
        w.turn();
        while (w.scheduler().running() > 0) {
            w.step(std::chrono::milliseconds{10});
        }
        runs += jobs;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(runs));
}
BENCHMARK(BM_dispatch_runs)
    ->Args({10'000, 0})
    ->Args({100'000, 0})
    ->Args({1'000'000, 0})
    ->Args({10'000, 1})
    ->Args({100'000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) {
        return 0;
    }
    auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

// Lateness of every run over the measured span, and of the runs after the
// first fire second ("steady_"), which is when the queue first moves its
// 100,000 new timers.
template <class Config>
void BM_dispatch_lateness(benchmark::State& state) {
    const auto jobs = static_cast<std::size_t>(state.range(0));
    bench_dir dir;
    auto options = bench_options(dir);
    options.threads = static_cast<std::size_t>(state.range(1)); // 0: chimed's default
    chime::worker<Config> w(options);
    // Adding 100,000 jobs takes about two seconds; the first fire time
    // comes after that, so no run is late because of the set-up.
    auto start = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) +
                 std::chrono::seconds{6};
    std::vector<json> definitions;
    definitions.reserve(jobs);
    for (std::size_t i = 0; i < jobs; ++i) {
        auto first = start + std::chrono::seconds{i % 100};
        definitions.push_back({{"name", "job-" + std::to_string(i)},
                               {"trigger", {{"kind", "interval"},
                                            {"every", "PT100S"},
                                            {"start", chime::format_utc(first)}}},
                               {"task", {{"kind", "lateness"}}},
                               {"sinks", json::array()}});
    }
    w.add_jobs(definitions);
    definitions.clear();
    definitions.shrink_to_fit();
    // The definitions freed here would otherwise be merged by glibc at the
    // first large allocation, inside the first fire second (as the worker
    // does for its own after loading).
    chime::detail::release_freed_memory();
    lateness_count = 0;
    if (std::chrono::system_clock::now() >= start) {
        state.SkipWithError("adding the jobs took longer than the lead time before the first run");
    }
    for (auto _ : state) {
        // Measured span: from the first fire second through 10 more.
        auto until = start + std::chrono::seconds{11};
        while (std::chrono::system_clock::now() < until) {
            w.step(std::chrono::milliseconds{100});
        }
    }
    auto n = std::min(lateness_count.load(), lateness_samples.size());
    std::vector<double> samples(lateness_samples.begin(),
                                lateness_samples.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<double> steady;
    auto first = std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch()).count();
    for (std::size_t i = 0; i < n; ++i) {
        if (lateness_seconds[i] != first) {
            steady.push_back(lateness_samples[i]);
        }
    }
    state.counters["runs"] = static_cast<double>(n);
    state.counters["p50_ms"] = percentile(samples, 0.50);
    state.counters["p99_ms"] = percentile(samples, 0.99);
    state.counters["max_ms"] = percentile(samples, 1.0);
    state.counters["steady_p99_ms"] = percentile(steady, 0.99);
    state.counters["steady_max_ms"] = percentile(steady, 1.0);
}
// The second argument is the pool size: 1 as in BM_dispatch_runs, and 0 for
// chimed's default (one per core, at least 4).
BENCHMARK(BM_dispatch_lateness<system_config>)
    ->Name("BM_dispatch_lateness/hierarchical_wheel")
    ->Args({100'000, 1})->Args({100'000, 0})
    ->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_dispatch_lateness<heap_config>)
    ->Name("BM_dispatch_lateness/quaternary_heap")
    ->Args({100'000, 1})
    ->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
