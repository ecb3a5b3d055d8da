// The worker: one loop that owns the engine and the store, replies to control
// requests on a ZeroMQ ROUTER socket, publishes events on a PUB socket, hands
// due runs to the executor, collects finished runs from it over inproc, and
// delivers reports to the sinks. It runs in a thread of a program (inproc://),
// in a daemon (ipc://), or over tcp:// with CURVE.
//
//   struct config {
//       using triggers = chime::default_triggers;
//       using tasks = chime::task_registry<chime::shell_task, my_task>;
//       using sinks = chime::sink_registry<chime::history_sink, chime::log_sink>;
//   };
//   chime::worker<config> w({.database = "chime.db", .control = "ipc://chime.control"});
//   std::jthread loop([&] { w.run(); });   // until a shutdown request or w.stop()
//
// A configuration may also name `using queue = ...` (a timer queue, default
// hierarchical_wheel) and `using clock = ...` (a clock, default the system's).
//
// Thread safety: run() is called by one thread, which then owns everything.
// stop() and poke() may be called from any thread. Other members are for the
// thread that calls run(), before or after it.
#pragma once

#include <chime/clock.hpp>
#include <chime/delivery.hpp>
#include <chime/engine.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/process/child_process.hpp>
#include <chime/registry.hpp>
#include <chime/report.hpp>
#include <chime/report_json.hpp>
#include <chime/run_policy.hpp>
#include <chime/sinks/dispatcher.hpp>
#include <chime/sqlite/history_sink.hpp>
#include <chime/sqlite/store.hpp>
#include <chime/zmq/executor.hpp>
#include <chime/zmq/protocol.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <thread>
#include <vector>

namespace chime {

struct worker_options {
    // The store; created when missing.
    std::filesystem::path database = "chime.db";
    // Where control requests arrive (ROUTER) and events leave (PUB); an empty
    // events endpoint publishes nothing. ipc:// socket files get mode 0600.
    std::string control = "ipc://chime.control";
    std::string events;
    // Required for tcp:// endpoints: server key and allowed client keys.
    curve_options curve;
    // Pool threads for tasks; 0 means one per core, and at least 4, because
    // command tasks wait on their child processes.
    std::size_t threads = 0;
    // The size limit of a control frame: larger frames get a too_large error.
    // ZeroMQ drops frames over four times this size and closes the peer's
    // connection. 16 MiB fits an import of about 100,000 jobs.
    std::size_t max_message_bytes = std::size_t{16} << 20;
    // Control requests handled per loop turn before due runs are looked at
    // again, so that a burst of requests cannot make runs late for long.
    std::size_t max_requests_per_turn = 16;
    // At shutdown, how long running runs get to end after their stop request
    // (command tasks also get their own kill_grace inside it).
    std::chrono::milliseconds stop_grace{15'000};
    // Sink delivery: queue size, attempts and backoff.
    dispatcher_settings delivery;
    // How often every job's history is pruned by age.
    std::chrono::seconds prune_every{3600};
    // The logger of the loop, or null for spdlog's default logger.
    std::shared_ptr<spdlog::logger> logger;
};

namespace detail {

template <class Config, class = void>
struct config_queue {
    using type = hierarchical_wheel;
};
template <class Config>
struct config_queue<Config, std::void_t<typename Config::queue>> {
    using type = typename Config::queue;
};

template <class Config, class = void>
struct config_clock {
    using type = system_clock_source;
};
template <class Config>
struct config_clock<Config, std::void_t<typename Config::clock>> {
    using type = typename Config::clock;
};

inline std::string ipc_path(std::string_view endpoint) {
    if (endpoint.starts_with("ipc://")) {
        return std::string(endpoint.substr(6));
    }
    return {};
}

inline std::string iso_ms(millisecond_instant t) { return format_utc_milliseconds(t); }

// Loading many jobs frees many small JSON blocks, and glibc merges them at the
// next large allocation. At 100,000 jobs that took 130 ms inside the first fire
// second, so the merge is done here, at load time.
inline void release_freed_memory() {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

} // namespace detail

template <class Config>
class worker {
public:
    using triggers = typename Config::triggers;
    using tasks = typename Config::tasks;
    using sinks = typename Config::sinks;
    using queue_type = typename detail::config_queue<Config>::type;
    using clock_type = typename detail::config_clock<Config>::type;
    using engine_type = engine<triggers, queue_type>;
    static_assert(clock<clock_type>, "chime::worker: Config::clock must model chime::clock");

    // Opens the store (which fails when another process has it open), loads
    // every job into the engine, handles the runs the store found
    // interrupted, and binds the sockets. Throws store_error, invalid_input
    // (a bad endpoint, tcp:// without CURVE keys) or chime::error (a socket).
    explicit worker(worker_options options, clock_type clock = {});
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // Runs the loop until a shutdown request or stop(), then stops cleanly:
    // no new runs, running runs get a stop request and stop_grace to end,
    // and those still going are recorded interrupted.
    void run();

    // Asks run() to return. Thread-safe; callable from a signal-handling
    // thread.
    void stop();

    // Wakes the loop so that it reads the clock again: for manual clocks.
    void poke();

    zmq::context_t& context() noexcept { return context_; }
    const std::string& control_endpoint() const noexcept { return options_.control; }
    store& database() noexcept { return store_; }
    engine_type& scheduler() noexcept { return engine_; }

    // Adds many jobs in one transaction before run(), for programs that
    // define their jobs in code and for benchmarks. Throws like add.
    void add_jobs(const std::vector<nlohmann::json>& definitions);

    // One pass of the loop: waits for a socket or the next wake-up, at most
    // `max_wait`, then does the work of a turn. run() calls it until
    // stopped; benchmarks and tests call it themselves.
    void step(std::chrono::milliseconds max_wait);

    // The work of one pass without waiting: finished runs, due runs, control
    // requests.
    void turn();

private:
    using task_variant = typename tasks::variant;
    using sink_variant = typename sinks::variant;
    using target = sink_variant;

    struct sink_entry {
        sink_variant sink;
        delivery_mode mode = delivery_mode::always;
    };

    // The loop's data per job beside the engine: the parsed task and sinks,
    // and the settings needed to record runs.
    struct job_entry {
        std::string name;
        std::shared_ptr<const task_variant> task;
        std::vector<sink_entry> sinks;
        std::optional<retention> history; // from the history sink, if any
        delivery_mode history_mode = delivery_mode::always;
        std::uint64_t output_cap = 64 * 1024;
        std::optional<std::chrono::seconds> timeout;
        // Only jobs that catch up after downtime need their last fire time
        // stored, which costs a write per run.
        bool catch_up = false;
        std::optional<run_status> last_status;
        // Set when the stored definition cannot be read by this build (a
        // kind it does not know): the job stays stored but never runs.
        std::string load_error;
    };

    struct running_run {
        job_id job = 0;
        store_run_id row = 0; // 0 when the job keeps no history
        bool detached = false; // its job was removed or replaced
        instant scheduled{};
        unsigned attempt = 0;
        run_cause cause = run_cause::schedule;
        std::string reason;
    };

    struct parsed_job {
        job_record record;
        // Always set by parse_job; optional only because a trigger variant
        // has no default value.
        std::optional<typename engine_type::job_definition> definition;
        job_entry entry;
    };

