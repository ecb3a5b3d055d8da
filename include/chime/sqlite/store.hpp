// The store: job definitions and run history in one SQLite file (SQLiteCpp),
// the worker's source of truth. It creates and migrates its schema, holds a
// single-writer lock, records crash leftovers as interrupted, and prunes each
// job's history by its retention rules.
//
//   chime::store s("chime.db");                   // creates, migrates, locks
//   auto id = s.add_job(record);                  // names are unique
//   auto row = s.begin_run(id, scheduled, now);   // status "running"
//   s.finish_run(row, report, keep);              // final status, then prune
//
// Thread safety: none. One thread owns a store (the worker loop). A second
// store on the same file, in this process or another, fails to open while the
// first one lives.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/report.hpp>
#include <chime/run_policy.hpp>
#include <chime/zone.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chime {

// A failure of the database underneath: I/O, a full disk, a file that is not
// a chime database, a lock held by another process. what() names the file.
// code() is SQLite's extended result code, or 0 when SQLite did not fail.
class store_error : public error {
public:
    store_error(const std::string& message, int code = 0) : error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

// The schema version this build writes. A file with a higher version was
// written by a newer chime and is refused without being changed.
inline constexpr int store_schema_version = 1;

// "chim" in ASCII: the PRAGMA application_id of every chime database, which
// distinguishes it from another application's SQLite file.
inline constexpr std::int32_t store_application_id = 0x6368696d;

// How many runs of a job the history keeps. A run is kept while it is among
// the newest `keep_last` runs and younger than `max_age`. A failed run is also
// kept while it is among the newest `keep_failed_last` failures and younger
// than `failed_max_age`, so failures can outlive successes. Pruning never
// removes a running run nor the newest run of a job, so keep_last = 0 keeps the
// newest run only: the last status stays known.
struct retention {
    std::uint32_t keep_last = 100;
    std::optional<std::chrono::seconds> max_age;
    std::optional<std::uint32_t> keep_failed_last;
    std::optional<std::chrono::seconds> failed_max_age;

    // The newest n runs, with no age limit.
    static retention last(std::uint32_t n) {
        retention r;
        r.keep_last = n;
        return r;
    }

    // True when only keep_last applies, which prunes by count alone.
    bool count_only() const noexcept {
        return !max_age && !keep_failed_last && !failed_max_age;
    }

    nlohmann::json to_json() const;
    // Reads {"keep_last": 100, "max_age": "P30D", "keep_failed_last": 500,
    // "failed_max_age": "P90D"}; every key is optional. Throws invalid_input.
    static retention from_json(const nlohmann::json& j);
};

// The action taken for a run still marked running at open (the worker crashed
// or was killed): run the job again now, skip it, or deliver the interrupted
// report to the job's sinks.
enum class interrupted_rule : std::uint8_t { rerun, skip, notify };

constexpr std::string_view to_string(interrupted_rule r) noexcept {
    switch (r) {
    case interrupted_rule::rerun:
        return "rerun";
    case interrupted_rule::skip:
        return "skip";
    case interrupted_rule::notify:
        return "notify";
    }
    return "unknown";
}

// Throws invalid_input naming the text and the accepted names.
interrupted_rule interrupted_rule_from_string(std::string_view text);

// The store's row id of a job; the engine uses the same number.
using store_job_id = std::int64_t;
using store_run_id = std::int64_t;

// A stored job. The trigger, task and sinks are JSON objects that carry their
// own "kind". The store keeps them as they are and leaves reading them to the
// worker's registries.
struct job_record {
    store_job_id id = 0;
    std::string name;
    nlohmann::json trigger = nlohmann::json::object();
    nlohmann::json task = nlohmann::json::object();
    nlohmann::json sinks = nlohmann::json::array();
    run_policy policy;
    interrupted_rule on_interrupted = interrupted_rule::notify;
    // The cap on the captured output of one run, in bytes.
    std::uint64_t output_cap = 64 * 1024;
    bool paused = false;
    millisecond_instant created{};
    millisecond_instant updated{};
    // The newest fire time the worker handled, for catch-up after downtime.
    std::optional<instant> last_fire;
};

// A stored run. status is empty while the run is going (the run is then a
// row of running_runs, not of runs).
struct run_record {
    store_run_id id = 0;
    store_job_id job = 0;
    std::optional<run_status> status;
    instant scheduled{};
    // For a range of missed or skipped fire times: the last one and how many.
    instant last_scheduled{};
    std::uint64_t count = 1;
    std::optional<millisecond_instant> started;
    std::optional<millisecond_instant> finished;
    std::optional<int> exit_code;
    std::string output;
    bool output_truncated = false;
    std::string error;
    std::string reason;
    unsigned attempt = 0;
};

// A run found still marked running when the store opened. It is now recorded
// interrupted; `rule` is its job's on_interrupted.
struct interrupted_run {
    run_record run;
    std::string job_name;
    interrupted_rule rule = interrupted_rule::notify;
};

struct store_options {
    // Create the file when it does not exist (mode 0600: outputs may hold
    // secrets). When false, a missing file is an error.
    bool create = true;
    // How long a statement waits for a reader's lock before failing.
    std::chrono::milliseconds busy_timeout{5000};
};

class store {
public:
    // Opens or creates the database at `path`, takes the single-writer lock,
    // migrates the schema, and records runs left running as interrupted (see
    // recovered()). Throws store_error naming the file when the file is not a
    // chime database, has a newer schema, or is held by another live process
    // (the message names its pid). The file is then left as it was.
    explicit store(std::filesystem::path path, store_options options = {});
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    int schema_version() const noexcept { return store_schema_version; }

    // The runs that were running when the store opened, now interrupted.
    const std::vector<interrupted_run>& recovered() const noexcept { return recovered_; }

    // A transaction around many writes: the worker wraps one loop turn in one,
    // which is what makes 100,000 runs per second possible. Writes outside a
    // transaction commit one by one. Not nestable.
    // Tag for a transaction that begins only with its first write, so that
    // a loop turn that writes nothing costs nothing.
    struct deferred_t {};
    static constexpr deferred_t deferred{};

    class transaction {
    public:
        explicit transaction(store& s);
        transaction(store& s, deferred_t);
        ~transaction(); // rolls back unless committed
        void commit();

    private:
        store* store_;
        bool done_ = false;
    };

