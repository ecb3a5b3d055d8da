// The worker through its real sockets: a control client over inproc or
// tcp, a real store file, real shell commands, and a manual clock that the
// tests advance before they poke the loop.
#include <chime/default_triggers.hpp>
#include <chime/process/shell_task.hpp>
#include <chime/sinks/log_sink.hpp>
#include <chime/sqlite/history_sink.hpp>
#include <chime/zmq/protocol.hpp>
#include <chime/zmq/worker.hpp>

#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>

#include <support/manual_clock.hpp>

#include <chrono>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct noop_task {
    static constexpr std::string_view kind = "noop";
    static noop_task from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context& context) const {
        context.output.write("noop ran");
        return {};
    }
};

struct throwing_task {
    static constexpr std::string_view kind = "throwing";
    static throwing_task from_json(const json&) { return {}; }
    json to_json() const { return json::object(); }
    chime::report run(chime::run_context&) const { throw std::runtime_error("boom at run time"); }
};

// A copyable handle on a manual clock shared with the test.
struct clock_handle {
    chime::testing::manual_clock* clock;
    chime::instant now() const noexcept { return clock->now(); }
};

struct test_config {
    using triggers = chime::default_triggers;
    using tasks = chime::task_registry<chime::shell_task, noop_task, throwing_task>;
    using sinks = chime::sink_registry<chime::history_sink, chime::log_sink>;
    using clock = clock_handle;
};

using test_worker = chime::worker<test_config>;

std::shared_ptr<spdlog::logger> quiet_logger() {
    static auto logger =
        std::make_shared<spdlog::logger>("worker-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    return logger;
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "chime-worker-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A worker running in a thread, and a client connected to it.
struct running_worker {
    chime::testing::manual_clock clock{chime::instant{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}}};
    temp_dir dir;
    std::string endpoint;
    std::unique_ptr<test_worker> worker;
    std::jthread thread;

    explicit running_worker(std::string control = "") {
        chime::worker_options options;
        options.logger = quiet_logger();
    options.logger = quiet_logger();
        options.database = dir.path / "chime.db";
        options.control = control.empty() ? "ipc://" + (dir.path / "control").string() : control;
        options.events = "ipc://" + (dir.path / "events").string();
        options.threads = 2;
        options.stop_grace = 2s;
        endpoint = options.control;
        worker = std::make_unique<test_worker>(options, clock_handle{&clock});
        thread = std::jthread([this] { worker->run(); });
    }
    ~running_worker() { stop(); }
    void stop() {
        if (thread.joinable()) {
            worker->stop();
            thread.join();
        }
    }
    void advance(std::chrono::seconds d) {
        clock.advance(d);
        worker->poke();
    }
};

json call(chime::control_client& client, json request) {
    auto reply = client.request(std::move(request), 5s);
    REQUIRE(reply);
    return *reply;
}

json ok(chime::control_client& client, json request) {
    auto reply = call(client, request);
    INFO(reply.dump());
    REQUIRE(reply["ok"] == true);
    return reply["result"];
}

json noop_every(const char* name, const char* period) {
    return {{"name", name},
            {"trigger", {{"kind", "interval"}, {"every", period}}},
            {"task", {{"kind", "noop"}}}};
}

// Polls the history of `name` until `predicate` is true or 10 s pass.
template <class Predicate>
json wait_for_history(chime::control_client& client, const std::string& name, Predicate predicate) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    json runs;
    while (std::chrono::steady_clock::now() < deadline) {
        runs = ok(client, {{"op", "history"}, {"name", name}, {"limit", 100}})["runs"];
        if (predicate(runs)) {
            return runs;
        }
        std::this_thread::yield();
    }
    FAIL("history of " << name << " never matched; last: " << runs.dump());
    return runs;
}

} // namespace