    void bind_sockets();
    void load_jobs();
    void handle_recovered();
    parsed_job parse_job(const nlohmann::json& j, std::optional<job_record> base) const;
    job_entry make_entry(const job_record& record) const;
    nlohmann::json definition_json(const job_record& r) const;
    // `last` and `running` come from list, which reads them for every job
    // at once; without them the view reads its own.
    nlohmann::json job_view(const job_record& r, const run_record* last = nullptr,
                            const std::size_t* running = nullptr, bool last_known = false);
    nlohmann::json run_view(const run_record& r) const;

    void handle_control();
    void handle_zap();
    nlohmann::json dispatch(const nlohmann::json& request);
    nlohmann::json op_add(const nlohmann::json& request);
    nlohmann::json op_update(const nlohmann::json& request);
    nlohmann::json op_remove(const nlohmann::json& request);
    nlohmann::json op_pause(const nlohmann::json& request, bool pause);
    nlohmann::json op_run_now(const nlohmann::json& request);
    nlohmann::json op_get(const nlohmann::json& request);
    nlohmann::json op_list(const nlohmann::json& request);
    nlohmann::json op_history(const nlohmann::json& request);
    nlohmann::json op_export(const nlohmann::json& request);
    nlohmann::json op_import(const nlohmann::json& request);
    job_record require_job(const nlohmann::json& request);
    void detach_runs(job_id id);

    void handle_due(instant now);
    void start_run(const decision& d, instant now);
    void record_not_run(const decision& d);
    void on_finished(run_id id, report&& r);
    void deliver(job_entry& entry, store_job_id job, const report& r,
                 std::optional<run_status> previous, bool history_written);
    void publish(std::string_view topic, const nlohmann::json& body);
    void prune_all();
    // Runs `write`; a store_error (disk full, I/O) is logged and the loop
    // goes on without that record. Returns false when it failed.
    template <class Write>
    bool guard_store(const std::string& what, Write&& write);
    std::uint64_t store_failures_ = 0;
    void shutdown_runs();
    int wait_timeout_ms() const;

    worker_options options_;
    clock_type clock_;
    std::shared_ptr<spdlog::logger> log_;
    store store_;
    engine_type engine_;
    std::unordered_map<job_id, job_entry> jobs_;
    std::unordered_map<run_id, running_run> running_;

    zmq::context_t context_;
    zmq::socket_t control_;
    zmq::socket_t events_;
    zmq::socket_t finished_;
    zmq::socket_t wake_;
    std::optional<zmq::socket_t> zap_;
    std::set<std::string> authorized_keys_;
    std::string wake_endpoint_;
    std::string finished_endpoint_;
    std::unique_ptr<executor> executor_;
    std::unique_ptr<sink_dispatcher<target>> dispatcher_;

    std::atomic<bool> stop_requested_{false};
    bool shutting_down_ = false;
    std::vector<decision> decisions_;
    std::vector<run_request> to_submit_;
    // A running row was written in this turn's open transaction, so no run
    // may start before the commit.
    bool rows_pending_ = false;
    std::chrono::steady_clock::time_point next_prune_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

inline std::string unique_inproc(std::string_view what, const void* owner) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%p", owner);
    return "inproc://chime-" + std::string(what) + "-" + buffer;
}

inline std::string required_name(const nlohmann::json& request) {
    auto it = request.find("name");
    if (it == request.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
        throw protocol_error(error_code::bad_request,
                             "\"name\" must be a non-empty string naming a job, got " +
                                 (it == request.end() ? std::string("nothing")
                                                      : describe_json(*it)));
    }
    return it->get<std::string>();
}

// Returns why a job name is invalid, or none. Names appear in tables, logs
// and command lines, so control characters, leading dashes and surrounding
// blanks are rejected.
inline std::optional<std::string> job_name_problem(const std::string& name) {
    if (name.empty()) {
        return "is empty";
    }
    if (name.size() > 200) {
        return "is " + std::to_string(name.size()) + " bytes long; the limit is 200 bytes";
    }
    if (to_valid_utf8(name) != name) {
        return "is not valid UTF-8";
    }
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f) {
            return "contains a control character";
        }
    }
    if (name.front() == '-') {
        return "starts with '-', which command lines would read as an option";
    }
    if (name.front() == ' ' || name.back() == ' ') {
        return "starts or ends with a blank";
    }
    return std::nullopt;
}

// The deepest nesting of arrays and objects in JSON text, counted without
// parsing, so that a hostile request cannot exhaust the stack of the
// recursive code that copies parsed values.
inline std::size_t json_nesting_depth(std::string_view text) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

inline constexpr std::size_t max_request_depth = 64;

inline millisecond_instant now_ms() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

} // namespace detail

template <class Config>
worker<Config>::worker(worker_options options, clock_type clock)
    : options_(std::move(options)), clock_(std::move(clock)),
      log_(options_.logger ? options_.logger : spdlog::default_logger()),
      store_(options_.database), control_(context_, zmq::socket_type::router),
      events_(context_, zmq::socket_type::pub), finished_(context_, zmq::socket_type::pull),
      wake_(context_, zmq::socket_type::pull) {
    wake_endpoint_ = detail::unique_inproc("wake", this);
    finished_endpoint_ = detail::unique_inproc("finished", this);
    bind_sockets();
    std::size_t threads = options_.threads;
    if (threads == 0) {
        threads = std::max<std::size_t>(4, std::thread::hardware_concurrency());
    }
    executor_ = std::make_unique<executor>(
        context_, executor_options{threads, finished_endpoint_});
    auto delivery = options_.delivery;
    if (!delivery.logger) {
        delivery.logger = log_;
    }
    dispatcher_ = std::make_unique<sink_dispatcher<target>>(delivery);
    load_jobs();
    handle_recovered();
    // Sized for a busy second up front, so that the first one does not pay
    // for growing them.
    decisions_.reserve(4096);
    to_submit_.reserve(512);
    running_.reserve(4096);
    next_prune_ = std::chrono::steady_clock::now() + options_.prune_every;
}

template <class Config>
worker<Config>::~worker() {
    if (executor_) {
        executor_->shutdown();
    }
}