    // Jobs. add_job() sets record.id, created and updated, and throws
    // invalid_input when the name is empty or taken.
    store_job_id add_job(job_record& record);
    // Replaces everything but id and created. Returns false for an unknown id.
    bool update_job(job_record& record);
    // Removes the job and its runs. Returns false for an unknown id.
    bool remove_job(store_job_id id);
    bool set_paused(store_job_id id, bool paused);
    void set_last_fire(store_job_id id, instant fire);
    std::optional<job_record> job(store_job_id id);
    std::optional<job_record> job(std::string_view name);
    // Every job, ordered by id.
    std::vector<job_record> jobs();
    std::size_t job_count();

    // Runs. begin_run() records a run as running and returns its row id;
    // finish_run() records how it ended and prunes its job's history by `keep`.
    store_run_id begin_run(store_job_id job, instant scheduled, millisecond_instant started,
                           std::string_view reason, unsigned attempt);
    void finish_run(store_run_id run, const report& r, const retention& keep);
    // Records a whole run at once: a missed or skipped range (count fire
    // times from r.scheduled to last_scheduled), or a report that never had a
    // running row. Returns the row id.
    store_run_id record_run(store_job_id job, const report& r, const retention& keep,
                            instant last_scheduled = {}, std::uint64_t count = 1);
    // Removes a run row, for jobs that keep no history of a run.
    void discard_run(store_run_id run);

    // The newest runs of a job first; `before` pages back from a run id.
    std::vector<run_record> history(store_job_id job, std::size_t limit,
                                     std::optional<store_run_id> before = std::nullopt);
    std::optional<run_record> last_run(store_job_id job);
    // The newest run of every job that has one, running or finished, in two
    // queries: what last_run() gives, for all jobs at once.
    std::unordered_map<store_job_id, run_record> last_runs();
    // The final status of the newest finished run, for on_state_change sinks.
    std::optional<run_status> last_status(store_job_id job);
    std::size_t run_count(store_job_id job);

    // Applies `keep` to one job now. Runs age even when no new run comes, so
    // the worker calls this for every job from time to time.
    void prune(store_job_id job, const retention& keep, millisecond_instant now);

    // The SQLite handle, for tests and tools.
    SQLite::Database& database() noexcept { return *db_; }

private:
    // The lock is an flock on the database file itself, so that a symbolic
    // or hard link to it is the same file. "<file>.lock" only records the
    // holder's pid for the error message of the next process that tries.
    struct lock_file {
        int database_fd = -1;
        int pid_fd = -1;
        std::filesystem::path pid_path;
        ~lock_file();
    };

    static void check_existing_file(const std::filesystem::path& path);
    void take_lock();
    void apply_pragmas(std::chrono::milliseconds busy_timeout);
    void migrate();
    void recover();
    void prepare();
    job_record read_job(SQLite::Statement& q);
    run_record read_run(SQLite::Statement& q);
    void prune_count(store_job_id job, std::uint32_t keep_last);
    void insert_run(store_run_id id, store_job_id job, const report& r, instant last_scheduled,
                    std::uint64_t count);
    [[noreturn]] void fail(const std::string& what, const std::exception& e) const;

    std::filesystem::path path_;
    lock_file lock_;
    std::unique_ptr<SQLite::Database> db_;
    std::vector<interrupted_run> recovered_;
    bool in_transaction_ = false;
    // A deferred transaction is open but BEGIN has not run yet.
    bool begin_pending_ = false;
    void begin_if_deferred();
    // The id of the next run, one sequence for running and finished runs.
    store_run_id next_run_id_ = 1;

    // Prepared once: the statements on the worker's hot path.
    std::unique_ptr<SQLite::Statement> begin_run_;
    std::unique_ptr<SQLite::Statement> finish_run_;
    std::unique_ptr<SQLite::Statement> record_run_;
    std::unique_ptr<SQLite::Statement> count_runs_;
    std::unique_ptr<SQLite::Statement> first_kept_;
    std::unique_ptr<SQLite::Statement> prune_oldest_;
    std::unique_ptr<SQLite::Statement> set_last_fire_;
    std::unique_ptr<SQLite::Statement> job_of_run_;

    // Finished runs per job as counted by this store, so that count-only
    // pruning deletes only when a job is over its limit (one query per run
    // would halve the write rate). Loaded lazily per job.
    std::unordered_map<store_job_id, std::uint64_t> finished_runs_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline std::int64_t to_millis(millisecond_instant t) { return t.time_since_epoch().count(); }
inline millisecond_instant from_millis(std::int64_t ms) {
    return millisecond_instant{std::chrono::milliseconds{ms}};
}
inline millisecond_instant store_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

[[noreturn]] inline void throw_retention_error(const std::string& what) {
    throw invalid_input("history retention: " + what);
}

inline std::uint32_t retention_count(const nlohmann::json& v, const char* key) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
        v.get<std::int64_t>() > 1'000'000'000) {
        throw_retention_error(std::string("\"") + key +
                              "\" must be a whole number from 0 to 1000000000, got " +
                              describe_json(v));
    }
    return static_cast<std::uint32_t>(v.get<std::uint64_t>());
}

inline std::chrono::seconds retention_age(const nlohmann::json& v, const char* key) {
    std::string text = v.is_string() ? v.get<std::string>() : std::string();
    std::optional<std::chrono::seconds> d;
    if (v.is_string()) {
        try {
            d = parse_elapsed_duration(text);
        } catch (const invalid_input&) {
        }
    }
    if (!d || *d <= std::chrono::seconds{0}) {
        throw_retention_error(std::string("\"") + key +
                              "\" must be a positive ISO 8601 duration such as \"P30D\", got " +
                              describe_json(v));
    }
    return *d;
}

} // namespace detail

inline nlohmann::json retention::to_json() const {
    nlohmann::json j = {{"keep_last", keep_last}};
    if (max_age) {
        j["max_age"] = format_duration(*max_age);
    }
    if (keep_failed_last) {
        j["keep_failed_last"] = *keep_failed_last;
    }
    if (failed_max_age) {
        j["failed_max_age"] = format_duration(*failed_max_age);
    }
    return j;
}

