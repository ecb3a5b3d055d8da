// A program that embeds the chime worker in a thread, with a task type of
// its own. It adds a job that greets every second, waits for two runs, prints
// them from the history, and stops the worker.
//
// Output (times vary):
//   added greeter, next run 2026-12-05T10:00:01Z
//   run 2 succeeded at 2026-12-05T10:00:02Z: hello from a C++ task, Ada
//   run 1 succeeded at 2026-12-05T10:00:01Z: hello from a C++ task, Ada
#include <chime/default_triggers.hpp>
#include <chime/sqlite/history_sink.hpp>
#include <chime/zmq/protocol.hpp>
#include <chime/zmq/worker.hpp>

#include <spdlog/sinks/null_sink.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

// The task: typed settings read from JSON, and a run() that the worker's
// threads call. Throwing would record a failed run.
struct greet_task {
    static constexpr std::string_view kind = "greet";
    std::string who;

    static greet_task from_json(const nlohmann::json& settings) {
        if (!settings.contains("who") || !settings["who"].is_string()) {
            throw chime::invalid_input("greet task: \"who\" must be a string");
        }
        return {settings["who"].get<std::string>()};
    }
    nlohmann::json to_json() const { return {{"who", who}}; }

    chime::report run(chime::run_context& context) const {
        context.output.write("hello from a C++ task, " + who);
        return {}; // succeeded
    }
};

// The registries: which triggers, tasks and sinks this program's jobs may use.
struct config {
    using triggers = chime::default_triggers;
    using tasks = chime::task_registry<greet_task>;
    using sinks = chime::sink_registry<chime::history_sink>;
};

int main() {
    auto dir = std::filesystem::temp_directory_path() / ("chime-embedded-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);

    chime::worker_options options;
    options.database = dir / "jobs.db";
    options.control = "inproc://embedded"; // in this process only
    options.events.clear();
    options.logger = std::make_shared<spdlog::logger>(
        "quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
    chime::worker<config> worker(options);
    std::jthread loop([&] { worker.run(); });

    chime::control_client client(worker.context(), options.control);
    auto added = client.request({{"op", "add"},
                                 {"job", {{"name", "greeter"},
                                          {"trigger", {{"kind", "interval"}, {"every", "PT1S"}}},
                                          {"task", {{"kind", "greet"}, {"who", "Ada"}}}}}});
    if (!added || (*added)["ok"] != true) {
        std::cerr << "add failed: " << (added ? added->dump() : "no reply") << '\n';
        return EXIT_FAILURE;
    }
    std::cout << "added greeter, next run " << (*added)["result"]["next_run"].get<std::string>() << '\n';

    // Wait (up to 10 s) for two finished runs in the history.
    nlohmann::json runs;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (std::chrono::steady_clock::now() < deadline) {
        auto reply = client.request({{"op", "history"}, {"name", "greeter"}});
        runs = (*reply)["result"]["runs"];
        if (runs.size() >= 2 && runs[1]["status"] != "running" && runs[0]["status"] != "running") {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    for (const auto& run : runs) {
        std::cout << "run " << run["id"] << ' ' << run["status"].get<std::string>() << " at "
                  << run["scheduled"].get<std::string>() << ": " << run["output"].get<std::string>()
                  << '\n';
    }
    worker.stop();
    loop.join();
    std::filesystem::remove_all(dir);
    return runs.size() >= 2 ? EXIT_SUCCESS : EXIT_FAILURE;
}