template <class Config>
void worker<Config>::bind_sockets() {
    auto bind = [&](zmq::socket_t& socket, const std::string& endpoint, const char* what) {
        try {
            socket.bind(endpoint);
        } catch (const zmq::error_t& e) {
            throw error(std::string("cannot bind the ") + what + " socket to " + endpoint + ": " +
                        e.what());
        }
        // Only the owner may connect to a local socket file.
        if (auto path = detail::ipc_path(endpoint); !path.empty()) {
            if (::chmod(path.c_str(), 0600) != 0) {
                throw error(std::string("cannot set mode 0600 on the ") + what + " socket " +
                            path + ": " + std::strerror(errno));
            }
        }
    };
    bool network = is_network_endpoint(options_.control) || is_network_endpoint(options_.events);
    if (network) {
        const auto& curve = options_.curve;
        if (curve.server_secret_key_file.empty() || curve.authorized_keys_file.empty()) {
            throw invalid_input(
                "endpoint " + (is_network_endpoint(options_.control) ? options_.control
                                                                     : options_.events) +
                ": plain tcp is refused because anyone who reaches the port could run commands; "
                "create keys with `chimed keygen server` and `chimed keygen client`, list "
                "client.pub in an authorized keys file, and pass --curve-secret server.key "
                "--curve-authorized FILE");
        }
        auto secret = detail::read_z85_key(curve.server_secret_key_file, "server secret key file");
        authorized_keys_ = detail::read_authorized_keys(curve.authorized_keys_file);
        // ZAP: libzmq sends this socket a request per client key to accept or reject.
        zap_.emplace(context_, zmq::socket_type::rep);
        zap_->bind("inproc://zeromq.zap.01");
        for (auto* socket : {&control_, &events_}) {
            socket->set(zmq::sockopt::curve_server, 1);
            socket->set(zmq::sockopt::curve_secretkey, secret);
            socket->set(zmq::sockopt::zap_domain, "chime");
        }
    }
    control_.set(zmq::sockopt::linger, 0);
    control_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(options_.max_message_bytes * 4));
    // A peer that vanished must not make the loop block on a reply.
    control_.set(zmq::sockopt::router_mandatory, 0);
    bind(control_, options_.control, "control");
    if (!options_.events.empty()) {
        events_.set(zmq::sockopt::linger, 0);
        bind(events_, options_.events, "events");
    }
    finished_.bind(finished_endpoint_);
    wake_.bind(wake_endpoint_);
}

template <class Config>
auto worker<Config>::make_entry(const job_record& record) const -> job_entry {
    job_entry entry;
    entry.name = record.name;
    entry.output_cap = record.output_cap;
    entry.timeout = record.policy.timeout;
    entry.catch_up = record.policy.catch_up != catch_up_mode::none;
    auto task_settings = record.task;
    auto kind = task_settings.value("kind", std::string());
    task_settings.erase("kind");
    entry.task = std::make_shared<const task_variant>(tasks::from_json(kind, task_settings));
    for (const auto& s : record.sinks) {
        sink_entry e;
        e.mode = delivery_mode_of(s);
        auto settings = s;
        auto sink_kind = settings.value("kind", std::string());
        settings.erase("kind");
        settings.erase("when");
        if (sink_kind == history_sink::kind) {
            entry.history = history_sink::from_json(settings).keep;
            entry.history_mode = e.mode;
            continue;
        }
        e.sink = sinks::from_json(sink_kind, settings);
        entry.sinks.push_back(std::move(e));
    }
    return entry;
}

// Reads a job definition sent by a client (or, with `base`, the fields that
// change an existing job) and checks every part with the registries.
template <class Config>
auto worker<Config>::parse_job(const nlohmann::json& j, std::optional<job_record> base) const
    -> parsed_job {
    if (!j.is_object()) {
        throw protocol_error(error_code::invalid_job,
                             "a job must be a JSON object, got " + detail::describe_json(j));
    }
    static constexpr std::string_view known[] = {"name",   "trigger",        "task",
                                                 "sinks",  "policy",         "on_interrupted",
                                                 "paused", "output_cap"};
    for (const auto& item : j.items()) {
        if (std::find(std::begin(known), std::end(known), item.key()) == std::end(known)) {
            throw protocol_error(error_code::invalid_job,
                                 "job: unknown key \"" + item.key() +
                                     "\"; expected name, trigger, task, sinks, policy, "
                                     "on_interrupted, paused or output_cap");
        }
    }
    parsed_job p;
    p.record = base ? *base : job_record{};
    bool creating = !base;
    if (creating) {
        // A new job keeps the last 100 runs unless it lists its own sinks.
        p.record.sinks = nlohmann::json::array({{{"kind", "history"}}});
    }
    auto fail = [&](const std::string& what) {
        auto name = j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>()
                                                                : p.record.name;
        throw protocol_error(error_code::invalid_job,
                             "job \"" + name + "\": " + what);
    };
    if (auto it = j.find("name"); it != j.end()) {
        if (!it->is_string()) {
            throw protocol_error(error_code::invalid_job,
                                 "job: \"name\" must be a string, got " + detail::describe_json(*it));
        }
        if (auto problem = detail::job_name_problem(it->get_ref<const std::string&>())) {
            throw protocol_error(error_code::invalid_job,
                                 "job: the name " + detail::describe_json(*it) + " " + *problem);
        }
        p.record.name = it->get<std::string>();
    } else if (creating) {
        throw protocol_error(error_code::invalid_job, "job: \"name\" is missing");
    }
    try {
        auto require_kind = [&](const nlohmann::json& part, const std::string& what) {
            if (!part.is_object() || !part.contains("kind") || !part["kind"].is_string()) {
                fail(what + " must be a JSON object with a \"kind\" string, got " +
                     detail::describe_json(part));
            }
        };
        if (auto it = j.find("trigger"); it != j.end()) {
            require_kind(*it, "\"trigger\"");
            p.record.trigger = *it;
        } else if (creating) {
            fail("\"trigger\" is missing");
        }
        if (auto it = j.find("task"); it != j.end()) {
            require_kind(*it, "\"task\"");
            p.record.task = *it;
        } else if (creating) {
            fail("\"task\" is missing");
        }
        if (auto it = j.find("sinks"); it != j.end()) {
            if (!it->is_array()) {
                fail("\"sinks\" must be an array, got " + detail::describe_json(*it));
            }
            int histories = 0;
            for (const auto& sink : *it) {
                require_kind(sink, "each sink");
                histories += sink["kind"] == "history" ? 1 : 0;
            }
            if (histories > 1) {
                fail("\"sinks\" lists the history sink " + std::to_string(histories) +
                     " times; list it once");
            }
            p.record.sinks = *it;
        }
        if (auto it = j.find("policy"); it != j.end()) {
            p.record.policy = run_policy::from_json(*it);
        }
        if (auto it = j.find("on_interrupted"); it != j.end()) {
            if (!it->is_string()) {
                fail("\"on_interrupted\" must be rerun, skip or notify, got " +
                     detail::describe_json(*it));
            }
            p.record.on_interrupted = interrupted_rule_from_string(it->get<std::string>());
        }
        if (auto it = j.find("paused"); it != j.end()) {
            if (!it->is_boolean()) {
                fail("\"paused\" must be true or false, got " + detail::describe_json(*it));
            }
            p.record.paused = it->get<bool>();
        }
        if (auto it = j.find("output_cap"); it != j.end()) {
            if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
                it->get<std::int64_t>() > (std::int64_t{64} << 20)) {
                fail("\"output_cap\" must be a number of bytes from 0 to 67108864, got " +
                     detail::describe_json(*it));
            }
            p.record.output_cap = it->get<std::uint64_t>();
        }
        p.definition.emplace(typename engine_type::job_definition{
            triggers::from_json(p.record.trigger), p.record.policy});
        // The trigger is stored as given, not as to_json() writes it: a cron
        // trigger without "tz" follows the daemon's local zone, and its
        // to_json() would fix today's zone in the store.
        p.entry = make_entry(p.record);
        p.record.task = tasks::to_json(*p.entry.task);
    } catch (const protocol_error&) {
        throw;
    } catch (const invalid_input& e) {
        fail(e.what());
    }
    return p;
}