TEST_CASE("The worker answers ping with its pid and protocol version", "[worker][protocol]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    auto result = ok(client, {{"op", "ping"}});
    CHECK(result["pong"] == true);
    CHECK(result["protocol"] == chime::protocol_version);
    CHECK(result["pid"] == ::getpid());
}

TEST_CASE("A job is added, read, listed, paused, resumed and removed", "[worker][protocol]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    auto added = ok(client, {{"op", "add"}, {"job", noop_every("tick", "PT10S")}});
    CHECK(added["name"] == "tick");
    CHECK(added["paused"] == false);
    CHECK(added["next_run"] == "2026-01-01T00:00:10Z");
    CHECK(added["sinks"] == json::array({{{"kind", "history"}}}));

    auto got = ok(client, {{"op", "get"}, {"name", "tick"}});
    CHECK(got["trigger"]["kind"] == "interval");

    auto listed = ok(client, {{"op", "list"}})["jobs"];
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["name"] == "tick");

    CHECK(ok(client, {{"op", "pause"}, {"name", "tick"}})["paused"] == true);
    CHECK(ok(client, {{"op", "get"}, {"name", "tick"}})["next_run"].is_null());
    CHECK(ok(client, {{"op", "resume"}, {"name", "tick"}})["paused"] == false);

    auto updated = ok(client, {{"op", "update"},
                               {"name", "tick"},
                               {"job", {{"trigger", {{"kind", "cron"}, {"expr", "0 3 * * *"}}}}}});
    CHECK(updated["trigger"]["kind"] == "cron");
    CHECK(updated["next_run"] == "2026-01-01T03:00:00Z");

    CHECK(ok(client, {{"op", "remove"}, {"name", "tick"}})["removed"] == true);
    CHECK(ok(client, {{"op", "list"}})["jobs"].empty());
    auto missing = call(client, {{"op", "get"}, {"name", "tick"}});
    CHECK(missing["ok"] == false);
    CHECK(missing["error"]["code"] == "not_found");
}

TEST_CASE("Bad requests get an error reply with a stable code and change nothing",
          "[worker][protocol]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    ok(client, {{"op", "add"}, {"job", noop_every("keep", "PT1M")}});
    auto before = ok(client, {{"op", "export"}});

    auto not_json = client.request_raw("{this is not json", 5s);
    REQUIRE(not_json);
    CHECK((*not_json)["error"]["code"] == "bad_json");

    auto array = client.request_raw("[1, 2]", 5s);
    REQUIRE(array);
    CHECK((*array)["error"]["code"] == "bad_request");
    CHECK(call(client, {{"op", 7}})["error"]["code"] == "bad_request");
    auto unknown = call(client, {{"op", "explode"}});
    CHECK(unknown["error"]["code"] == "unknown_op");
    CHECK(unknown["error"]["message"].get<std::string>().find("\"explode\"") != std::string::npos);

    auto bad_cron = call(client, {{"op", "add"},
                                  {"job", {{"name", "bad"},
                                           {"trigger", {{"kind", "cron"}, {"expr", "61 * * * *"}}},
                                           {"task", {{"kind", "noop"}}}}}});
    CHECK(bad_cron["error"]["code"] == "invalid_job");
    CHECK(bad_cron["error"]["message"].get<std::string>().find("61") != std::string::npos);

    auto unknown_task = call(client, {{"op", "add"},
                                      {"job", {{"name", "bad"},
                                               {"trigger", {{"kind", "interval"}, {"every", "PT1M"}}},
                                               {"task", {{"kind", "teleport"}}}}}});
    CHECK(unknown_task["error"]["code"] == "invalid_job");

    auto duplicate = call(client, {{"op", "add"}, {"job", noop_every("keep", "PT5M")}});
    CHECK(duplicate["error"]["code"] == "conflict");

    // Over the 16 MiB limit and under the socket's cap (four times it).
    auto too_large = client.request_raw(std::string(17 << 20, ' '), 10s);
    REQUIRE(too_large);
    CHECK((*too_large)["error"]["code"] == "too_large");

    std::string deep = "{\"op\":\"ping\",\"id\":" + std::string(100000, '[') +
                       std::string(100000, ']') + "}";
    auto nested = client.request_raw(deep, 5s);
    REQUIRE(nested);
    CHECK((*nested)["error"]["code"] == "bad_request");
    CHECK((*nested)["error"]["message"].get<std::string>().find("deep") != std::string::npos);

    auto task_kind_number = call(client, {{"op", "add"},
                                          {"job", {{"name", "typed"},
                                                   {"trigger", {{"kind", "interval"}, {"every", "PT1M"}}},
                                                   {"task", {{"kind", 5}}}}}});
    CHECK(task_kind_number["error"]["code"] == "invalid_job");
    auto replace_text = call(client, {{"op", "import"}, {"jobs", json::array()}, {"replace", "yes"}});
    CHECK(replace_text["error"]["code"] == "bad_request");
    for (const char* bad_name : {"-h", "bell\a", " padded", ""}) {
        auto named = noop_every("x", "PT1M");
        named["name"] = bad_name;
        CHECK(call(client, {{"op", "add"}, {"job", named}})["error"]["code"] == "invalid_job");
    }

    chime::control_client fresh(w.endpoint);
    CHECK(ok(fresh, {{"op", "export"}}) == before);
}

