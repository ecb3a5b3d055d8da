// The chimectl commands that talk to a running chimed over its control
// socket: add, edit, list, show, history, run-now, pause, resume, remove,
// import-crontab, export, import, status and stop.
#pragma once

#include <iosfwd>
#include <span>
#include <string_view>

namespace chimectl {

// True for the names of the commands below.
bool is_daemon_command(std::string_view name);

// Runs `command` with the arguments after it. Exit statuses: exit_ok,
// exit_failure when chimed cannot be reached (or fails), exit_usage for
// invalid input, whether chimectl or chimed found it.
int run_daemon_command(std::string_view command, std::span<const std::string_view> args,
                       std::ostream& out, std::ostream& err);

// The usage text of every daemon command, for chimectl --help.
void print_daemon_usage(std::ostream& out);

} // namespace chimectl