template <class Config>
void worker<Config>::load_jobs() {
    auto records = store_.jobs();
    engine_.reserve(records.size());
    auto now = clock_.now();
    std::size_t broken = 0;
    for (auto& record : records) {
        auto id = static_cast<job_id>(record.id);
        job_entry entry;
        try {
            entry = make_entry(record);
            add_options opts;
            opts.last_fire = record.last_fire;
            opts.worker_starting = true;
            engine_.add(id, {triggers::from_json(record.trigger), record.policy}, now, opts);
            if (record.paused) {
                engine_.pause(id, now);
            }
        } catch (const std::exception& e) {
            // Kept in the store untouched; list shows the error.
            entry.name = record.name;
            entry.load_error = e.what();
            ++broken;
            log_->error("job \"{}\" cannot be loaded and will not run: {}", record.name, e.what());
        }
        if (auto last = store_.last_status(record.id)) {
            entry.last_status = last;
        }
        jobs_.emplace(id, std::move(entry));
    }
    records.clear();
    records.shrink_to_fit();
    detail::release_freed_memory();
    log_->info("loaded {} jobs from {}{}", jobs_.size(), store_.path().string(),
               broken ? " (" + std::to_string(broken) + " cannot run)" : std::string());
}

template <class Config>
void worker<Config>::handle_recovered() {
    auto now = clock_.now();
    for (const auto& found : store_.recovered()) {
        auto id = static_cast<job_id>(found.run.job);
        log_->warn("job \"{}\": run {} was interrupted by a crash or kill; rule {}", found.job_name,
                   found.run.id, to_string(found.rule));
        auto it = jobs_.find(id);
        if (it == jobs_.end() || !it->second.load_error.empty()) {
            continue;
        }
        if (found.rule == interrupted_rule::rerun) {
            engine_.run_now(id, now);
        } else if (found.rule == interrupted_rule::notify) {
            report r;
            r.status = run_status::interrupted;
            r.job = found.job_name;
            r.scheduled = found.run.scheduled;
            r.started = found.run.started;
            r.finished = found.run.finished;
            r.error = found.run.error;
            r.reason = found.run.reason;
            r.attempt = found.run.attempt;
            deliver(it->second, found.run.job, r, it->second.last_status, true);
        }
        it->second.last_status = run_status::interrupted;
    }
}

template <class Config>
void worker<Config>::add_jobs(const std::vector<nlohmann::json>& definitions) {
    std::vector<parsed_job> parsed;
    parsed.reserve(definitions.size());
    for (const auto& d : definitions) {
        parsed.push_back(parse_job(d, std::nullopt));
    }
    {
        store::transaction tx(store_);
        for (auto& p : parsed) {
            store_.add_job(p.record);
        }
        tx.commit();
    }
    auto now = clock_.now();
    engine_.reserve(engine_.size() + parsed.size());
    for (auto& p : parsed) {
        auto id = static_cast<job_id>(p.record.id);
        engine_.add(id, std::move(*p.definition), now);
        if (p.record.paused) {
            engine_.pause(id, now);
        }
        jobs_.emplace(id, std::move(p.entry));
    }
    parsed.clear();
    parsed.shrink_to_fit();
    detail::release_freed_memory();
}

template <class Config>
nlohmann::json worker<Config>::definition_json(const job_record& r) const {
    return {{"name", r.name},         {"trigger", r.trigger},
            {"task", r.task},         {"sinks", r.sinks},
            {"policy", r.policy.to_json()}, {"on_interrupted", to_string(r.on_interrupted)},
            {"paused", r.paused},     {"output_cap", r.output_cap}};
}

template <class Config>
nlohmann::json worker<Config>::job_view(const job_record& r, const run_record* last_known_run,
                                        const std::size_t* running_known, bool last_known) {
    auto view = definition_json(r);
    auto id = static_cast<job_id>(r.id);
    view["id"] = r.id;
    view["created"] = detail::iso_ms(r.created);
    view["updated"] = detail::iso_ms(r.updated);
    auto next = engine_.contains(id) ? engine_.next_fire(id) : std::nullopt;
    view["next_run"] = next ? nlohmann::json(format_utc(*next)) : nlohmann::json(nullptr);
    auto it = jobs_.find(id);
    if (it != jobs_.end() && !it->second.load_error.empty()) {
        view["error"] = it->second.load_error;
    }
    if (last_known) {
        view["last_run"] = last_known_run ? run_view(*last_known_run) : nlohmann::json(nullptr);
    } else if (auto last = store_.last_run(r.id)) {
        view["last_run"] = run_view(*last);
    } else {
        view["last_run"] = nullptr;
    }
    std::size_t running = 0;
    if (running_known) {
        running = *running_known;
    } else {
        for (const auto& [rid, run] : running_) {
            running += run.job == id ? 1 : 0;
        }
    }
    view["running"] = running;
    return view;
}

template <class Config>
nlohmann::json worker<Config>::run_view(const run_record& r) const {
    auto time = [](const std::optional<millisecond_instant>& t) -> nlohmann::json {
        return t ? nlohmann::json(detail::iso_ms(*t)) : nlohmann::json(nullptr);
    };
    nlohmann::json v = {
        {"id", r.id},
        {"status", r.status ? std::string(to_string(*r.status)) : std::string("running")},
        {"scheduled", format_utc(r.scheduled)},
        {"started", time(r.started)},
        {"finished", time(r.finished)},
        {"exit_code", r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json(nullptr)},
        {"output", detail::to_valid_utf8(r.output)},
        {"output_truncated", r.output_truncated},
        {"error", detail::to_valid_utf8(r.error)},
        {"reason", r.reason},
        {"attempt", r.attempt},
    };
    if (r.started && r.finished) {
        v["duration_ms"] = (*r.finished - *r.started).count();
    }
    if (r.count > 1) {
        v["count"] = r.count;
        v["last_scheduled"] = format_utc(r.last_scheduled);
    }
    return v;
}

// --- control ---------------------------------------------------------------

template <class Config>
job_record worker<Config>::require_job(const nlohmann::json& request) {
    auto name = detail::required_name(request);
    auto record = store_.job(name);
    if (!record) {
        throw protocol_error(error_code::not_found, "no job named \"" + name + "\"");
    }
    return std::move(*record);
}

template <class Config>
nlohmann::json worker<Config>::op_add(const nlohmann::json& request) {
    auto it = request.find("job");
    if (it == request.end()) {
        throw protocol_error(error_code::bad_request, "add: \"job\" is missing");
    }
    auto p = parse_job(*it, std::nullopt);
    try {
        store_.add_job(p.record); // the store first: a crash now loses nothing
    } catch (const invalid_input& e) {
        throw protocol_error(error_code::conflict, e.what());
    }
    auto id = static_cast<job_id>(p.record.id);
    auto now = clock_.now();
    engine_.add(id, std::move(*p.definition), now);
    if (p.record.paused) {
        engine_.pause(id, now);
    }
    jobs_[id] = std::move(p.entry);
    log_->info("job \"{}\" added", p.record.name);
    auto view = job_view(p.record);
    publish("job.changed", {{"change", "added"}, {"job", view}});
    return view;
}