TEST_CASE("A burst of random frames leaves the worker running and its data unchanged",
          "[worker][protocol][fuzz]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    ok(client, {{"op", "add"}, {"job", noop_every("keep", "PT1M")}});
    auto before = ok(client, {{"op", "export"}});
    {
        zmq::context_t context;
        zmq::socket_t raw(context, zmq::socket_type::dealer);
        raw.set(zmq::sockopt::linger, 0);
        raw.connect(w.endpoint);
        std::mt19937 random(42);
        for (int i = 0; i < 2000; ++i) {
            std::string frame(random() % 300, '\0');
            for (auto& c : frame) {
                c = static_cast<char>(random());
            }
            if (i % 3 == 0) {
                raw.send(zmq::buffer(frame), zmq::send_flags::sndmore);
            }
            raw.send(zmq::buffer(frame), zmq::send_flags::none);
        }
    }
    chime::control_client fresh(w.endpoint);
    CHECK(ok(fresh, {{"op", "ping"}})["pong"] == true);
    CHECK(ok(fresh, {{"op", "export"}}) == before);
}

TEST_CASE("Due runs start when the clock reaches them and land in the history",
          "[worker][runs]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    ok(client, {{"op", "add"}, {"job", noop_every("tick", "PT10S")}});
    w.advance(10s);
    auto runs = wait_for_history(client, "tick", [](const json& r) {
        return r.size() == 1 && r[0]["status"] == "succeeded";
    });
    CHECK(runs[0]["scheduled"] == "2026-01-01T00:00:10Z");
    CHECK(runs[0]["output"] == "noop ran");
    w.advance(10s);
    runs = wait_for_history(client, "tick", [](const json& r) { return r.size() == 2 && r[0]["status"] == "succeeded"; });
    CHECK(runs[0]["scheduled"] == "2026-01-01T00:00:20Z");
    auto job = ok(client, {{"op", "get"}, {"name", "tick"}});
    CHECK(job["last_run"]["status"] == "succeeded");
}

TEST_CASE("A task that throws gives a failed run with the exception's message",
          "[worker][runs]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    auto job = noop_every("bad", "PT10S");
    job["task"] = {{"kind", "throwing"}};
    ok(client, {{"op", "add"}, {"job", job}});
    ok(client, {{"op", "run_now"}, {"name", "bad"}});
    w.worker->poke();
    auto runs = wait_for_history(client, "bad", [](const json& r) {
        return !r.empty() && r[0]["status"] == "failed";
    });
    CHECK(runs[0]["error"].get<std::string>().find("boom at run time") != std::string::npos);
    CHECK(runs[0]["reason"] == "run now requested");
}

