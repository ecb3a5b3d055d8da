// `chimectl next`: prints the next fire times of a cron expression or of a
// trigger in JSON form. It needs no daemon and no database.
#pragma once

#include <iosfwd>
#include <span>
#include <string_view>

namespace chimectl {

// Exit statuses of every chimectl command.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1; // a failure that is not the user's input
inline constexpr int exit_usage = 2;   // invalid arguments or input

// Fire times printed when --count is not given: enough to show the pattern
// of a schedule in one screen.
inline constexpr int default_next_count = 5;

// Fire times printed with --until and no --count: every one up to --until,
// but at most this many, so "* * * * * *" over a year cannot flood a terminal.
inline constexpr int until_next_count = 1000;

// Runs `chimectl next` with the arguments that follow "next". Writes one fire
// time a line to `out` and every diagnostic, each prefixed "chimectl: ", to
// `err`. Returns the exit status: exit_ok also when fewer fire times exist
// than requested, exit_usage for invalid arguments or input.
int run_next(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

// Writes the usage text of `chimectl next`.
void print_next_usage(std::ostream& out);

} // namespace chimectl
