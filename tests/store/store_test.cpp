// The store against real SQLite files in a temporary directory: schema and
// pragmas, jobs, runs, retention, refusal of foreign and newer files, the
// single-writer lock across processes, crash recovery, and a writer killed
// with SIGKILL in the middle of its transactions.
#include <chime/sqlite/history_sink.hpp>
#include <chime/sqlite/store.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh directory per test, removed at the end.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "chime-store-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path operator/(const char* name) const { return path / name; }
};

chime::job_record make_job(std::string name) {
    chime::job_record r;
    r.name = std::move(name);
    r.trigger = {{"kind", "cron"}, {"expression", "*/5 * * * *"}};
    r.task = {{"kind", "shell"}, {"argv", {"true"}}};
    r.sinks = nlohmann::json::array({{{"kind", "history"}}});
    return r;
}

chime::report make_report(chime::run_status status, std::int64_t scheduled_s) {
    chime::report r;
    r.status = status;
    r.scheduled = chime::instant{std::chrono::seconds{scheduled_s}};
    r.started = chime::millisecond_instant{std::chrono::milliseconds{scheduled_s * 1000 + 5}};
    r.finished = chime::millisecond_instant{std::chrono::milliseconds{scheduled_s * 1000 + 900}};
    r.exit_code = status == chime::run_status::succeeded ? 0 : 1;
    r.output = "run at " + std::to_string(scheduled_s);
    return r;
}

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> statuses_of(chime::store& s, chime::store_job_id job) {
    std::vector<std::string> out;
    for (auto& r : s.history(job, 1000)) {
        out.emplace_back(r.status ? chime::to_string(*r.status) : "running");
    }
    return out;
}

} // namespace