TEST_CASE("Shell job records output and exit code",
          "[worker][runs]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    json job = {{"name", "echo"},
                {"trigger", {{"kind", "interval"}, {"every", "PT1M"}}},
                {"task", {{"kind", "shell"}, {"command", "echo hello; exit 3"}}}};
    ok(client, {{"op", "add"}, {"job", job}});
    ok(client, {{"op", "run_now"}, {"name", "echo"}});
    auto runs = wait_for_history(client, "echo", [](const json& r) {
        return !r.empty() && r[0]["status"] != "running";
    });
    CHECK(runs[0]["status"] == "failed");
    CHECK(runs[0]["exit_code"] == 3);
    CHECK(runs[0]["output"] == "hello\n");
}

TEST_CASE("A replaced or removed job's running run never lands on another job",
          "[worker][runs]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    json job = {{"name", "slow"},
                {"trigger", {{"kind", "interval"}, {"every", "PT1H"}}},
                {"task", {{"kind", "shell"}, {"command", "sleep 0.3"}}}};
    ok(client, {{"op", "add"}, {"job", job}});
    ok(client, {{"op", "run_now"}, {"name", "slow"}});
    wait_for_history(client, "slow", [](const json& r) { return !r.empty(); });
    auto old_id = ok(client, {{"op", "get"}, {"name", "slow"}})["id"];
    ok(client, {{"op", "import"}, {"jobs", json::array({job})}, {"replace", true}});
    ok(client, {{"op", "remove"}, {"name", "slow"}});
    ok(client, {{"op", "add"}, {"job", noop_every("fresh", "PT1H")}});
    auto fresh = ok(client, {{"op", "get"}, {"name", "fresh"}});
    CHECK(fresh["id"] != old_id);
    CHECK(fresh["running"] == 0);
    // The old run ends during the next 300 ms; the worker must live on.
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline) {
        ok(client, {{"op", "ping"}});
    }
    CHECK(ok(client, {{"op", "history"}, {"name", "fresh"}})["runs"].empty());
}

TEST_CASE("Events announce job changes and each run's start and end", "[worker][events]") {
    running_worker w;
    zmq::context_t context;
    zmq::socket_t events(context, zmq::socket_type::sub);
    events.set(zmq::sockopt::subscribe, "");
    events.set(zmq::sockopt::rcvtimeo, 5000);
    events.connect("ipc://" + (w.dir.path / "events").string());
    chime::control_client client(w.endpoint);
    // A SUB socket misses what is published before it has connected, so
    // the test adds jobs until the first job.changed event arrives.
    std::vector<std::pair<std::string, json>> seen;
    auto receive = [&]() -> bool {
        zmq::message_t topic;
        zmq::message_t body;
        if (!events.recv(topic) || !events.recv(body)) {
            return false;
        }
        seen.emplace_back(topic.to_string(), json::parse(body.to_string()));
        return true;
    };
    events.set(zmq::sockopt::rcvtimeo, 200);
    for (int i = 0; i < 25 && seen.empty(); ++i) {
        ok(client, {{"op", "add"}, {"job", noop_every(("probe-" + std::to_string(i)).c_str(), "PT1H")}});
        receive();
    }
    REQUIRE_FALSE(seen.empty());
    CHECK(seen[0].first == "job.changed");
    CHECK(seen[0].second["change"] == "added");

    events.set(zmq::sockopt::rcvtimeo, 5000);
    ok(client, {{"op", "run_now"}, {"name", "probe-0"}});
    std::vector<std::string> topics;
    while (topics.size() < 2 && receive()) {
        if (seen.back().first.starts_with("run.")) {
            topics.push_back(seen.back().first);
            if (seen.back().first == "run.finished") {
                CHECK(seen.back().second["status"] == "succeeded");
                CHECK(seen.back().second["job"] == "probe-0");
            }
        }
    }
    CHECK(topics == std::vector<std::string>{"run.started", "run.finished"});
}

