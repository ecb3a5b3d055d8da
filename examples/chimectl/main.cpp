// chimectl, the command-line client of chime: `next` works without a daemon;
// the other commands control a running chimed over its control socket.
#include "daemon_commands.hpp"
#include "next_command.hpp"

#include <exception>
#include <iostream>
#include <new>
#include <span>
#include <string_view>
#include <vector>

namespace {

void print_usage(std::ostream& out) {
    out << R"(Usage: chimectl COMMAND [ARGS]

  next    print the next fire times of a cron expression or JSON trigger;
          needs no daemon (see chimectl next --help)

)";
    chimectl::print_daemon_usage(out);
    out << R"(
Options:
  -h, --help   print this help
  --version    print the chimectl version
)";
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
    if (chimectl::is_daemon_command(command)) {
        return chimectl::run_daemon_command(command, args.subspan(1), std::cout, std::cerr);
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