inline retention retention::from_json(const nlohmann::json& j) {
    if (!j.is_object()) {
        detail::throw_retention_error("expected a JSON object, got " + detail::describe_json(j));
    }
    retention r;
    for (const auto& item : j.items()) {
        const auto& key = item.key();
        if (key == "keep_last") {
            r.keep_last = detail::retention_count(item.value(), "keep_last");
        } else if (key == "max_age") {
            r.max_age = detail::retention_age(item.value(), "max_age");
        } else if (key == "keep_failed_last") {
            r.keep_failed_last = detail::retention_count(item.value(), "keep_failed_last");
        } else if (key == "failed_max_age") {
            r.failed_max_age = detail::retention_age(item.value(), "failed_max_age");
        } else {
            detail::throw_retention_error(
                "unknown key \"" + key +
                "\"; expected keep_last, max_age, keep_failed_last or failed_max_age");
        }
    }
    return r;
}

inline interrupted_rule interrupted_rule_from_string(std::string_view text) {
    for (auto r : {interrupted_rule::rerun, interrupted_rule::skip, interrupted_rule::notify}) {
        if (to_string(r) == text) {
            return r;
        }
    }
    throw invalid_input("on_interrupted: unknown value \"" + std::string(text) +
                        "\"; expected rerun, skip or notify");
}

inline store::lock_file::~lock_file() {
    if (pid_fd >= 0) {
        // The pid inside would mislead a reader once the lock is gone.
        if (::ftruncate(pid_fd, 0) != 0) {
            // Nothing to do: the lock goes with the database descriptor.
        }
        ::close(pid_fd);
    }
    // Closed only after SQLite closed the file: closing any descriptor of a
    // file drops the process's POSIX locks on it, which SQLite relies on.
    if (database_fd >= 0) {
        ::close(database_fd);
    }
}

inline void store::fail(const std::string& what, const std::exception& e) const {
    int code = 0;
    if (auto* s = dynamic_cast<const SQLite::Exception*>(&e)) {
        code = s->getExtendedErrorCode();
    }
    throw store_error("store " + path_.string() + ": " + what + ": " + e.what(), code);
}

// Reads an existing file without writing to it, and refuses anything that is
// not a chime database this build can use.
inline void store::check_existing_file(const std::filesystem::path& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec || size == 0) {
        return; // missing or empty: created below
    }
    const std::string name = path.string();
    {
        std::ifstream in(path, std::ios::binary);
        char header[16] = {};
        in.read(header, sizeof header);
        if (in.gcount() < 16 || std::memcmp(header, "SQLite format 3", 16) != 0) {
            throw store_error("store " + name +
                              ": the file is not a chime database (it is not an SQLite "
                              "database at all); it was left unchanged");
        }
    }
    std::int64_t app_id = 0;
    std::int64_t tables = 0;
    std::int64_t version = 0;
    try {
        SQLite::Database db(name, SQLite::OPEN_READONLY);
        app_id = db.execAndGet("PRAGMA application_id").getInt64();
        tables = db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type = 'table'").getInt64();
        if (app_id == store_application_id) {
            version = db.execAndGet("SELECT max(version) FROM chime_schema").getInt64();
        }
    } catch (const SQLite::Exception& e) {
        throw store_error("store " + name + ": cannot read the file as a chime database (" +
                              e.what() + "); it was left unchanged",
                          e.getExtendedErrorCode());
    }
    if (app_id != store_application_id && tables > 0) {
        throw store_error("store " + name + ": the file is an SQLite database of another "
                          "application (application_id " + std::to_string(app_id) + ", " +
                          std::to_string(tables) + " tables), not a chime database; it was left "
                          "unchanged");
    }
    if (version > store_schema_version) {
        throw store_error("store " + name + ": the file has schema version " +
                          std::to_string(version) + ", written by a newer chime; this build reads "
                          "up to version " + std::to_string(store_schema_version) +
                          "; it was left unchanged");
    }
}

