// chimectl, the command-line client of chime. This version has one command,
// `next`, which works without a daemon. The commands that control a running
// chimed are named in the help so that a user who tries one learns that it is
// not there yet, instead of reading "unknown command".
#include "next_command.hpp"

#include <array>
#include <exception>
#include <iostream>
#include <new>
#include <span>
#include <string_view>
#include <vector>

namespace {

// Commands that need the chimed daemon, which does not exist yet.
constexpr std::array<std::string_view, 10> daemon_commands = {
    "add", "edit", "list", "show", "history", "run-now", "pause", "resume", "remove", "import"};

void print_usage(std::ostream& out) {
    out << R"(Usage: chimectl COMMAND [ARGS]

Commands:
  next    print the next fire times of a cron expression or JSON trigger;
          needs no daemon (see chimectl next --help)

Not available yet, because they control the chimed daemon:
  add, edit, list, show, history, run-now, pause, resume, remove, import

Options:
  -h, --help   print this help
  --version    print the chimectl version
)";
}

bool is_daemon_command(std::string_view name) {
    for (auto command : daemon_commands) {
        if (command == name) {
            return true;
        }
    }
    return false;
}

int run(std::span<const std::string_view> args) {
    if (args.empty()) {
        print_usage(std::cerr);
        return chimectl::exit_usage;
    }
    const auto command = args.front();
    if (command == "help" && args.size() > 1 && args[1] == "next") {
        chimectl::print_next_usage(std::cout);
        return chimectl::exit_ok;
    }
    if (command == "-h" || command == "--help" || command == "help") {
        print_usage(std::cout);
        return chimectl::exit_ok;
    }
    if (command == "--version") {
        std::cout << "chimectl " << CHIME_VERSION_TEXT << '\n';
        return chimectl::exit_ok;
    }
    if (command == "next") {
        return chimectl::run_next(args.subspan(1), std::cout, std::cerr);
    }
    if (is_daemon_command(command)) {
        std::cerr << "chimectl: \"" << command
                  << "\" is not available yet: it needs the chimed daemon, which this version "
                     "does not include; only \"next\" works\n";
        return chimectl::exit_usage;
    }
    std::cerr << "chimectl: unknown command \"" << command << "\"; see chimectl --help\n";
    return chimectl::exit_usage;
}

} // namespace

int main(int argc, char** argv) {
    try {
        std::vector<std::string_view> args(argv + 1, argv + argc);
        int status = run(args);
        std::cout.flush();
        if (!std::cout) {
            std::cerr << "chimectl: writing to standard output failed\n";
            return chimectl::exit_failure;
        }
        return status;
    } catch (const std::bad_alloc&) {
        std::cerr << "chimectl: out of memory\n";
    } catch (const std::exception& e) {
        // The commands report invalid input themselves, so an exception that
        // reaches this point is a failure of chimectl or of the system under it.
        std::cerr << "chimectl: internal error: " << e.what() << '\n';
    }
    return chimectl::exit_failure;
}