template <class Config>
nlohmann::json worker<Config>::op_update(const nlohmann::json& request) {
    auto existing = require_job(request);
    auto it = request.find("job");
    if (it == request.end()) {
        throw protocol_error(error_code::bad_request, "update: \"job\" is missing");
    }
    auto p = parse_job(*it, existing);
    try {
        store_.update_job(p.record);
    } catch (const invalid_input& e) {
        throw protocol_error(error_code::conflict, e.what());
    }
    auto id = static_cast<job_id>(p.record.id);
    auto now = clock_.now();
    auto old_status = jobs_[id].last_status;
    if (engine_.contains(id)) {
        engine_.update(id, std::move(*p.definition), now);
    } else {
        engine_.add(id, std::move(*p.definition), now); // a job that could not load before
    }
    if (p.record.paused && !engine_.paused(id)) {
        engine_.pause(id, now);
    } else if (!p.record.paused && engine_.paused(id)) {
        engine_.resume(id, now);
    }
    p.entry.last_status = old_status;
    jobs_[id] = std::move(p.entry);
    log_->info("job \"{}\" updated", p.record.name);
    auto view = job_view(p.record);
    publish("job.changed", {{"change", "updated"}, {"job", view}});
    return view;
}

template <class Config>
nlohmann::json worker<Config>::op_remove(const nlohmann::json& request) {
    auto record = require_job(request);
    store_.remove_job(record.id);
    auto id = static_cast<job_id>(record.id);
    detach_runs(id);
    engine_.remove(id);
    jobs_.erase(id);
    log_->info("job \"{}\" removed", record.name);
    publish("job.changed", {{"change", "removed"}, {"job", {{"name", record.name}}}});
    return {{"name", record.name}, {"removed", true}};
}

// A removed or replaced job's runs still going are stopped and end
// unrecorded: their history rows went with the job.
template <class Config>
void worker<Config>::detach_runs(job_id id) {
    for (auto& [rid, run] : running_) {
        if (run.job == id) {
            run.row = 0;
            run.detached = true;
            executor_->cancel(rid);
        }
    }
}

template <class Config>
nlohmann::json worker<Config>::op_pause(const nlohmann::json& request, bool pause) {
    auto record = require_job(request);
    store_.set_paused(record.id, pause);
    record.paused = pause;
    auto id = static_cast<job_id>(record.id);
    auto now = clock_.now();
    if (engine_.contains(id)) {
        pause ? engine_.pause(id, now) : engine_.resume(id, now);
    }
    log_->info("job \"{}\" {}", record.name, pause ? "paused" : "resumed");
    auto view = job_view(record);
    publish("job.changed", {{"change", pause ? "paused" : "resumed"}, {"job", view}});
    return view;
}

template <class Config>
nlohmann::json worker<Config>::op_run_now(const nlohmann::json& request) {
    auto record = require_job(request);
    auto id = static_cast<job_id>(record.id);
    auto it = jobs_.find(id);
    if (it != jobs_.end() && !it->second.load_error.empty()) {
        throw protocol_error(error_code::invalid_job,
                             "job \"" + record.name + "\" cannot run: " + it->second.load_error);
    }
    bool accepted = engine_.run_now(id, clock_.now());
    return {{"name", record.name},
            {"accepted", accepted},
            {"note", accepted ? "the run starts now" : "the job's overlap rule refused the run"}};
}

template <class Config>
nlohmann::json worker<Config>::op_get(const nlohmann::json& request) {
    return job_view(require_job(request));
}

template <class Config>
nlohmann::json worker<Config>::op_list(const nlohmann::json&) {
    // Two queries and one pass over the running runs for the whole list,
    // not two per job (0.8 s for 8,000 jobs before).
    auto last_runs = store_.last_runs();
    std::unordered_map<job_id, std::size_t> running;
    for (const auto& [rid, run] : running_) {
        ++running[run.job];
    }
    const std::size_t none = 0;
    auto all = nlohmann::json::array();
    for (const auto& record : store_.jobs()) {
        auto last = last_runs.find(record.id);
        auto count = running.find(static_cast<job_id>(record.id));
        all.push_back(job_view(record, last == last_runs.end() ? nullptr : &last->second,
                               count == running.end() ? &none : &count->second, true));
    }
    return {{"jobs", std::move(all)}};
}

template <class Config>
nlohmann::json worker<Config>::op_history(const nlohmann::json& request) {
    auto record = require_job(request);
    std::size_t limit = 20;
    if (auto it = request.find("limit"); it != request.end()) {
        if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
            it->get<std::int64_t>() > 100000) {
            throw protocol_error(error_code::bad_request,
                                 "history: \"limit\" must be a whole number from 1 to 100000, got " +
                                     detail::describe_json(*it));
        }
        limit = it->get<std::size_t>();
    }
    std::optional<store_run_id> before;
    if (auto it = request.find("before"); it != request.end()) {
        if (!it->is_number_integer()) {
            throw protocol_error(error_code::bad_request,
                                 "history: \"before\" must be a run id, got " +
                                     detail::describe_json(*it));
        }
        before = it->get<store_run_id>();
    }
    auto runs = nlohmann::json::array();
    for (const auto& r : store_.history(record.id, limit, before)) {
        runs.push_back(run_view(r));
    }
    return {{"name", record.name}, {"runs", std::move(runs)}};
}

template <class Config>
nlohmann::json worker<Config>::op_export(const nlohmann::json&) {
    auto all = nlohmann::json::array();
    for (const auto& record : store_.jobs()) {
        all.push_back(definition_json(record));
    }
    return {{"format", "chime-jobs"}, {"version", 1}, {"jobs", std::move(all)}};
}

// All or nothing: every definition is checked before any is written.
template <class Config>
nlohmann::json worker<Config>::op_import(const nlohmann::json& request) {
    auto it = request.find("jobs");
    if (it == request.end() || !it->is_array()) {
        throw protocol_error(error_code::bad_request, "import: \"jobs\" must be an array of jobs");
    }
    bool replace = false;
    if (auto r = request.find("replace"); r != request.end()) {
        if (!r->is_boolean()) {
            throw protocol_error(error_code::bad_request,
                                 "import: \"replace\" must be true or false, got " +
                                     detail::describe_json(*r));
        }
        replace = r->get<bool>();
    }
    std::vector<parsed_job> parsed;
    std::set<std::string> names;
    std::size_t index = 0;
    for (const auto& j : *it) {
        try {
            parsed.push_back(parse_job(j, std::nullopt));
        } catch (const protocol_error& e) {
            throw protocol_error(e.code(), "import: job " + std::to_string(index + 1) + ": " + e.what() +
                                               "; nothing was imported");
        }
        if (!names.insert(parsed.back().record.name).second) {
            throw protocol_error(error_code::conflict, "import: the name \"" + parsed.back().record.name +
                                                           "\" appears twice; nothing was imported");
        }
        ++index;
    }
    std::vector<std::pair<job_id, job_record>> replaced;
    {
        store::transaction tx(store_);
        for (auto& p : parsed) {
            if (auto old = store_.job(p.record.name)) {
                if (!replace) {
                    throw protocol_error(error_code::conflict,
                                         "import: job \"" + p.record.name +
                                             "\" already exists; nothing was imported (import "
                                             "with replace, chimectl's --replace, to replace "
                                             "it and its history)");
                }
                store_.remove_job(old->id);
                replaced.emplace_back(static_cast<job_id>(old->id), *old);
            }
            store_.add_job(p.record);
        }
        tx.commit();
    }
    auto now = clock_.now();
    for (auto& [id, old] : replaced) {
        detach_runs(id);
        engine_.remove(id);
        jobs_.erase(id);
    }
    auto added = nlohmann::json::array();
    for (auto& p : parsed) {
        auto id = static_cast<job_id>(p.record.id);
        engine_.add(id, std::move(*p.definition), now);
        if (p.record.paused) {
            engine_.pause(id, now);
        }
        jobs_[id] = std::move(p.entry);
        added.push_back(p.record.name);
    }
    log_->info("imported {} jobs ({} replaced)", parsed.size(), replaced.size());
    publish("job.changed", {{"change", "imported"}, {"names", added}});
    return {{"imported", added}, {"replaced", replaced.size()}};
}