// Locks the database file (flock, which the kernel drops when the holder
// dies, even by SIGKILL, so a stale lock never blocks a restart), then
// writes the pid into "<file>.lock" for the messages of later tries.
inline void store::take_lock() {
    lock_.pid_path = path_;
    lock_.pid_path += ".lock";
    int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        throw store_error("store " + path_.string() + ": cannot open the file: " +
                          std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw store_error("store " + path_.string() + ": not a regular file");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(fd);
        std::string holder;
        int pid_fd = ::open(lock_.pid_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (pid_fd >= 0) {
            char buffer[32] = {};
            auto n = ::pread(pid_fd, buffer, sizeof buffer - 1, 0);
            ::close(pid_fd);
            for (auto i = 0; i < n && buffer[i] >= '0' && buffer[i] <= '9'; ++i) {
                holder += buffer[i];
            }
        }
        if (err == EWOULDBLOCK) {
            throw store_error("store " + path_.string() + ": the database is in use by " +
                              (holder.empty() ? std::string("another process (its pid is not "
                                                            "known here: it may have opened the "
                                                            "file under another name)")
                                              : "process " + holder) +
                              "; stop that process or use another database file");
        }
        throw store_error("store " + path_.string() + ": cannot lock the file: " +
                          std::strerror(err));
    }
    lock_.database_fd = fd;
    // O_NOFOLLOW: a symbolic link planted as the lock file must not make us
    // write to (and later truncate) the file it points to.
    int pid_fd = ::open(lock_.pid_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (pid_fd < 0) {
        int err = errno;
        throw store_error("store " + path_.string() + ": cannot open the lock file " +
                          lock_.pid_path.string() + ": " +
                          (err == ELOOP ? std::string("it is a symbolic link; remove it")
                                        : std::string(std::strerror(err))));
    }
    if (::fstat(pid_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(pid_fd);
        throw store_error("store " + path_.string() + ": the lock file " +
                          lock_.pid_path.string() + " is not a regular file; remove it");
    }
    auto pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(pid_fd, 0) != 0 ||
        ::pwrite(pid_fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        int err = errno;
        ::close(pid_fd);
        throw store_error("store " + path_.string() + ": cannot write the lock file " +
                          lock_.pid_path.string() + ": " + std::strerror(err));
    }
    lock_.pid_fd = pid_fd;
}

inline store::store(std::filesystem::path path, store_options options) : path_(std::move(path)) {
    bool exists = std::filesystem::exists(path_);
    if (!exists && !options.create) {
        throw store_error("store " + path_.string() + ": the file does not exist");
    }
    check_existing_file(path_);
    if (!exists) {
        int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            throw store_error("store " + path_.string() + ": cannot create the file: " +
                              std::strerror(errno));
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }
    take_lock();
    // Checked again under the lock: another process may have changed the file
    // between the first check and the lock.
    check_existing_file(path_);
    try {
        db_ = std::make_unique<SQLite::Database>(path_.string(),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    } catch (const SQLite::Exception& e) {
        fail("cannot open", e);
    }
    apply_pragmas(options.busy_timeout);
    migrate();
    prepare();
    recover();
}

inline store::~store() {
    begin_run_.reset();
    finish_run_.reset();
    record_run_.reset();
    count_runs_.reset();
    first_kept_.reset();
    prune_oldest_.reset();
    set_last_fire_.reset();
    job_of_run_.reset();
    db_.reset();
}

inline void store::apply_pragmas(std::chrono::milliseconds busy_timeout) {
    try {
        db_->setBusyTimeout(static_cast<int>(busy_timeout.count()));
        // WAL lets readers (chimectl through the worker, sqlite3 by hand) read
        // while the worker writes; NORMAL syncs at checkpoints only, which in
        // WAL mode keeps every committed transaction after a process crash
        // (an OS crash may lose the last ones).
        auto mode = db_->execAndGet("PRAGMA journal_mode = WAL").getString();
        if (mode != "wal") {
            throw store_error("store " + path_.string() + ": cannot switch to WAL mode (got " +
                              mode + ")");
        }
        db_->exec("PRAGMA synchronous = NORMAL");
        db_->exec("PRAGMA foreign_keys = ON");
        // 64 MiB of page cache (the default is 2 MiB): with 10,000 jobs the
        // runs index is touched all over, and a small cache made writes 4x slower.
        db_->exec("PRAGMA cache_size = -65536");
    } catch (const SQLite::Exception& e) {
        fail("cannot set up the connection", e);
    }
}

// Forward migrations, one per version, each in its own transaction; a
// failure rolls back and leaves the file at the version it had.
inline void store::migrate() {
    try {
        int current = 0;
        if (db_->tableExists("chime_schema")) {
            current = db_->execAndGet("SELECT max(version) FROM chime_schema").getInt();
        }
        if (current > store_schema_version) {
            throw store_error("store " + path_.string() + ": the file has schema version " +
                              std::to_string(current) + ", written by a newer chime");
        }
        if (current < 1) {
            SQLite::Transaction tx(*db_);
            db_->exec("PRAGMA application_id = " + std::to_string(store_application_id));
            db_->exec(R"sql(
CREATE TABLE chime_schema (
    version INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    trigger_kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    task_kind TEXT NOT NULL,
    task TEXT NOT NULL,
    sinks TEXT NOT NULL DEFAULT '[]',
    policy TEXT NOT NULL DEFAULT '{}',
    on_interrupted TEXT NOT NULL DEFAULT 'notify'
        CHECK (on_interrupted IN ('rerun', 'skip', 'notify')),
    output_cap INTEGER NOT NULL CHECK (output_cap >= 0),
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_fire INTEGER
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'timed_out', 'missed',
                                           'skipped', 'interrupted')),
    scheduled INTEGER NOT NULL,
    last_scheduled INTEGER NOT NULL,
    fire_count INTEGER NOT NULL DEFAULT 1,
    started_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    output TEXT NOT NULL DEFAULT '',
    output_truncated INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_job ON runs (job_id, id);
CREATE TABLE running_runs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    scheduled INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX running_runs_by_job ON running_runs (job_id);
)sql");
            SQLite::Statement v(*db_, "INSERT INTO chime_schema (version, applied_at) VALUES (1, ?)");
            v.bind(1, detail::to_millis(detail::store_now()));
            v.exec();
            tx.commit();
        }
        // Version 2 and later: add `if (current < 2) { ... }` blocks here.
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& e) {
        fail("cannot create or migrate the schema", e);
    }
}

inline void store::prepare() {
    try {
        begin_run_ = std::make_unique<SQLite::Statement>(
            *db_, "INSERT INTO running_runs (id, job_id, scheduled, started_at, reason, attempt) "
                  "VALUES (?, ?, ?, ?, ?, ?)");
        finish_run_ = std::make_unique<SQLite::Statement>(
            *db_, "DELETE FROM running_runs WHERE id = ? "
                  "RETURNING job_id, scheduled, started_at, reason, attempt");
        record_run_ = std::make_unique<SQLite::Statement>(
            *db_, "INSERT INTO runs (id, job_id, status, scheduled, last_scheduled, fire_count, "
                  "started_at, finished_at, exit_code, output, output_truncated, error, reason, "
                  "attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        count_runs_ = std::make_unique<SQLite::Statement>(
            *db_, "SELECT count(*) FROM runs WHERE job_id = ?");
        // Count-only pruning in two steps, both walks of runs_by_job: the id
        // of the oldest run to keep, then a range delete below it.
        first_kept_ = std::make_unique<SQLite::Statement>(
            *db_, "SELECT id FROM runs WHERE job_id = ? ORDER BY id LIMIT 1 OFFSET ?");
        prune_oldest_ = std::make_unique<SQLite::Statement>(
            *db_, "DELETE FROM runs WHERE job_id = ? AND id < ?");
        set_last_fire_ = std::make_unique<SQLite::Statement>(
            *db_, "UPDATE jobs SET last_fire = ? WHERE id = ? AND (last_fire IS NULL OR last_fire < ?)");
        job_of_run_ = std::make_unique<SQLite::Statement>(*db_, "SELECT job_id FROM runs WHERE id = ?");
    } catch (const SQLite::Exception& e) {
        fail("cannot prepare statements", e);
    }
}

// Moves every run left in running_runs into the history as interrupted.
inline void store::recover() {
    try {
        next_run_id_ = 1 + db_->execAndGet("SELECT max(coalesce((SELECT max(id) FROM runs), 0), "
                                           "coalesce((SELECT max(id) FROM running_runs), 0))")
                               .getInt64();
        auto now = detail::store_now();
        SQLite::Transaction tx(*db_);
        SQLite::Statement move(
            *db_,
            "INSERT INTO runs (id, job_id, status, scheduled, last_scheduled, started_at, "
            "finished_at, error, reason, attempt) SELECT id, job_id, 'interrupted', scheduled, "
            "scheduled, started_at, ?, 'the worker stopped while the run was going; found when "
            "the store opened', reason, attempt FROM running_runs ORDER BY id RETURNING id");
        move.bind(1, detail::to_millis(now));
        std::vector<store_run_id> ids;
        while (move.executeStep()) {
            ids.push_back(move.getColumn(0).getInt64());
        }
        db_->exec("DELETE FROM running_runs");
        std::sort(ids.begin(), ids.end());
        SQLite::Statement read(*db_,
                               "SELECT r.id, r.job_id, r.status, r.scheduled, r.last_scheduled, "
                               "r.fire_count, r.started_at, r.finished_at, r.exit_code, r.output, "
                               "r.output_truncated, r.error, r.reason, r.attempt, j.name, "
                               "j.on_interrupted FROM runs r JOIN jobs j ON j.id = r.job_id "
                               "WHERE r.id = ?");
        for (auto id : ids) {
            read.bind(1, id);
            if (read.executeStep()) {
                interrupted_run found;
                found.run = read_run(read);
                found.job_name = read.getColumn(14).getString();
                found.rule = interrupted_rule_from_string(read.getColumn(15).getString());
                recovered_.push_back(std::move(found));
            }
            read.reset();
        }
        tx.commit();
    } catch (const SQLite::Exception& e) {
        fail("cannot record interrupted runs", e);
    }
}

inline store::transaction::transaction(store& s) : store_(&s) {
    if (s.in_transaction_) {
        throw error("store " + s.path_.string() + ": a transaction is already open");
    }
    try {
        s.db_->exec("BEGIN IMMEDIATE");
    } catch (const SQLite::Exception& e) {
        s.fail("cannot begin a transaction", e);
    }
    s.in_transaction_ = true;
}

inline store::transaction::transaction(store& s, deferred_t) : store_(&s) {
    if (s.in_transaction_) {
        throw error("store " + s.path_.string() + ": a transaction is already open");
    }
    s.in_transaction_ = true;
    s.begin_pending_ = true;
}

inline void store::begin_if_deferred() {
    if (begin_pending_) {
        begin_pending_ = false;
        try {
            db_->exec("BEGIN IMMEDIATE");
        } catch (const SQLite::Exception& e) {
            fail("cannot begin a transaction", e);
        }
    }
}

inline store::transaction::~transaction() {
    if (!done_ && store_->begin_pending_) {
        store_->begin_pending_ = false;
        store_->in_transaction_ = false;
        return;
    }
    if (!done_) {
        try {
            store_->db_->exec("ROLLBACK");
        } catch (...) {
            // The connection rolls back by itself when the statement failed.
        }
        store_->in_transaction_ = false;
        // Counts cached during a rolled-back transaction may be wrong.
        store_->finished_runs_.clear();
    }
}

inline void store::transaction::commit() {
    if (store_->begin_pending_) { // nothing was written
        store_->begin_pending_ = false;
        done_ = true;
        store_->in_transaction_ = false;
        return;
    }
    try {
        store_->db_->exec("COMMIT");
    } catch (const SQLite::Exception& e) {
        store_->fail("cannot commit", e);
    }
    done_ = true;
    store_->in_transaction_ = false;
}

namespace detail {

inline void check_job_json(const job_record& r) {
    if (r.name.empty()) {
        throw invalid_input("job: the name is empty");
    }
    auto kind_of = [&](const nlohmann::json& j, const char* what) {
        if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
            throw invalid_input("job \"" + r.name + "\": the " + what +
                                " must be a JSON object with a \"kind\" string, got " +
                                describe_json(j));
        }
    };
    kind_of(r.trigger, "trigger");
    kind_of(r.task, "task");
    if (!r.sinks.is_array()) {
        throw invalid_input("job \"" + r.name + "\": \"sinks\" must be an array, got " +
                            describe_json(r.sinks));
    }
    for (const auto& s : r.sinks) {
        kind_of(s, "sink");
    }
}

// The policy's settings that differ from the defaults: most jobs store "{}",
// which reads back several times faster when 100,000 jobs load at start.
inline nlohmann::json policy_without_defaults(const run_policy& p) {
    static const nlohmann::json defaults = run_policy{}.to_json();
    nlohmann::json out = nlohmann::json::object();
    const auto full = p.to_json();
    for (const auto& item : full.items()) {
        if (!defaults.contains(item.key()) || defaults[item.key()] != item.value()) {
            out[item.key()] = item.value();
        }
    }
    return out;
}

inline void bind_job(SQLite::Statement& q, const job_record& r) {
    q.bind(":name", r.name);
    q.bind(":trigger_kind", r.trigger["kind"].get<std::string>());
    q.bind(":trigger", r.trigger.dump());
    q.bind(":task_kind", r.task["kind"].get<std::string>());
    q.bind(":task", r.task.dump());
    q.bind(":sinks", r.sinks.dump());
    q.bind(":policy", policy_without_defaults(r.policy).dump());
    q.bind(":on_interrupted", std::string(to_string(r.on_interrupted)));
    q.bind(":output_cap", static_cast<std::int64_t>(r.output_cap));
    q.bind(":paused", r.paused ? 1 : 0);
    q.bind(":updated", to_millis(r.updated));
    if (r.last_fire) {
        q.bind(":last_fire", static_cast<std::int64_t>(r.last_fire->time_since_epoch().count()));
    } else {
        q.bind(":last_fire");
    }
}

inline bool is_unique_violation(const SQLite::Exception& e) {
    return e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE;
}

} // namespace detail

inline store_job_id store::add_job(job_record& record) {
    begin_if_deferred();
    detail::check_job_json(record);
    record.policy.validate();
    record.created = record.updated = detail::store_now();
    try {
        SQLite::Statement q(*db_,
                            "INSERT INTO jobs (name, trigger_kind, trigger, task_kind, task, sinks, "
                            "policy, on_interrupted, output_cap, paused, created_at, updated_at, "
                            "last_fire) VALUES (:name, :trigger_kind, :trigger, :task_kind, :task, "
                            ":sinks, :policy, :on_interrupted, :output_cap, :paused, :updated, "
                            ":updated, :last_fire)");
        detail::bind_job(q, record);
        q.exec();
        record.id = db_->getLastInsertRowid();
        finished_runs_[record.id] = 0;
        return record.id;
    } catch (const SQLite::Exception& e) {
        if (detail::is_unique_violation(e)) {
            throw invalid_input("job \"" + record.name + "\" already exists; choose another name "
                                "or edit that job");
        }
        fail("cannot add job \"" + record.name + "\"", e);
    }
}

inline bool store::update_job(job_record& record) {
    begin_if_deferred();
    detail::check_job_json(record);
    record.policy.validate();
    record.updated = detail::store_now();
    try {
        SQLite::Statement q(*db_,
                            "UPDATE jobs SET name = :name, trigger_kind = :trigger_kind, trigger = "
                            ":trigger, task_kind = :task_kind, task = :task, sinks = :sinks, "
                            "policy = :policy, on_interrupted = :on_interrupted, output_cap = "
                            ":output_cap, paused = :paused, updated_at = :updated, last_fire = "
                            ":last_fire WHERE id = :id");
        detail::bind_job(q, record);
        q.bind(":id", record.id);
        return q.exec() == 1;
    } catch (const SQLite::Exception& e) {
        if (detail::is_unique_violation(e)) {
            throw invalid_input("job \"" + record.name + "\" already exists; choose another name");
        }
        fail("cannot update job \"" + record.name + "\"", e);
    }
}

inline bool store::remove_job(store_job_id id) {
    begin_if_deferred();
    try {
        SQLite::Statement q(*db_, "DELETE FROM jobs WHERE id = ?");
        q.bind(1, id);
        finished_runs_.erase(id);
        return q.exec() == 1;
    } catch (const SQLite::Exception& e) {
        fail("cannot remove job " + std::to_string(id), e);
    }
}

inline bool store::set_paused(store_job_id id, bool paused) {
    begin_if_deferred();
    try {
        SQLite::Statement q(*db_, "UPDATE jobs SET paused = ?, updated_at = ? WHERE id = ?");
        q.bind(1, paused ? 1 : 0);
        q.bind(2, detail::to_millis(detail::store_now()));
        q.bind(3, id);
        return q.exec() == 1;
    } catch (const SQLite::Exception& e) {
        fail("cannot pause or resume job " + std::to_string(id), e);
    }
}

inline void store::set_last_fire(store_job_id id, instant fire) {
    begin_if_deferred();
    try {
        auto s = static_cast<std::int64_t>(fire.time_since_epoch().count());
        set_last_fire_->bind(1, s);
        set_last_fire_->bind(2, id);
        set_last_fire_->bind(3, s);
        set_last_fire_->exec();
        set_last_fire_->reset();
    } catch (const SQLite::Exception& e) {
        set_last_fire_->reset();
        fail("cannot record the last fire time of job " + std::to_string(id), e);
    }
}

inline job_record store::read_job(SQLite::Statement& q) {
    job_record r;
    r.id = q.getColumn(0).getInt64();
    r.name = q.getColumn(1).getString();
    try {
        r.trigger = nlohmann::json::parse(q.getColumn(2).getString());
        r.task = nlohmann::json::parse(q.getColumn(3).getString());
        r.sinks = nlohmann::json::parse(q.getColumn(4).getString());
        r.policy = run_policy::from_json(nlohmann::json::parse(q.getColumn(5).getString()));
        r.on_interrupted = interrupted_rule_from_string(q.getColumn(6).getString());
    } catch (const std::exception& e) {
        throw store_error("store " + path_.string() + ": job \"" + r.name +
                          "\" has a damaged definition: " + e.what());
    }
    r.output_cap = static_cast<std::uint64_t>(q.getColumn(7).getInt64());
    r.paused = q.getColumn(8).getInt() != 0;
    r.created = detail::from_millis(q.getColumn(9).getInt64());
    r.updated = detail::from_millis(q.getColumn(10).getInt64());
    if (!q.getColumn(11).isNull()) {
        r.last_fire = instant{std::chrono::seconds{q.getColumn(11).getInt64()}};
    }
    return r;
}

#define CHIME_STORE_JOB_COLUMNS                                                                    \
    "id, name, trigger, task, sinks, policy, on_interrupted, output_cap, paused, created_at, "     \
    "updated_at, last_fire"

inline std::optional<job_record> store::job(store_job_id id) {
    try {
        SQLite::Statement q(*db_, "SELECT " CHIME_STORE_JOB_COLUMNS " FROM jobs WHERE id = ?");
        q.bind(1, id);
        if (q.executeStep()) {
            return read_job(q);
        }
        return std::nullopt;
    } catch (const SQLite::Exception& e) {
        fail("cannot read job " + std::to_string(id), e);
    }
}

inline std::optional<job_record> store::job(std::string_view name) {
    try {
        SQLite::Statement q(*db_, "SELECT " CHIME_STORE_JOB_COLUMNS " FROM jobs WHERE name = ?");
        q.bind(1, std::string(name));
        if (q.executeStep()) {
            return read_job(q);
        }
        return std::nullopt;
    } catch (const SQLite::Exception& e) {
        fail("cannot read job \"" + std::string(name) + "\"", e);
    }
}

inline std::vector<job_record> store::jobs() {
    try {
        std::vector<job_record> all;
        all.reserve(job_count());
        SQLite::Statement q(*db_, "SELECT " CHIME_STORE_JOB_COLUMNS " FROM jobs ORDER BY id");
        while (q.executeStep()) {
            all.push_back(read_job(q));
        }
        return all;
    } catch (const SQLite::Exception& e) {
        fail("cannot read the jobs", e);
    }
}

#undef CHIME_STORE_JOB_COLUMNS

inline std::size_t store::job_count() {
    try {
        return static_cast<std::size_t>(db_->execAndGet("SELECT count(*) FROM jobs").getInt64());
    } catch (const SQLite::Exception& e) {
        fail("cannot count the jobs", e);
    }
}

inline store_run_id store::begin_run(store_job_id job, instant scheduled,
                                     millisecond_instant started, std::string_view reason,
                                     unsigned attempt) {
    begin_if_deferred();
    auto& q = *begin_run_;
    auto id = next_run_id_;
    try {
        q.bind(1, id);
        q.bind(2, job);
        q.bind(3, static_cast<std::int64_t>(scheduled.time_since_epoch().count()));
        q.bind(4, detail::to_millis(started));
        q.bind(5, std::string(reason));
        q.bind(6, static_cast<std::int64_t>(attempt));
        q.exec();
        q.reset();
    } catch (const SQLite::Exception& e) {
        q.reset();
        fail("cannot record the start of a run of job " + std::to_string(job), e);
    }
    ++next_run_id_;
    return id;
}

namespace detail {

inline void bind_optional_millis(SQLite::Statement& q, int index,
                                 const std::optional<millisecond_instant>& t) {
    if (t) {
        q.bind(index, to_millis(*t));
    } else {
        q.bind(index);
    }
}

} // namespace detail

// Writes one finished row. Run ids come from next_run_id_, shared by both
// tables, so a run keeps its id from start to history.
inline void store::insert_run(store_run_id id, store_job_id job, const report& r,
                              instant last_scheduled, std::uint64_t count) {
    begin_if_deferred();
    auto& q = *record_run_;
    try {
        auto status = to_string(r.status);
        auto s = static_cast<std::int64_t>(r.scheduled.time_since_epoch().count());
        auto last = last_scheduled < r.scheduled
                        ? s
                        : static_cast<std::int64_t>(last_scheduled.time_since_epoch().count());
        q.bind(1, id);
        q.bind(2, job);
        q.bindNoCopy(3, status.data()); // a string literal
        q.bind(4, s);
        q.bind(5, last);
        q.bind(6, static_cast<std::int64_t>(count));
        detail::bind_optional_millis(q, 7, r.started);
        detail::bind_optional_millis(q, 8, r.finished ? r.finished : detail::store_now());
        if (r.exit_code) {
            q.bind(9, *r.exit_code);
        } else {
            q.bind(9);
        }
        q.bindNoCopy(10, r.output);
        q.bind(11, r.output_truncated ? 1 : 0);
        q.bindNoCopy(12, r.error);
        q.bindNoCopy(13, r.reason);
        q.bind(14, static_cast<std::int64_t>(r.attempt));
        q.exec();
        q.reset();
    } catch (const SQLite::Exception& e) {
        q.reset();
        fail("cannot record a run of job " + std::to_string(job), e);
    }
    if (auto it = finished_runs_.find(job); it != finished_runs_.end()) {
        ++it->second;
    }
}

inline void store::finish_run(store_run_id run, const report& r, const retention& keep) {
    begin_if_deferred();
    auto& q = *finish_run_;
    report full = r;
    store_job_id job = 0;
    try {
        q.bind(1, run);
        if (!q.executeStep()) {
            q.reset();
            throw store_error("store " + path_.string() + ": run " + std::to_string(run) +
                              " is not running");
        }
        // What begin_run() recorded fills what the report leaves out.
        job = q.getColumn(0).getInt64();
        full.scheduled = instant{std::chrono::seconds{q.getColumn(1).getInt64()}};
        if (!full.started) {
            full.started = detail::from_millis(q.getColumn(2).getInt64());
        }
        if (full.reason.empty()) {
            full.reason = q.getColumn(3).getString();
        }
        full.attempt = static_cast<unsigned>(q.getColumn(4).getInt64());
        q.reset();
    } catch (const SQLite::Exception& e) {
        q.reset();
        fail("cannot record the end of run " + std::to_string(run), e);
    }
    insert_run(run, job, full, full.scheduled, 1);
    prune(job, keep, detail::store_now());
}

inline store_run_id store::record_run(store_job_id job, const report& r, const retention& keep,
                                      instant last_scheduled, std::uint64_t count) {
    auto id = next_run_id_++;
    insert_run(id, job, r, last_scheduled, count);
    prune(job, keep, detail::store_now());
    return id;
}

inline void store::discard_run(store_run_id run) {
    begin_if_deferred();
    try {
        SQLite::Statement q(*db_, "DELETE FROM running_runs WHERE id = ?");
        q.bind(1, run);
        q.exec();
        SQLite::Statement r(*db_, "DELETE FROM runs WHERE id = ?");
        r.bind(1, run);
        r.exec();
        finished_runs_.clear();
    } catch (const SQLite::Exception& e) {
        fail("cannot remove run " + std::to_string(run), e);
    }
}

inline void store::prune_count(store_job_id job, std::uint32_t keep_last) {
    auto it = finished_runs_.find(job);
    if (it == finished_runs_.end()) {
        count_runs_->bind(1, job);
        count_runs_->executeStep();
        auto n = static_cast<std::uint64_t>(count_runs_->getColumn(0).getInt64());
        count_runs_->reset();
        it = finished_runs_.emplace(job, n).first;
    }
    // keep_last = 0 still keeps the newest run, which the statement spares.
    std::uint64_t limit = std::max<std::uint64_t>(keep_last, 1);
    if (it->second <= limit) {
        return;
    }
    // Skipping `excess` runs from the oldest lands on the oldest one kept;
    // since limit >= 1 it exists and the newest run is never below it.
    const auto excess = it->second - limit;
    first_kept_->bind(1, job);
    first_kept_->bind(2, static_cast<std::int64_t>(excess));
    bool found = first_kept_->executeStep();
    auto kept = found ? first_kept_->getColumn(0).getInt64() : 0;
    first_kept_->reset();
    if (found) {
        prune_oldest_->bind(1, job);
        prune_oldest_->bind(2, kept);
        prune_oldest_->exec();
        prune_oldest_->reset();
    }
    it->second = limit;
}

inline void store::prune(store_job_id job, const retention& keep, millisecond_instant now) {
    begin_if_deferred();
    try {
        if (keep.count_only()) {
            prune_count(job, keep.keep_last);
            return;
        }
        // The general rule in one statement: a finished run goes unless it is
        // the newest run, or kept as one of the newest (and young enough), or
        // kept as one of the newest failures (and young enough).
        auto cutoff = [&](const std::optional<std::chrono::seconds>& age) -> std::int64_t {
            if (!age) {
                return std::numeric_limits<std::int64_t>::min();
            }
            return detail::to_millis(now - std::chrono::duration_cast<std::chrono::milliseconds>(*age));
        };
        SQLite::Statement q(
            *db_,
            "DELETE FROM runs WHERE job_id = ?1 "
            "AND id < (SELECT max(id) FROM runs WHERE job_id = ?1) "
            "AND id NOT IN (SELECT id FROM runs WHERE job_id = ?1 "
            "  AND coalesce(finished_at, started_at, scheduled * 1000) >= ?3 "
            "  ORDER BY id DESC LIMIT ?2) "
            "AND id NOT IN (SELECT id FROM runs WHERE job_id = ?1 "
            "  AND status IN ('failed', 'timed_out', 'interrupted') "
            "  AND coalesce(finished_at, started_at, scheduled * 1000) >= ?5 "
            "  ORDER BY id DESC LIMIT ?4)");
        q.bind(1, job);
        q.bind(2, static_cast<std::int64_t>(keep.keep_last));
        q.bind(3, cutoff(keep.max_age));
        // LIMIT -1 is no limit: failures kept by age alone when only
        // failed_max_age is set.
        std::int64_t failed_limit = keep.keep_failed_last ? *keep.keep_failed_last
                                    : keep.failed_max_age ? -1
                                                          : 0;
        q.bind(4, failed_limit);
        q.bind(5, cutoff(keep.failed_max_age ? keep.failed_max_age : keep.max_age));
        q.exec();
        finished_runs_.erase(job);
    } catch (const SQLite::Exception& e) {
        fail("cannot prune the history of job " + std::to_string(job), e);
    }
}

inline run_record store::read_run(SQLite::Statement& q) {
    run_record r;
    r.id = q.getColumn(0).getInt64();
    r.job = q.getColumn(1).getInt64();
    if (!q.getColumn(2).isNull()) {
        r.status = run_status_from_string(q.getColumn(2).getString());
    }
    r.scheduled = instant{std::chrono::seconds{q.getColumn(3).getInt64()}};
    r.last_scheduled = instant{std::chrono::seconds{q.getColumn(4).getInt64()}};
    r.count = static_cast<std::uint64_t>(q.getColumn(5).getInt64());
    if (!q.getColumn(6).isNull()) {
        r.started = detail::from_millis(q.getColumn(6).getInt64());
    }
    if (!q.getColumn(7).isNull()) {
        r.finished = detail::from_millis(q.getColumn(7).getInt64());
    }
    if (!q.getColumn(8).isNull()) {
        r.exit_code = q.getColumn(8).getInt();
    }
    r.output = q.getColumn(9).getString();
    r.output_truncated = q.getColumn(10).getInt() != 0;
    r.error = q.getColumn(11).getString();
    r.reason = q.getColumn(12).getString();
    r.attempt = static_cast<unsigned>(q.getColumn(13).getInt64());
    return r;
}

#define CHIME_STORE_RUN_COLUMNS                                                                    \
    "id, job_id, status, scheduled, last_scheduled, fire_count, started_at, finished_at, "         \
    "exit_code, output, output_truncated, error, reason, attempt"

inline std::vector<run_record> store::history(store_job_id job, std::size_t limit,
                                              std::optional<store_run_id> before) {
    try {
        // Running runs come from their own table, with no status yet.
        SQLite::Statement q(
            *db_, "SELECT * FROM (SELECT " CHIME_STORE_RUN_COLUMNS " FROM runs WHERE job_id = ?1 "
                  "AND id < ?2 UNION ALL SELECT id, job_id, NULL, scheduled, scheduled, 1, "
                  "started_at, NULL, NULL, '', 0, '', reason, attempt FROM running_runs "
                  "WHERE job_id = ?1 AND id < ?2) ORDER BY id DESC LIMIT ?3");
        q.bind(1, job);
        q.bind(2, before.value_or(std::numeric_limits<store_run_id>::max()));
        q.bind(3, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        std::vector<run_record> runs;
        while (q.executeStep()) {
            runs.push_back(read_run(q));
        }
        return runs;
    } catch (const SQLite::Exception& e) {
        fail("cannot read the history of job " + std::to_string(job), e);
    }
}

inline std::optional<run_record> store::last_run(store_job_id job) {
    auto runs = history(job, 1);
    if (runs.empty()) {
        return std::nullopt;
    }
    return std::move(runs.front());
}

inline std::unordered_map<store_job_id, run_record> store::last_runs() {
    std::unordered_map<store_job_id, run_record> newest;
    try {
        SQLite::Statement finished(
            *db_, "SELECT " CHIME_STORE_RUN_COLUMNS " FROM runs WHERE id IN "
                  "(SELECT max(id) FROM runs GROUP BY job_id)");
        while (finished.executeStep()) {
            auto r = read_run(finished);
            newest[r.job] = std::move(r);
        }
        SQLite::Statement running(
            *db_, "SELECT id, job_id, NULL, scheduled, scheduled, 1, started_at, NULL, NULL, '', 0, "
                  "'', reason, attempt FROM running_runs WHERE id IN "
                  "(SELECT max(id) FROM running_runs GROUP BY job_id)");
        while (running.executeStep()) {
            auto r = read_run(running);
            auto it = newest.find(r.job);
            if (it == newest.end() || it->second.id < r.id) {
                newest[r.job] = std::move(r);
            }
        }
    } catch (const SQLite::Exception& e) {
        fail("cannot read the newest runs", e);
    }
    return newest;
}

inline std::optional<run_status> store::last_status(store_job_id job) {
    try {
        SQLite::Statement q(*db_, "SELECT status FROM runs WHERE job_id = ? AND status NOT IN "
                                  "('missed', 'skipped') ORDER BY id DESC LIMIT 1");
        q.bind(1, job);
        if (q.executeStep()) {
            return run_status_from_string(q.getColumn(0).getString());
        }
        return std::nullopt;
    } catch (const SQLite::Exception& e) {
        fail("cannot read the last status of job " + std::to_string(job), e);
    }
}

#undef CHIME_STORE_RUN_COLUMNS

inline std::size_t store::run_count(store_job_id job) {
    try {
        SQLite::Statement q(*db_, "SELECT (SELECT count(*) FROM runs WHERE job_id = ?1) + "
                                  "(SELECT count(*) FROM running_runs WHERE job_id = ?1)");
        q.bind(1, job);
        q.executeStep();
        return static_cast<std::size_t>(q.getColumn(0).getInt64());
    } catch (const SQLite::Exception& e) {
        fail("cannot count the runs of job " + std::to_string(job), e);
    }
}

} // namespace chime
