// Cost of the engine with 10^4, 10^5 and 10^6 jobs: start decisions per
// second from due() and finished(), add() per second, and the heap bytes the
// engine keeps per job.
//
// The jobs are a fixed mix drawn from a seeded generator. 85 % are cron
// (daily, hourly, every few hours, every few minutes, weekdays, monthly),
// 12 % interval (2 min to 1 day) and 3 % calendar_interval. Their zones are
// UTC, Europe/Berlin and America/New_York. Every fire time falls on a whole
// minute, so each wake-up starts about 23 runs per 1,000 jobs.
#include <chime/default_triggers.hpp>
#include <chime/engine.hpp>
#include <chime/iso8601.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

// ---------------------------------------------------------------------------
// Heap accounting for BM_engine_memory. Every form of operator new and
// delete below goes through counted_alloc and counted_free. Counting is off
// outside that benchmark, so the other benchmarks pay one branch per call.

namespace {

// The benchmarks run on one thread. Relaxed loads and stores keep the
// counters free of data races without a locked instruction per call.
std::atomic<bool> counting{false};
std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> live_blocks{0};

void note_allocated(void* p) {
    if (counting.load(std::memory_order_relaxed)) {
        live_bytes.store(live_bytes.load(std::memory_order_relaxed) +
                             static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
        live_blocks.store(live_blocks.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    }
}

void note_freed(void* p) {
    if (p != nullptr && counting.load(std::memory_order_relaxed)) {
        live_bytes.store(live_bytes.load(std::memory_order_relaxed) -
                             static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
        live_blocks.store(live_blocks.load(std::memory_order_relaxed) - 1,
                          std::memory_order_relaxed);
    }
}

void* counted_alloc(std::size_t size, std::size_t alignment) {
    if (size == 0) {
        size = 1;
    }
    void* p = nullptr;
    if (alignment <= alignof(std::max_align_t)) {
        p = std::malloc(size);
    } else if (posix_memalign(&p, alignment, size) != 0) {
        p = nullptr;
    }
    if (p != nullptr) {
        note_allocated(p);
    }
    return p;
}

void* counted_alloc_or_throw(std::size_t size, std::size_t alignment) {
    void* p = counted_alloc(size, alignment);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void counted_free(void* p) noexcept {
    note_freed(p);
    std::free(p);
}

} // namespace

void* operator new(std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
    return counted_alloc_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return counted_alloc_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_alloc(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}

// ---------------------------------------------------------------------------

namespace {

using bench_engine = chime::engine<chime::default_triggers>;
using job_definition = bench_engine::job_definition;

// All jobs are added at this instant, a Monday.
const chime::instant origin = chime::parse_instant("2024-01-01T00:00:00Z");

// The job mix, drawn from one seeded stream: the first n jobs are the same
// whatever the largest size requested, so every size gets the same mix.
class job_mix {
public:
    const std::vector<job_definition>& first(std::size_t n) {
        while (jobs_.size() < n) {
            jobs_.push_back(next());
        }
        return jobs_;
    }

private:
    // Raw draws, not std::uniform_int_distribution, whose results differ
    // between standard libraries.
    std::uint64_t below(std::uint64_t n) { return rng_() % n; }

    const chime::zone& any_zone() {
        auto r = below(10);
        return r < 6 ? utc_ : (r < 8 ? berlin_ : new_york_);
    }

    chime::cron_trigger cron(const std::string& expression) {
        return chime::cron_trigger(expression, any_zone());
    }

    // 85 % cron, 12 % interval, 3 % calendar_interval.
    job_definition next() {
        auto kind = below(100);
        if (kind < 85) {
            return {cron_job(kind), {}};
        }
        if (kind < 97) {
            return {interval_job(), {}};
        }
        return {calendar_job(), {}};
    }

    // `kind` from 0 to 84 picks the shape: daily, hourly, every few hours,
    // every few minutes, weekdays or monthly.
    chime::cron_trigger cron_job(std::uint64_t kind) {
        auto minute = std::to_string(below(60));
        auto hour = std::to_string(below(24));
        if (kind < 35) {
            return cron(minute + " " + hour + " * * *");
        }
        if (kind < 50) {
            return cron(minute + " * * * *");
        }
        if (kind < 62) {
            static constexpr int hour_steps[] = {2, 3, 4, 6, 8, 12};
            auto step = hour_steps[below(6)];
            return cron(minute + " " + std::to_string(below(step)) + "-23/" + std::to_string(step) +
                        " * * *");
        }
        if (kind < 72) {
            static constexpr int minute_steps[] = {5, 10, 15, 20, 30};
            auto step = minute_steps[below(5)];
            return cron(std::to_string(below(step)) + "-59/" + std::to_string(step) + " * * * *");
        }
        if (kind < 80) {
            return cron(minute + " " + hour + " * * 1-5");
        }
        return cron(minute + " " + hour + " " + std::to_string(1 + below(28)) + " * *");
    }

    // Every 2 minutes to every day, anchored on a whole minute within one
    // period so that the jobs of one period do not all fire together.
    chime::interval_trigger interval_job() {
        static constexpr int periods[] = {120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400};
        auto period = periods[below(10)];
        chime::time_window window;
        window.start = origin - std::chrono::minutes{below(static_cast<std::uint64_t>(period) / 60)};
        return chime::interval_trigger(std::chrono::seconds{period}, window);
    }

    // Every 1 or 2 days, every week or every month, at a local time on a
    // whole minute.
    chime::calendar_interval_trigger calendar_job() {
        static constexpr const char* steps[] = {"P1D", "P2D", "P1W", "P1M"};
        auto step = chime::calendar_step::parse(steps[below(4)]);
        auto first = chime::local_seconds{date::local_days{date::year{2023} / 12 / 1}} +
                     std::chrono::days{below(28)} + std::chrono::hours{below(24)} +
                     std::chrono::minutes{below(60)};
        return chime::calendar_interval_trigger(step, first, any_zone());
    }

    std::mt19937_64 rng_{20240101};
    chime::zone utc_ = chime::zone::locate("UTC");
    chime::zone berlin_ = chime::zone::locate("Europe/Berlin");
    chime::zone new_york_ = chime::zone::locate("America/New_York");
    std::vector<job_definition> jobs_;
};

job_mix& mix() {
    static job_mix m;
    return m;
}

// Adds copies, so the definitions stay whole for the next engine.
void add_jobs(bench_engine& e, std::size_t n) {
    const auto& jobs = mix().first(n);
    for (std::size_t i = 0; i < n; ++i) {
        e.add(i + 1, jobs[i], origin);
    }
}

// One wake-up of a worker whose runs all succeed at once: move the clock to
// next_wakeup(), take what is due and finish each run it starts. Returns
// the number of runs started, or -1 when there is no next wake-up or a
// decision is not a start. This job mix causes neither.
std::int64_t wake_up(bench_engine& e, std::vector<chime::decision>& out) {
    auto wake = e.next_wakeup();
    if (!wake) {
        return -1;
    }
    out.clear();
    e.due(*wake, out);
    for (const auto& d : out) {
        if (d.kind != chime::decision_kind::start) {
            return -1;
        }
        e.finished(d.run, chime::run_status::succeeded, *wake);
    }
    return static_cast<std::int64_t>(out.size());
}

// One engine per size, built on the first run of BM_engine_due for that
// size and kept across its runs, so no timed loop pays for building it.
// Simulated time goes on from run to run.
struct due_state {
    std::size_t jobs = 0;
    std::unique_ptr<bench_engine> engine;
    std::vector<chime::decision> out;
};

due_state& due_state_for(std::size_t jobs) {
    static due_state s;
    if (s.jobs != jobs) {
        s.engine.reset();
        s.engine = std::make_unique<bench_engine>();
        add_jobs(*s.engine, jobs);
        s.jobs = jobs;
        // The queue's clock starts at 0, so the first wake-up moves every
        // timer that add() scheduled. Later wake-ups move only their own.
        wake_up(*s.engine, s.out);
    }
    return s;
}

void BM_engine_due(benchmark::State& state) {
    auto& s = due_state_for(static_cast<std::size_t>(state.range(0)));
    std::int64_t starts = 0;
    std::int64_t wakeups = 0;
    for (auto _ : state) {
        auto started = wake_up(*s.engine, s.out);
        if (started < 0) {
            state.SkipWithError("no next wake-up, or a decision other than start");
            break;
        }
        starts += started;
        ++wakeups;
    }
    state.SetItemsProcessed(starts);
    state.counters["starts_per_wakeup"] =
        benchmark::Counter(wakeups == 0 ? 0.0 : double(starts) / double(wakeups));
}

// Each iteration adds every job to a new engine. Copying the definitions
// and freeing the previous engine are not timed. One PauseTiming and
// ResumeTiming pair costs about 0.6 us here, against at least 1.5 ms per
// iteration.
void BM_engine_add(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto& jobs = mix().first(n);
    std::vector<job_definition> batch;
    std::unique_ptr<bench_engine> e;
    for (auto _ : state) {
        state.PauseTiming();
        e.reset();
        batch.assign(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(n));
        state.ResumeTiming();

        e = std::make_unique<bench_engine>();
        for (std::size_t i = 0; i < n; ++i) {
            e->add(i + 1, std::move(batch[i]), origin);
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

// The heap bytes an engine keeps for n jobs, divided by n, plus its own
// size divided by n. The definitions exist before counting starts, and the
// engine gets copies, so the count is the engine's own containers, its copies
// of the triggers and its timer queue. Bytes are malloc_usable_size, what
// each block can hold; glibc's 8-byte header per block is not counted.
// With a second argument of 1 the engine reserves room for n jobs first, as
// a worker does when it loads a known number of jobs from its store.
void BM_engine_memory(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const bool reserve = state.range(1) != 0;
    mix().first(n);
    double bytes_per_job = 0;
    double blocks_per_job = 0;
    for (auto _ : state) {
        std::optional<bench_engine> e;
        auto bytes_before = live_bytes.load();
        auto blocks_before = live_blocks.load();
        counting = true;
        e.emplace();
        if (reserve) {
            e->reserve(n);
        }
        add_jobs(*e, n);
        counting = false;
        auto bytes = live_bytes.load() - bytes_before;
        auto blocks = live_blocks.load() - blocks_before;
        bytes_per_job = (double(bytes) + double(sizeof(bench_engine))) / double(n);
        blocks_per_job = double(blocks) / double(n);

        // The engine is freed with counting on, so the counters return to
        // where they were and the next iteration starts from the same base.
        counting = true;
        e.reset();
        counting = false;
    }
    state.counters["bytes_per_job"] = bytes_per_job;
    state.counters["heap_blocks_per_job"] = blocks_per_job;
}

constexpr std::int64_t sizes[] = {10'000, 100'000, 1'000'000};

const bool registered = [] {
    for (auto n : sizes) {
        benchmark::RegisterBenchmark("BM_engine_due", BM_engine_due)
            ->Arg(n)
            ->Unit(benchmark::kMillisecond);
    }
    for (auto n : sizes) {
        benchmark::RegisterBenchmark("BM_engine_add", BM_engine_add)
            ->Arg(n)
            ->Unit(benchmark::kMillisecond);
    }
    for (auto n : sizes) {
        benchmark::RegisterBenchmark("BM_engine_memory", BM_engine_memory)
            ->Args({n, 0})
            ->Args({n, 1})
            ->ArgNames({"jobs", "reserve"})
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
    }
    return true;
}();

} // namespace

BENCHMARK_MAIN();