template <class Config>
nlohmann::json worker<Config>::dispatch(const nlohmann::json& request) {
    if (!request.is_object()) {
        throw protocol_error(error_code::bad_request,
                             "a request must be a JSON object with an \"op\", got " +
                                 detail::describe_json(request));
    }
    auto it = request.find("op");
    if (it == request.end() || !it->is_string()) {
        throw protocol_error(error_code::bad_request, "\"op\" is missing or not a string in " +
                                                          detail::describe_json(request));
    }
    const auto& op = it->get_ref<const std::string&>();
    if (op == "ping") {
        return {{"pong", true},
                {"protocol", protocol_version},
                {"pid", ::getpid()},
                {"jobs", store_.job_count()},
                {"running", running_.size()},
                {"database", store_.path().string()}};
    }
    if (op == "list") return op_list(request);
    if (op == "get") return op_get(request);
    if (op == "history") return op_history(request);
    if (op == "export") return op_export(request);
    if (shutting_down_) {
        throw protocol_error(error_code::stopping, "the worker is shutting down; \"" + op +
                                                       "\" was not applied");
    }
    if (op == "add") return op_add(request);
    if (op == "update") return op_update(request);
    if (op == "remove") return op_remove(request);
    if (op == "pause") return op_pause(request, true);
    if (op == "resume") return op_pause(request, false);
    if (op == "run_now") return op_run_now(request);
    if (op == "import") return op_import(request);
    if (op == "shutdown") {
        stop_requested_ = true;
        return {{"stopping", true}};
    }
    throw protocol_error(error_code::unknown_op,
                         "unknown op \"" + op +
                             "\"; expected add, update, remove, pause, resume, run_now, get, list, "
                             "history, export, import, ping or shutdown");
}

// Reads the waiting requests. A ROUTER message is [peer id, (empty), body];
// anything else is dropped because there is no peer to reply to.
template <class Config>
void worker<Config>::handle_control() {
    for (std::size_t handled = 0; handled < options_.max_requests_per_turn; ++handled) {
        std::vector<zmq::message_t> parts;
        zmq::message_t part;
        if (!control_.recv(part, zmq::recv_flags::dontwait)) {
            return;
        }
        bool more = part.more();
        parts.push_back(std::move(part));
        std::size_t total = parts.back().size();
        std::size_t extra_frames = 0;
        while (more) {
            zmq::message_t next;
            (void)control_.recv(next);
            more = next.more();
            total += next.size();
            if (parts.size() < 8) {
                parts.push_back(std::move(next));
            } else {
                ++extra_frames;
            }
        }
        if (parts.size() < 2) {
            continue; // no body: no request to reply to
        }
        // [peer, empty, body] from REQ and DEALER clients that add the
        // delimiter; [peer, body] from DEALERs that do not.
        bool delimited = parts.size() >= 3 && parts[1].size() == 0;
        const auto& body = parts[delimited ? 2 : 1];
        nlohmann::json reply;
        nlohmann::json request;
        if (parts.size() > (delimited ? 3u : 2u)) {
            reply = error_reply(error_code::bad_request,
                                "a request is one frame of JSON; got " +
                                    std::to_string(parts.size() + extra_frames - (delimited ? 2 : 1)) +
                                    " frames");
        } else if (total > options_.max_message_bytes) {
            reply = error_reply(error_code::too_large,
                                "the request has " + std::to_string(total) +
                                    " bytes; the limit is " + std::to_string(options_.max_message_bytes));
        } else if (auto depth = detail::json_nesting_depth(
                       std::string_view(body.data<char>(), body.size()));
                   depth > detail::max_request_depth) {
            reply = error_reply(error_code::bad_request,
                                "the request nests arrays and objects " + std::to_string(depth) +
                                    " deep; the limit is " +
                                    std::to_string(detail::max_request_depth));
        } else {
            request = nlohmann::json::parse(body.data<char>(), body.data<char>() + body.size(),
                                            nullptr, false);
            if (request.is_discarded()) {
                reply = error_reply(error_code::bad_json,
                                    "the request is not valid JSON (" + std::to_string(body.size()) +
                                        " bytes)");
            } else {
                try {
                    reply = ok_reply(dispatch(request));
                } catch (const protocol_error& e) {
                    reply = error_reply(e.code(), e.what());
                } catch (const store_error& e) {
                    log_->error("control request failed in the store: {}", e.what());
                    reply = error_reply(error_code::store_failed, e.what());
                } catch (const invalid_input& e) {
                    reply = error_reply(error_code::invalid_job, e.what());
                } catch (const nlohmann::json::exception& e) {
                    reply = error_reply(error_code::bad_request,
                                        std::string("a field has the wrong type: ") + e.what());
                } catch (const std::exception& e) {
                    log_->error("control request failed: {}", e.what());
                    reply = error_reply(error_code::internal, e.what());
                }
            }
        }
        if (request.is_object() && request.contains("id")) {
            reply["id"] = request["id"];
        }
        auto text = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        control_.send(parts[0], zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        if (delimited) {
            control_.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        }
        control_.send(zmq::buffer(text), zmq::send_flags::dontwait);
    }
}

// The ZAP handshake (RFC 27): a CURVE client gets in when its public key is
// in the authorized keys file.
template <class Config>
void worker<Config>::handle_zap() {
    std::vector<zmq::message_t> parts;
    zmq::message_t part;
    if (!zap_->recv(part, zmq::recv_flags::dontwait)) {
        return;
    }
    bool more = part.more();
    parts.push_back(std::move(part));
    while (more) {
        zmq::message_t next;
        (void)zap_->recv(next);
        more = next.more();
        parts.push_back(std::move(next));
    }
    std::string version = parts.size() > 0 ? parts[0].to_string() : "";
    std::string request_id = parts.size() > 1 ? parts[1].to_string() : "";
    std::string mechanism = parts.size() > 5 ? parts[5].to_string() : "";
    std::string status = "400";
    std::string text = "client key not authorized";
    if (mechanism == "CURVE" && parts.size() > 6 && parts[6].size() == 32) {
        char z85[41] = {};
        zmq_z85_encode(z85, parts[6].data<std::uint8_t>(), 32);
        if (authorized_keys_.contains(z85)) {
            status = "200";
            text = "OK";
        } else {
            log_->warn("rejected a CURVE client whose key {} is not in the authorized keys file", z85);
        }
    }
    zap_->send(zmq::buffer(version), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(status), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(text), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string("")), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string("")), zmq::send_flags::none);
}