TEST_CASE("A new store creates its file in WAL mode with foreign keys on", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto& db = s.database();
    CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
    CHECK(db.execAndGet("PRAGMA foreign_keys").getInt() == 1);
    CHECK(db.execAndGet("PRAGMA synchronous").getInt() == 1); // NORMAL
    CHECK(db.execAndGet("PRAGMA application_id").getInt() == chime::store_application_id);
    CHECK(db.execAndGet("SELECT max(version) FROM chime_schema").getInt() == 1);
    struct stat st {};
    REQUIRE(::stat((dir / "chime.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("Jobs are added, read, updated and removed by id and by name", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto job = make_job("backup");
    job.policy.overlap = chime::overlap_mode::queue_one;
    job.on_interrupted = chime::interrupted_rule::rerun;
    job.output_cap = 1234;
    auto id = s.add_job(job);
    CHECK(id > 0);

    auto read = s.job("backup");
    REQUIRE(read);
    CHECK(read->id == id);
    CHECK(read->trigger == job.trigger);
    CHECK(read->task == job.task);
    CHECK(read->sinks == job.sinks);
    CHECK(read->policy.overlap == chime::overlap_mode::queue_one);
    CHECK(read->on_interrupted == chime::interrupted_rule::rerun);
    CHECK(read->output_cap == 1234);
    CHECK_FALSE(read->paused);

    read->trigger["expression"] = "0 3 * * *";
    read->paused = true;
    CHECK(s.update_job(*read));
    CHECK(s.job(id)->trigger["expression"] == "0 3 * * *");
    CHECK(s.job(id)->paused);
    CHECK(s.set_paused(id, false));
    CHECK_FALSE(s.job(id)->paused);

    s.set_last_fire(id, chime::instant{100s});
    s.set_last_fire(id, chime::instant{50s}); // older: ignored
    CHECK(s.job(id)->last_fire == chime::instant{100s});

    CHECK(s.remove_job(id));
    CHECK_FALSE(s.job(id));
    CHECK_FALSE(s.remove_job(id));
    CHECK(s.job_count() == 0);
}

TEST_CASE("A duplicate or malformed job is refused and changes nothing", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto job = make_job("backup");
    s.add_job(job);

    auto twin = make_job("backup");
    CHECK_THROWS_WITH(s.add_job(twin), Catch::Contains("job \"backup\" already exists"));

    auto no_kind = make_job("other");
    no_kind.task = {{"argv", {"true"}}};
    CHECK_THROWS_WITH(s.add_job(no_kind), Catch::Contains("the task must be a JSON object with a \"kind\""));

    auto unnamed = make_job("");
    CHECK_THROWS_WITH(s.add_job(unnamed), Catch::Contains("the name is empty"));

    auto bad_policy = make_job("policy");
    bad_policy.policy.max_instances = 0;
    CHECK_THROWS_AS(s.add_job(bad_policy), chime::invalid_input);

    CHECK(s.job_count() == 1);
    CHECK(s.job("backup")->trigger == job.trigger);
}

TEST_CASE("Jobs and runs survive closing and reopening the store", "[store]") {
    temp_dir dir;
    chime::store_job_id id = 0;
    {
        chime::store s(dir / "chime.db");
        auto job = make_job("report");
        id = s.add_job(job);
        s.record_run(id, make_report(chime::run_status::failed, 1000), {});
    }
    chime::store s(dir / "chime.db");
    REQUIRE(s.job(id));
    auto runs = s.history(id, 10);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].status == chime::run_status::failed);
    CHECK(runs[0].output == "run at 1000");
    CHECK(runs[0].exit_code == 1);
    CHECK(runs[0].started->time_since_epoch() == 1'000'005ms);
    CHECK(s.recovered().empty());
}

TEST_CASE("History lists runs newest first and pages back by run id", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto job = make_job("j");
    auto id = s.add_job(job);
    for (int i = 0; i < 10; ++i) {
        s.record_run(id, make_report(chime::run_status::succeeded, 1000 + i), {});
    }
    auto first = s.history(id, 4);
    REQUIRE(first.size() == 4);
    CHECK(first[0].scheduled == chime::instant{1009s});
    CHECK(first[3].scheduled == chime::instant{1006s});
    auto next = s.history(id, 4, first.back().id);
    REQUIRE(next.size() == 4);
    CHECK(next[0].scheduled == chime::instant{1005s});
    CHECK(s.last_status(id) == chime::run_status::succeeded);
}

TEST_CASE("The newest run of every job is read at once", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    auto b = make_job("b");
    auto c = make_job("c");
    s.add_job(a);
    s.add_job(b);
    s.add_job(c);
    s.record_run(a.id, make_report(chime::run_status::failed, 1000), {});
    auto newest_a = s.record_run(a.id, make_report(chime::run_status::succeeded, 1001), {});
    s.record_run(b.id, make_report(chime::run_status::succeeded, 1000), {});
    auto running_b = s.begin_run(b.id, chime::instant{1100s}, chime::millisecond_instant{}, "run_now", 0);
    auto newest = s.last_runs();
    REQUIRE(newest.size() == 2);
    CHECK(newest.at(a.id).id == newest_a);
    CHECK(newest.at(a.id).status == chime::run_status::succeeded);
    CHECK(newest.at(b.id).id == running_b);
    CHECK_FALSE(newest.at(b.id).status);
    CHECK_FALSE(newest.contains(c.id));
    for (auto id : {a.id, b.id}) {
        CHECK(s.last_run(id)->id == newest.at(id).id);
    }
}

TEST_CASE("Missed fire times are one row with their range and count", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto job = make_job("j");
    auto id = s.add_job(job);
    chime::report missed;
    missed.status = chime::run_status::missed;
    missed.scheduled = chime::instant{1000s};
    missed.reason = "beyond the misfire grace time";
    s.record_run(id, missed, {}, chime::instant{4000s}, 60);
    auto run = s.last_run(id);
    REQUIRE(run);
    CHECK(run->status == chime::run_status::missed);
    CHECK(run->last_scheduled == chime::instant{4000s});
    CHECK(run->count == 60);
    CHECK(run->reason == "beyond the misfire grace time");
    // A missed run does not show whether the job works.
    CHECK_FALSE(s.last_status(id));
}

TEST_CASE("Retention keeps the newest N finished runs of each job", "[store][retention]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    auto b = make_job("b");
    s.add_job(a);
    s.add_job(b);
    auto keep = chime::retention::last(3);
    for (int i = 0; i < 10; ++i) {
        s.record_run(a.id, make_report(chime::run_status::succeeded, 1000 + i), keep);
        s.record_run(b.id, make_report(chime::run_status::succeeded, 1000 + i), {});
    }
    auto runs = s.history(a.id, 100);
    REQUIRE(runs.size() == 3);
    CHECK(runs[0].scheduled == chime::instant{1009s});
    CHECK(runs[2].scheduled == chime::instant{1007s});
    CHECK(s.run_count(b.id) == 10);
}

TEST_CASE("Retention of 0 keeps only the newest run", "[store][retention]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    s.add_job(a);
    for (int i = 0; i < 5; ++i) {
        s.record_run(a.id, make_report(chime::run_status::failed, 1000 + i), chime::retention::last(0));
    }
    auto runs = s.history(a.id, 100);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].scheduled == chime::instant{1004s});
}

