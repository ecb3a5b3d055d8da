// Store benchmarks on a real file in the temporary directory.
//
//   BM_store_persist_runs/JOBS/BATCH  runs written per second (begin + finish
//       of each run, as the worker does), retention keep_last 100 active on
//       histories filled to the limit (each run deletes the oldest one), one
//       transaction per batch, WAL, synchronous=NORMAL.
//   BM_store_record_runs/JOBS/BATCH   whole runs written in one insert each
//       (missed and skipped decisions, history sink).
//   BM_store_open/JOBS                 opening a store and reading every job.
//
// Goals: at least 100,000 runs per second persisted, and a store of
// 100,000 jobs opened in under one second.
#include <chime/sqlite/store.hpp>

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

struct bench_dir {
    fs::path path;
    bench_dir() {
        std::string pattern = (fs::temp_directory_path() / "chime-bench-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~bench_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

chime::job_record bench_job(std::size_t i) {
    chime::job_record r;
    r.name = "job-" + std::to_string(i);
    r.trigger = {{"kind", "cron"}, {"expression", "*/5 * * * *"}, {"zone", "Europe/Berlin"}};
    r.task = {{"kind", "shell"}, {"command", "/usr/local/bin/backup --quiet /srv/data"}};
    r.sinks = nlohmann::json::array({{{"kind", "history"}, {"keep_last", 100}}});
    return r;
}

std::vector<chime::store_job_id> add_jobs(chime::store& s, std::size_t n) {
    std::vector<chime::store_job_id> ids;
    ids.reserve(n);
    chime::store::transaction tx(s);
    for (std::size_t i = 0; i < n; ++i) {
        auto job = bench_job(i);
        ids.push_back(s.add_job(job));
    }
    tx.commit();
    return ids;
}

chime::report bench_report(std::int64_t second);

// Fills every job's history up to the limit, so that each new run makes
// retention delete one, as in a worker that has run for a while.
void fill_histories(chime::store& s, const std::vector<chime::store_job_id>& ids,
                    const chime::retention& keep) {
    chime::store::transaction tx(s);
    std::int64_t second = 1'600'000'000;
    for (auto id : ids) {
        for (std::uint32_t i = 0; i < keep.keep_last; ++i) {
            s.record_run(id, bench_report(++second), keep);
        }
    }
    tx.commit();
}

chime::report bench_report(std::int64_t second) {
    chime::report r;
    r.status = second % 17 == 0 ? chime::run_status::failed : chime::run_status::succeeded;
    r.scheduled = chime::instant{std::chrono::seconds{second}};
    r.started = chime::millisecond_instant{std::chrono::seconds{second}};
    r.finished = *r.started + std::chrono::milliseconds{250};
    r.exit_code = r.status == chime::run_status::failed ? 1 : 0;
    r.output = "backup: 1234 files, 56 MB copied\n";
    return r;
}

// Writes batches of runs, the jobs in turn, one transaction per batch, with
// retention keep_last 100 on histories already full. `write` records one run.
template <class Write>
void write_run_batches(benchmark::State& state, Write write) {
    const auto jobs = static_cast<std::size_t>(state.range(0));
    const auto batch = static_cast<std::size_t>(state.range(1));
    bench_dir dir;
    chime::store s(dir.path / "chime.db");
    auto ids = add_jobs(s, jobs);
    const auto keep = chime::retention::last(100);
    fill_histories(s, ids, keep);

    std::int64_t second = 1'700'000'000;
    std::size_t next = 0;
    for (auto _ : state) {
        chime::store::transaction tx(s);
        for (std::size_t i = 0; i < batch; ++i) {
            write(s, ids[next], bench_report(++second), keep);
            next = next + 1 == jobs ? 0 : next + 1;
        }
        tx.commit();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    state.counters["rows_kept"] = static_cast<double>(
        s.database().execAndGet("SELECT count(*) FROM runs").getInt64());
}

void BM_store_persist_runs(benchmark::State& state) {
    write_run_batches(state, [](chime::store& s, chime::store_job_id job, const chime::report& r,
                                const chime::retention& keep) {
        auto row = s.begin_run(job, r.scheduled, *r.started, "schedule", 0);
        s.finish_run(row, r, keep);
    });
}
BENCHMARK(BM_store_persist_runs)
    ->Args({1000, 1000})
    ->Args({1000, 100})
    ->Args({1000, 10000})
    ->Args({100, 1000})
    ->Args({10000, 1000})
    ->Unit(benchmark::kMillisecond);

void BM_store_record_runs(benchmark::State& state) {
    write_run_batches(state, [](chime::store& s, chime::store_job_id job, const chime::report& r,
                                const chime::retention& keep) { s.record_run(job, r, keep); });
}
BENCHMARK(BM_store_record_runs)->Args({1000, 1000})->Unit(benchmark::kMillisecond);

void BM_store_open(benchmark::State& state) {
    const auto jobs = static_cast<std::size_t>(state.range(0));
    bench_dir dir;
    auto path = dir.path / "chime.db";
    {
        chime::store s(path);
        add_jobs(s, jobs);
    }
    std::size_t read = 0;
    for (auto _ : state) {
        chime::store s(path);
        auto all = s.jobs();
        read = all.size();
        benchmark::DoNotOptimize(all.data());
    }
    if (read != jobs) {
        state.SkipWithError("the store did not return every job");
    }
    state.counters["jobs"] = static_cast<double>(read);
}
BENCHMARK(BM_store_open)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