template <class Config>
void worker<Config>::publish(std::string_view topic, const nlohmann::json& body) {
    if (options_.events.empty()) {
        return;
    }
    auto text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    events_.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    events_.send(zmq::buffer(text), zmq::send_flags::dontwait);
}

// --- runs ------------------------------------------------------------------

template <class Config>
void worker<Config>::start_run(const decision& d, instant now) {
    auto jit = jobs_.find(d.job);
    if (jit == jobs_.end()) {
        engine_.finished(d.run, run_status::failed, now);
        return;
    }
    auto& entry = jit->second;
    running_run run;
    run.job = d.job;
    run.scheduled = d.scheduled;
    run.attempt = d.attempt;
    run.cause = d.cause;
    run.reason = d.reason;
    auto started = detail::now_ms();
    // Only jobs that keep history get a running row, which is what lets a
    // crash be recorded; the others cost the store nothing per run.
    if (entry.history) {
        rows_pending_ = true;
        guard_store("recording the start of a run of \"" + entry.name + "\"", [&] {
            run.row = store_.begin_run(static_cast<store_job_id>(d.job), d.scheduled, started,
                                       run.reason.empty() ? to_string(d.cause) : run.reason,
                                       d.attempt);
        });
    }
    if (entry.catch_up && (d.cause == run_cause::schedule || d.cause == run_cause::catch_up)) {
        guard_store("recording the last fire time", [&] {
            store_.set_last_fire(static_cast<store_job_id>(d.job), d.scheduled);
        });
    }
    run_request request;
    request.id = d.run;
    request.scheduled = d.scheduled;
    request.job = entry.name;
    request.output_cap = entry.output_cap;
    if (entry.timeout) {
        request.timeout = *entry.timeout;
    }
    request.work = [task = entry.task](run_context& context) {
        return std::visit([&](const auto& t) -> report {
            if constexpr (std::is_same_v<std::decay_t<decltype(t)>, std::monostate>) {
                throw error("the job has no task");
            } else {
                return t.run(context);
            }
        }, *task);
    };
    if (!options_.events.empty()) {
        publish("run.started", {{"job", entry.name},
                                {"run", run.row},
                                {"scheduled", format_utc(d.scheduled)},
                                {"cause", to_string(d.cause)},
                                {"attempt", d.attempt}});
    }
    running_.emplace(d.run, std::move(run));
    to_submit_.push_back(std::move(request));
}

template <class Config>
void worker<Config>::record_not_run(const decision& d) {
    auto jit = jobs_.find(d.job);
    if (jit == jobs_.end()) {
        return;
    }
    auto& entry = jit->second;
    report r;
    r.status = d.kind == decision_kind::missed ? run_status::missed : run_status::skipped;
    r.job = entry.name;
    r.scheduled = d.scheduled;
    r.reason = d.reason;
    if (d.count > 1) {
        r.reason += " (" + std::to_string(d.count) + (d.count_is_lower_bound ? " or more" : "") +
                    " fire times up to " + format_utc(d.last_scheduled) + ")";
    }
    bool written = false;
    if (entry.history && should_deliver(entry.history_mode, r, entry.last_status) != delivery_reason::none) {
        written = guard_store("recording missed or skipped fire times", [&] {
            store_.record_run(static_cast<store_job_id>(d.job), r, *entry.history,
                              d.last_scheduled, d.count);
        });
    }
    if (entry.catch_up) {
        guard_store("recording the last fire time", [&] {
            store_.set_last_fire(static_cast<store_job_id>(d.job), d.last_scheduled);
        });
    }
    if (d.kind == decision_kind::missed) {
        log_->warn("job \"{}\": {} fire time(s) missed from {}: {}", entry.name, d.count,
                   format_utc(d.scheduled), d.reason);
    }
    if (!options_.events.empty()) {
        publish(d.kind == decision_kind::missed ? "run.missed" : "run.skipped",
            {{"job", entry.name},
             {"scheduled", format_utc(d.scheduled)},
             {"last_scheduled", format_utc(d.last_scheduled)},
             {"count", d.count},
             {"reason", d.reason}});
    }
    deliver(entry, static_cast<store_job_id>(d.job), r, entry.last_status, written);
}

template <class Config>
void worker<Config>::handle_due(instant now) {
    decisions_.clear();
    engine_.due(now, decisions_);
    for (const auto& d : decisions_) {
        switch (d.kind) {
        case decision_kind::start:
            start_run(d, now);
            // Runs of jobs without history have no row to commit first, so
            // they leave in batches of 256 instead of waiting for the whole
            // second's decisions: the first ones start sooner.
            if (to_submit_.size() >= 256 && !rows_pending_) {
                executor_->submit(std::span<run_request>(to_submit_));
                to_submit_.clear();
            }
            break;
        case decision_kind::missed:
        case decision_kind::skipped:
            record_not_run(d);
            break;
        case decision_kind::cancel:
            executor_->cancel(d.run);
            break;
        }
    }
}

template <class Config>
void worker<Config>::deliver(job_entry& entry, store_job_id job, const report& r,
                             std::optional<run_status> previous, bool history_written) {
    (void)job;
    (void)history_written;
    for (auto& s : entry.sinks) {
        auto why = should_deliver(s.mode, r, previous);
        if (why == delivery_reason::none) {
            continue;
        }
        if (why == delivery_reason::recovered || why == delivery_reason::failing) {
            // A sink receives only the report, so the state change goes into
            // its reason, which mail bodies and webhook JSON contain.
            report marked = r;
            marked.reason = std::string(why == delivery_reason::recovered
                                            ? "recovered: the first success after failures"
                                            : "failing: the first failure after a success") +
                            (r.reason.empty() ? "" : "; " + r.reason);
            dispatcher_->submit(s.sink, std::move(marked));
        } else {
            dispatcher_->submit(s.sink, r);
        }
    }
}

template <class Config>
void worker<Config>::on_finished(run_id id, report&& r) {
    auto it = running_.find(id);
    if (it == running_.end()) {
        return;
    }
    auto run = std::move(it->second);
    running_.erase(it);
    auto now = clock_.now();
    engine_.finished(id, r.status, now);
    auto jit = jobs_.find(run.job);
    if (jit == jobs_.end() || run.detached) {
        return; // removed or replaced while it ran
    }
    auto& entry = jit->second;
    r.scheduled = run.scheduled;
    r.attempt = run.attempt;
    if (r.reason.empty()) {
        r.reason = run.reason.empty() ? std::string(to_string(run.cause)) : std::move(run.reason);
    }
    auto previous = entry.last_status;
    bool written = false;
    if (run.row != 0) {
        if (should_deliver(entry.history_mode, r, previous) != delivery_reason::none) {
            written = guard_store("recording the end of a run of \"" + entry.name + "\"",
                                  [&] { store_.finish_run(run.row, r, *entry.history); });
        } else {
            guard_store("removing a run row", [&] { store_.discard_run(run.row); });
        }
    }
    if (affects_state(r.status)) {
        entry.last_status = r.status;
    }
    log_->info("job \"{}\": run {} {} in {} ms{}", entry.name, run.row, to_string(r.status),
               r.started && r.finished ? (*r.finished - *r.started).count() : 0,
               r.error.empty() ? std::string() : ": " + r.error);
    if (!options_.events.empty()) {
        auto body = report_to_json(r);
        body["run"] = run.row;
        publish("run.finished", body);
    }
    deliver(entry, static_cast<store_job_id>(run.job), r, previous, written);
}