TEST_CASE("Retention never removes a running run", "[store][retention]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    s.add_job(a);
    auto running = s.begin_run(a.id, chime::instant{500s}, chime::millisecond_instant{500'000ms},
                               "schedule", 0);
    for (int i = 0; i < 5; ++i) {
        s.record_run(a.id, make_report(chime::run_status::succeeded, 1000 + i), chime::retention::last(1));
    }
    auto runs = s.history(a.id, 100);
    REQUIRE(runs.size() == 2);
    CHECK(runs[1].id == running);
    CHECK_FALSE(runs[1].status);
}

TEST_CASE("Retention by age removes old runs but never the newest", "[store][retention]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    s.add_job(a);
    chime::retention keep;
    keep.max_age = std::chrono::hours{24};
    // Runs finished 3, 2 and 1 days ago; now is day 10.
    const std::int64_t day = 86400;
    for (int i = 7; i <= 9; ++i) {
        s.record_run(a.id, make_report(chime::run_status::succeeded, i * day), {});
    }
    auto now = chime::millisecond_instant{std::chrono::seconds{10 * day}};
    s.prune(a.id, keep, now);
    REQUIRE(s.run_count(a.id) == 1);
    CHECK(s.last_run(a.id)->scheduled == chime::instant{std::chrono::seconds{9 * day}});

    s.record_run(a.id, make_report(chime::run_status::succeeded, 9 * day + 100), {});
    s.prune(a.id, keep, now + std::chrono::hours{24 * 30});
    CHECK(s.run_count(a.id) == 1); // the newest stays, however old
}

TEST_CASE("Failed runs can be kept longer than successful ones", "[store][retention]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    s.add_job(a);
    chime::retention keep;
    keep.keep_last = 2;
    keep.keep_failed_last = 3;
    // f s f s f s f s s s (oldest first)
    const char* pattern = "fsfsfsfsss";
    for (int i = 0; pattern[i] != '\0'; ++i) {
        auto status = pattern[i] == 'f' ? chime::run_status::failed : chime::run_status::succeeded;
        s.record_run(a.id, make_report(status, 1000 + i), keep);
    }
    // The 2 newest runs (both successes) and the 3 newest failures remain.
    CHECK(statuses_of(s, a.id) ==
          std::vector<std::string>{"succeeded", "succeeded", "failed", "failed", "failed"});
    auto runs = s.history(a.id, 100);
    CHECK(runs[2].scheduled == chime::instant{1006s});
    CHECK(runs[4].scheduled == chime::instant{1002s});
}

TEST_CASE("Retention settings are read from JSON with named errors", "[store][retention]") {
    auto r = chime::retention::from_json(
        {{"keep_last", 7}, {"max_age", "P30D"}, {"keep_failed_last", 50}, {"failed_max_age", "P90D"}});
    CHECK(r.keep_last == 7);
    CHECK(r.max_age == std::chrono::hours{24 * 30});
    CHECK(r.keep_failed_last == 50u);
    CHECK(r.failed_max_age == std::chrono::hours{24 * 90});
    CHECK(chime::retention::from_json(r.to_json()).to_json() == r.to_json());
    CHECK(chime::retention::from_json(nlohmann::json::object()).keep_last == 100);

    CHECK_THROWS_WITH(chime::retention::from_json({{"keep_last", -1}}),
                      Catch::Contains("\"keep_last\" must be a whole number"));
    CHECK_THROWS_WITH(chime::retention::from_json({{"max_age", "soon"}}),
                      Catch::Contains("\"max_age\" must be a positive ISO 8601 duration"));
    CHECK_THROWS_WITH(chime::retention::from_json({{"keep", 3}}),
                      Catch::Contains("unknown key \"keep\""));
}

TEST_CASE("The history sink records reports with its retention", "[store][history_sink]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    s.add_job(a);
    auto sink = chime::history_sink::from_json({{"kind", "history"}, {"when", "always"}, {"keep_last", 2}});
    CHECK(sink.keep.keep_last == 2);
    CHECK_THROWS_WITH(sink.deliver(make_report(chime::run_status::succeeded, 1)),
                      Catch::Contains("before bind"));
    sink.bind(s, a.id);
    for (int i = 0; i < 4; ++i) {
        sink.deliver(make_report(chime::run_status::succeeded, 1000 + i));
    }
    CHECK(s.run_count(a.id) == 2);
}

TEST_CASE("Runs left running are recorded interrupted when the store opens", "[store][recovery]") {
    temp_dir dir;
    chime::store_job_id rerun_id = 0;
    chime::store_job_id skip_id = 0;
    {
        chime::store s(dir / "chime.db");
        auto a = make_job("rerun-me");
        a.on_interrupted = chime::interrupted_rule::rerun;
        auto b = make_job("skip-me");
        b.on_interrupted = chime::interrupted_rule::skip;
        rerun_id = s.add_job(a);
        skip_id = s.add_job(b);
        s.begin_run(rerun_id, chime::instant{100s}, chime::millisecond_instant{100'000ms}, "schedule", 0);
        s.begin_run(skip_id, chime::instant{200s}, chime::millisecond_instant{200'000ms}, "run_now", 2);
        auto done = s.begin_run(skip_id, chime::instant{50s}, chime::millisecond_instant{50'000ms}, "schedule", 0);
        s.finish_run(done, make_report(chime::run_status::succeeded, 50), {});
        // The store closes here without finishing two runs, as after a crash.
    }
    chime::store s(dir / "chime.db");
    const auto& found = s.recovered();
    REQUIRE(found.size() == 2);
    CHECK(found[0].job_name == "rerun-me");
    CHECK(found[0].rule == chime::interrupted_rule::rerun);
    CHECK(found[0].run.status == chime::run_status::interrupted);
    CHECK(found[0].run.scheduled == chime::instant{100s});
    CHECK(found[1].job_name == "skip-me");
    CHECK(found[1].rule == chime::interrupted_rule::skip);
    CHECK(found[1].run.attempt == 2);
    CHECK(found[1].run.reason == "run_now");
    // The finished run began last, so it is the newest row.
    CHECK(statuses_of(s, skip_id) == std::vector<std::string>{"succeeded", "interrupted"});
    CHECK(s.last_run(rerun_id)->error.find("worker stopped") != std::string::npos);
}

TEST_CASE("A file that is not SQLite is refused and left unchanged", "[store][refuse]") {
    temp_dir dir;
    auto path = dir / "notes.db";
    std::ofstream(path) << "these are my notes, not a database\n";
    auto before = read_bytes(path);
    CHECK_THROWS_WITH(chime::store(path), Catch::Contains(path.string()) &&
                                              Catch::Contains("not a chime database") &&
                                              Catch::Contains("left unchanged"));
    CHECK(read_bytes(path) == before);
    CHECK_FALSE(fs::exists(dir / "notes.db-wal"));
    CHECK_FALSE(fs::exists(dir / "notes.db.lock"));
}

TEST_CASE("Another application's SQLite database is refused and left unchanged", "[store][refuse]") {
    temp_dir dir;
    auto path = dir / "app.db";
    {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
        db.exec("INSERT INTO customers (name) VALUES ('Ada')");
    }
    auto before = read_bytes(path);
    CHECK_THROWS_WITH(chime::store(path), Catch::Contains("another application") &&
                                              Catch::Contains(path.string()));
    CHECK(read_bytes(path) == before);
}

TEST_CASE("A database of a newer schema version is refused and left unchanged", "[store][refuse]") {
    temp_dir dir;
    auto path = dir / "chime.db";
    {
        chime::store s(path);
        auto a = make_job("a");
        s.add_job(a);
        s.database().exec("INSERT INTO chime_schema (version, applied_at) VALUES (7, 0)");
    }
    auto before = read_bytes(path);
    CHECK_THROWS_WITH(chime::store(path), Catch::Contains("schema version 7") &&
                                              Catch::Contains("newer chime"));
    CHECK(read_bytes(path) == before);
}

TEST_CASE("A missing file is an error when creating is off", "[store][refuse]") {
    temp_dir dir;
    chime::store_options options;
    options.create = false;
    CHECK_THROWS_WITH(chime::store(dir / "none.db", options), Catch::Contains("does not exist"));
    CHECK_FALSE(fs::exists(dir / "none.db"));
}

TEST_CASE("A second store on the same file fails and names the holder's pid", "[store][lock]") {
    temp_dir dir;
    auto path = dir / "chime.db";
    chime::store first(path);
    CHECK_THROWS_WITH(chime::store(path),
                      Catch::Contains("in use by process " + std::to_string(::getpid())));
}

TEST_CASE("A link to a held database is the same database", "[store][lock]") {
    temp_dir dir;
    auto path = dir / "chime.db";
    chime::store first(path);
    fs::create_symlink(path, dir / "symbolic.db");
    fs::create_hard_link(path, dir / "hard.db");
    CHECK_THROWS_WITH(chime::store(dir / "symbolic.db"), Catch::Contains("in use by"));
    // Under another name SQLite finds no WAL beside the file and refuses it
    // before the lock is even tried; either way nothing is opened.
    CHECK_THROWS_AS(chime::store(dir / "hard.db"), chime::store_error);
    CHECK(first.job_count() == 0);
}

TEST_CASE("Lock file symlink is rejected",
          "[store][lock]") {
    temp_dir dir;
    auto victim = dir / "victim.txt";
    std::ofstream(victim) << "important data\n";
    fs::create_symlink(victim, dir / "chime.db.lock");
    CHECK_THROWS_WITH(chime::store(dir / "chime.db"), Catch::Contains("symbolic link"));
    CHECK(read_bytes(victim) == "important data\n");
}

TEST_CASE("Job ids are never reused after a removal", "[store]") {
    temp_dir dir;
    chime::store s(dir / "chime.db");
    auto a = make_job("a");
    auto first = s.add_job(a);
    s.remove_job(first);
    auto b = make_job("b");
    CHECK(s.add_job(b) > first);
}

TEST_CASE("The lock names another live process and frees when it dies", "[store][lock]") {
    temp_dir dir;
    auto path = dir / "chime.db";
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            chime::store s(path);
            char c = 'r';
            (void)::write(ready[1], &c, 1);
            ::pause(); // keeps the store open until killed
        } catch (...) {
        }
        ::_exit(1);
    }
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    CHECK_THROWS_WITH(chime::store(path), Catch::Contains("in use by process " + std::to_string(child)));

    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    chime::store after(path); // the kernel dropped the dead holder's lock
    CHECK(after.job_count() == 0);
}

TEST_CASE("A writer killed with SIGKILL leaves a sound file with every committed run",
          "[store][crash]") {
    temp_dir dir;
    auto path = dir / "chime.db";
    chime::store_job_id id = 0;
    {
        chime::store s(path);
        auto a = make_job("busy");
        id = s.add_job(a);
    }
    int progress[2];
    REQUIRE(::pipe(progress) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(progress[0]);
        try {
            chime::store s(path);
            auto keep = chime::retention::last(1'000'000);
            for (std::uint32_t batch = 1;; ++batch) {
                chime::store::transaction tx(s);
                for (int i = 0; i < 100; ++i) {
                    auto row = s.begin_run(id, chime::instant{std::chrono::seconds{batch}},
                                           chime::millisecond_instant{}, "schedule", 0);
                    s.finish_run(row, make_report(chime::run_status::succeeded, batch), keep);
                }
                tx.commit();
                // Told only after the commit returned: every batch reported is durable.
                (void)::write(progress[1], &batch, sizeof batch);
            }
        } catch (...) {
        }
        ::_exit(1);
    }
    ::close(progress[1]);
    std::uint32_t committed = 0;
    std::uint32_t batch = 0;
    while (committed < 50 && ::read(progress[0], &batch, sizeof batch) == sizeof batch) {
        committed = batch;
    }
    ::kill(child, SIGKILL); // mid-way through a later batch
    int status = 0;
    ::waitpid(child, &status, 0);
    while (::read(progress[0], &batch, sizeof batch) == sizeof batch) {
        committed = batch; // reports written before the kill
    }
    ::close(progress[0]);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(committed >= 50);

    chime::store s(path);
    CHECK(s.database().execAndGet("PRAGMA integrity_check").getString() == "ok");
    auto runs = s.run_count(id);
    CHECK(runs >= std::size_t{committed} * 100);
    // Only whole batches: a transaction is all or nothing.
    CHECK(runs % 100 == 0);
    CHECK(s.recovered().empty());
}