TEST_CASE("Jobs survive a restart of the worker", "[worker][store]") {
    temp_dir dir;
    chime::testing::manual_clock clock{chime::instant{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}}};
    chime::worker_options options;
    options.logger = quiet_logger();
    options.database = dir.path / "chime.db";
    options.control = "inproc://restart";
    options.threads = 1;
    {
        test_worker w(options, clock_handle{&clock});
        w.add_jobs({noop_every("a", "PT1M"), noop_every("b", "PT5M")});
    }
    test_worker again(options, clock_handle{&clock});
    CHECK(again.database().job_count() == 2);
    CHECK(again.scheduler().size() == 2);
}

TEST_CASE("A second worker on the same database fails and names the holder", "[worker][store]") {
    running_worker w;
    chime::worker_options options;
    options.logger = quiet_logger();
    options.database = w.dir.path / "chime.db";
    options.control = "inproc://second";
    CHECK_THROWS_WITH(test_worker(options, clock_handle{&w.clock}),
                      Catch::Contains("in use by process " + std::to_string(::getpid())));
}

TEST_CASE("A shutdown request makes run() return", "[worker][protocol]") {
    running_worker w;
    chime::control_client client(w.endpoint);
    CHECK(ok(client, {{"op", "shutdown"}})["stopping"] == true);
    w.thread.join(); // returns because the loop ended by itself
    SUCCEED();
}

TEST_CASE("Plain tcp is refused with a message on how to create keys", "[worker][curve]") {
    temp_dir dir;
    chime::testing::manual_clock clock;
    chime::worker_options options;
    options.logger = quiet_logger();
    options.database = dir.path / "chime.db";
    options.control = "tcp://127.0.0.1:*";
    CHECK_THROWS_WITH(test_worker(options, clock_handle{&clock}),
                      Catch::Contains("plain tcp is refused") && Catch::Contains("chimed keygen"));
}

TEST_CASE("Over tcp only clients whose keys are authorized get answers", "[worker][curve]") {
    temp_dir keys;
    chime::write_curve_key_pair(keys.path / "server");
    chime::write_curve_key_pair(keys.path / "client");
    chime::write_curve_key_pair(keys.path / "stranger");
    fs::copy_file(keys.path / "client.pub", keys.path / "authorized");

    // A free port: bind, read it, close, then let the worker bind it.
    std::string port;
    {
        zmq::context_t c;
        zmq::socket_t probe(c, zmq::socket_type::router);
        probe.bind("tcp://127.0.0.1:*");
        auto last = probe.get(zmq::sockopt::last_endpoint);
        port = last.substr(last.rfind(':') + 1);
    }
    temp_dir dir;
    chime::testing::manual_clock clock;
    chime::worker_options options;
    options.logger = quiet_logger();
    options.database = dir.path / "chime.db";
    options.control = "tcp://127.0.0.1:" + port;
    options.curve.server_secret_key_file = keys.path / "server.key";
    options.curve.authorized_keys_file = keys.path / "authorized";
    test_worker w(options, clock_handle{&clock});
    std::jthread loop([&] { w.run(); });

    chime::curve_options client_keys;
    client_keys.server_public_key_file = keys.path / "server.pub";
    client_keys.client_secret_key_file = keys.path / "client.key";
    chime::control_client allowed(options.control, client_keys);
    auto reply = allowed.request({{"op", "ping"}}, 5s);
    REQUIRE(reply);
    CHECK((*reply)["ok"] == true);

    client_keys.client_secret_key_file = keys.path / "stranger.key";
    chime::control_client refused(options.control, client_keys);
    CHECK_FALSE(refused.request({{"op", "ping"}}, 500ms));

    CHECK_THROWS_WITH(chime::control_client(options.control),
                      Catch::Contains("needs CURVE keys"));
    w.stop();
}