template <class Config>
template <class Write>
bool worker<Config>::guard_store(const std::string& what, Write&& write) {
    try {
        write();
        return true;
    } catch (const store_error& e) {
        // One line per failure would flood the log while the disk is full:
        // the first, then every 1,000th.
        if (store_failures_++ % 1000 == 0) {
            log_->error("store error while {} ({} so far); the run goes on unrecorded: {}", what,
                        store_failures_, e.what());
        }
        return false;
    }
}

template <class Config>
void worker<Config>::prune_all() {
    auto now = detail::now_ms();
    guard_store("pruning the history by age", [&] {
        store::transaction tx(store_);
        for (const auto& [id, entry] : jobs_) {
            if (entry.history) {
                store_.prune(static_cast<store_job_id>(id), *entry.history, now);
            }
        }
        tx.commit();
    });
}

template <class Config>
int worker<Config>::wait_timeout_ms() const {
    auto next = engine_.next_wakeup();
    constexpr int idle_ms = 60'000; // re-read the clock at least once a minute
    if (!next) {
        return idle_ms;
    }
    auto now = clock_.now();
    if (*next <= now) {
        return 0;
    }
    if constexpr (std::is_same_v<clock_type, system_clock_source>) {
        // Rounded down: poll's millisecond timeout would otherwise wake up to
        // 1 ms after the second starts. step() sleeps the rest precisely.
        auto precise = std::chrono::system_clock::now();
        auto wait = std::chrono::floor<std::chrono::milliseconds>(*next - precise);
        return static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, idle_ms));
    } else {
        return static_cast<int>(std::clamp<std::int64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count(), 0, idle_ms));
    }
}

template <class Config>
void worker<Config>::turn() {
    {
        // One transaction per turn: the runs that started and ended in it,
        // written together.
        store::transaction tx(store_, store::deferred);
        executor_->drain(finished_, [&](run_id id, report&& r) { on_finished(id, std::move(r)); });
        if (!shutting_down_) {
            handle_due(clock_.now());
        }
        if (!guard_store("committing a loop turn", [&] { tx.commit(); })) {
            // Rolled back: the runs started in this turn have no row any
            // more and end unrecorded; runs that ended in it keep their
            // running row and are recorded interrupted at the next open.
            for (auto& request : to_submit_) {
                if (auto it = running_.find(request.id); it != running_.end()) {
                    it->second.row = 0;
                }
            }
        }
    }
    rows_pending_ = false;
    if (!to_submit_.empty()) {
        executor_->submit(std::span<run_request>(to_submit_));
        to_submit_.clear();
    }
    // Control requests after the commit: each one commits on its own, so
    // its reply means it is on disk.
    handle_control();
    if (std::chrono::steady_clock::now() >= next_prune_) {
        prune_all();
        next_prune_ = std::chrono::steady_clock::now() + options_.prune_every;
    }
}

template <class Config>
void worker<Config>::step(std::chrono::milliseconds max_wait) {
    zmq::pollitem_t items[4] = {
        {control_.handle(), 0, ZMQ_POLLIN, 0},
        {finished_.handle(), 0, ZMQ_POLLIN, 0},
        {wake_.handle(), 0, ZMQ_POLLIN, 0},
        {zap_ ? zap_->handle() : nullptr, 0, ZMQ_POLLIN, 0},
    };
    auto wait = std::min<std::int64_t>(wait_timeout_ms(), max_wait.count());
    auto ready = zmq::poll(items, zap_ ? 4 : 3, std::chrono::milliseconds{wait});
    if constexpr (std::is_same_v<clock_type, system_clock_source>) {
        // The timeout ended just before the next fire time: sleep the last
        // fraction of a millisecond so that runs start on the second.
        if (ready == 0 && wait < max_wait.count()) {
            if (auto next = engine_.next_wakeup();
                next && std::chrono::system_clock::now() < *next &&
                *next - std::chrono::system_clock::now() < std::chrono::milliseconds{2}) {
                std::this_thread::sleep_until(*next);
            }
        }
    }
    if (items[2].revents & ZMQ_POLLIN) {
        zmq::message_t m;
        while (wake_.recv(m, zmq::recv_flags::dontwait)) {
        }
    }
    if (zap_ && (items[3].revents & ZMQ_POLLIN)) {
        handle_zap();
    }
    turn();
}

template <class Config>
void worker<Config>::run() {
    log_->info("worker started on {} (control {}{}{}), {} jobs", store_.path().string(),
               options_.control, options_.events.empty() ? "" : ", events ", options_.events,
               jobs_.size());
    while (!stop_requested_.load()) {
        step(std::chrono::milliseconds{60'000});
    }
    shutdown_runs();
    log_->info("worker stopped");
}

// No new runs; running ones are asked to stop and get stop_grace to end; the
// ones still going after it are recorded interrupted.
template <class Config>
void worker<Config>::shutdown_runs() {
    shutting_down_ = true;
    if (!running_.empty()) {
        log_->info("stopping: {} runs still going get {} ms to end", running_.size(),
                   options_.stop_grace.count());
    }
    executor_->cancel_all();
    auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
    while (!running_.empty() && std::chrono::steady_clock::now() < deadline) {
        zmq::pollitem_t item{finished_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds{100});
        store::transaction tx(store_, store::deferred);
        executor_->drain(finished_, [&](run_id id, report&& r) { on_finished(id, std::move(r)); });
        guard_store("committing finished runs at shutdown", [&] { tx.commit(); });
    }
    if (!running_.empty()) {
        // The stop grace bounds the whole stop: commands still running get
        // SIGKILL now, whatever their own kill grace, so that the executor's
        // threads return and the process can exit.
        auto killed = signal_running_children(SIGKILL);
        if (killed > 0) {
            log_->warn("stop grace over: sent SIGKILL to {} command process groups", killed);
        }
        store::transaction tx(store_, store::deferred);
        for (auto& [id, run] : running_) {
            auto jit = jobs_.find(run.job);
            if (run.row != 0 && jit != jobs_.end()) {
                report r;
                r.status = run_status::interrupted;
                r.error = "the worker stopped and the run did not end within the stop grace";
                guard_store("recording an interrupted run",
                            [&] { store_.finish_run(run.row, r, *jit->second.history); });
                log_->warn("job \"{}\": run {} recorded interrupted at shutdown", jit->second.name,
                           run.row);
            }
        }
        guard_store("committing interrupted runs at shutdown", [&] { tx.commit(); });
        running_.clear();
    }
    dispatcher_->stop(std::chrono::milliseconds{5000});
}

template <class Config>
void worker<Config>::stop() {
    stop_requested_ = true;
    poke();
}

template <class Config>
void worker<Config>::poke() {
    try {
        zmq::socket_t push(context_, zmq::socket_type::push);
        push.set(zmq::sockopt::linger, 100);
        push.connect(wake_endpoint_);
        push.send(zmq::message_t(), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
        // The context is closing: the loop is stopping anyway.
    }
}

} // namespace chime
