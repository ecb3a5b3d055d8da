// chimed, the chime scheduler daemon: a worker on a SQLite file, controlled
// by chimectl over a local socket.
//
//   chimed                      ./chime.db, sockets ./chime.control and ./chime.events
//   chimed --db /var/lib/chime/chime.db --log-level debug
//   chimed keygen server        writes server.key and server.pub for tcp://
//
// SIGTERM and SIGINT stop it cleanly. No new run starts, running runs get a
// stop request and the stop grace to end, and those still going are recorded
// interrupted.
#include "chimed_config.hpp"

#include <chime/iso8601.hpp>
#include <chime/zmq/worker.hpp>

#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

void print_usage(std::ostream& out) {
    out << R"(Usage: chimed [OPTIONS]
       chimed keygen NAME

Runs the chime scheduler on a SQLite database, controlled by chimectl.

Options:
  --db PATH               the database (default ./chime.db, created if missing)
  --control ENDPOINT      control socket (default ipc://DIR/NAME.control beside
                          the database: ./chime.control for ./chime.db)
  --events ENDPOINT       event socket (default ipc://DIR/NAME.events), or "none"
  --log-level LEVEL       trace, debug, info (default), warn, error or off
  --threads N             task threads (default: one per core, at least 4)
  --stop-grace DURATION   how long runs get to end at shutdown (default 15s)
  --curve-secret FILE     server secret key, required for tcp:// endpoints
  --curve-authorized FILE client public keys allowed to connect over tcp://
  -h, --help              print this help
  --version               print the version

chimed keygen NAME writes NAME.key (secret, mode 0600) and NAME.pub.
Durations: ISO 8601 (PT30S) or 30s, 5m, 2h, 1d.
)";
}

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::chrono::milliseconds parse_short_duration(std::string_view text, std::string_view option) {
    std::string t(text);
    if (!t.empty() && t[0] != 'P' && t[0] != 'p') {
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        std::string unit(end, static_cast<const char*>(t.data() + t.size()));
        std::uint64_t scale = 0;
        if (unit == "s") {
            scale = 1;
        } else if (unit == "m") {
            scale = 60;
        } else if (unit == "h") {
            scale = 3600;
        } else if (unit == "d") {
            scale = 86400;
        }
        if (ec != std::errc() || scale == 0 || end == t.data()) {
            throw usage_error(std::string(option) + ": \"" + t +
                              "\" is not a duration; use ISO 8601 such as PT30S, or 30s, 5m, 2h, 1d");
        }
        return std::chrono::seconds{n * scale};
    }
    try {
        return chime::parse_elapsed_duration(t);
    } catch (const chime::invalid_input& e) {
        throw usage_error(std::string(option) + ": " + e.what());
    }
}

// The socket beside the database: ipc://DIR/STEM.SUFFIX, relative when the
// database path is, because a socket path has a short length limit.
std::string beside(const std::filesystem::path& db, std::string_view suffix) {
    auto socket = db.parent_path() / (db.stem().string() + "." + std::string(suffix));
    return "ipc://" + socket.string();
}

int run(std::vector<std::string_view> args) {
    if (!args.empty() && args[0] == "keygen") {
        if (args.size() != 2) {
            throw usage_error("keygen needs one NAME: chimed keygen NAME");
        }
        chime::write_curve_key_pair(std::filesystem::path(args[1]));
        std::cout << "wrote " << args[1] << ".key (secret) and " << args[1] << ".pub (public)\n";
        return exit_ok;
    }
    chime::worker_options options;
    options.database = "chime.db";
    std::optional<std::string> control;
    std::optional<std::string> events;
    std::string level = "info";
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto arg = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                throw usage_error(std::string(arg) + " needs a value");
            }
            return std::string(args[++i]);
        };
        if (arg == "-h" || arg == "--help") {
            print_usage(std::cout);
            return exit_ok;
        } else if (arg == "--version") {
            std::cout << "chimed " << CHIME_VERSION_TEXT << '\n';
            return exit_ok;
        } else if (arg == "--db") {
            options.database = value();
        } else if (arg == "--control") {
            control = value();
        } else if (arg == "--events") {
            events = value();
        } else if (arg == "--log-level") {
            level = value();
        } else if (arg == "--threads") {
            auto text = value();
            std::size_t n = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > 4096) {
                throw usage_error("--threads: \"" + text + "\" must be a number from 1 to 4096");
            }
            options.threads = n;
        } else if (arg == "--stop-grace") {
            options.stop_grace = parse_short_duration(value(), "--stop-grace");
        } else if (arg == "--curve-secret") {
            options.curve.server_secret_key_file = value();
        } else if (arg == "--curve-authorized") {
            options.curve.authorized_keys_file = value();
        } else {
            throw usage_error("unknown option \"" + std::string(arg) + "\"; see chimed --help");
        }
    }
    auto parsed_level = spdlog::level::from_str(level);
    if (parsed_level == spdlog::level::off && level != "off") {
        throw usage_error("--log-level: \"" + level +
                          "\" is not a level; use trace, debug, info, warn, error or off");
    }
    spdlog::set_level(parsed_level);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z chimed[%P] %l: %v");
    options.control = control.value_or(beside(options.database, "control"));
    options.events = events.value_or(beside(options.database, "events"));
    if (options.events == "none") {
        options.events.clear();
    }

    // Block the stop signals in every thread; one thread waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::unique_ptr<chime::worker<chimed::config>> worker;
    try {
        worker = std::make_unique<chime::worker<chimed::config>>(options);
    } catch (const chime::error& e) {
        std::cerr << "chimed: " << e.what() << '\n';
        return dynamic_cast<const chime::invalid_input*>(&e) ? exit_usage : exit_failure;
    }
    std::jthread signals([&](std::stop_token stop) {
        while (!stop.stop_requested()) {
            timespec wait{0, 200'000'000};
            int sig = sigtimedwait(&stop_signals, nullptr, &wait);
            if (sig > 0) {
                spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                worker->stop();
                return;
            }
        }
    });
    spdlog::info("chimed {} started, pid {}, database {}", CHIME_VERSION_TEXT, ::getpid(),
                 options.database.string());
    worker->run();
    signals.request_stop();
    signals.join();
    worker.reset();
    // The sockets are files. Removing them lets chimectl report "not running".
    for (const auto& endpoint : {options.control, options.events}) {
        if (endpoint.starts_with("ipc://")) {
            std::error_code ec;
            std::filesystem::remove(endpoint.substr(6), ec);
        }
    }
    spdlog::info("chimed stopped");
    return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    // Sockets and the database are created for the owner only.
    ::umask(0077);
    try {
        return run(std::vector<std::string_view>(argv + 1, argv + argc));
    } catch (const usage_error& e) {
        std::cerr << "chimed: " << e.what() << '\n';
        return exit_usage;
    } catch (const chime::invalid_input& e) {
        std::cerr << "chimed: " << e.what() << '\n';
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "chimed: " << e.what() << '\n';
        return exit_failure;
    }
}
