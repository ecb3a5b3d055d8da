// shell_task: a task (kind "shell") that runs a command as a child process,
// either an argv executed directly or a command line given to a shell.
//
//   {"argv": ["pg_dump", "-f", "/backup/db.sql", "app"]}
//   {"command": "du -sh /var/log | mail -s usage root", "shell": "/bin/bash",
//    "env": {"LC_ALL": "C"}, "cwd": "/var/log", "user": "backup", "kill_grace": "PT30S"}
//
// Thread safety: a shell_task is an immutable value, so run() may be called
// from several threads at once. Each call starts a child of its own.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>
#include <chime/process/child_process.hpp>
#include <chime/report.hpp>
#include <chime/task.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chime {

// Settings, all optional except one of "argv" and "command":
//   argv         array of strings: the program and its arguments, run without a shell
//   command      string: a command line, run as [shell, "-c", command]
//   shell        string: the shell for "command" (default "/bin/sh")
//   stdin        string: written to the program's stdin (default: /dev/null)
//   env          object of strings: environment variables to set
//   inherit_env  bool: start from the worker's environment (default true);
//                false gives the program exactly "env"
//   cwd          string: absolute path of the working directory (default: the worker's)
//   user         string: user name or uid to run as; needs a worker running
//                as root, unless it names the worker's own user
//   kill_grace   ISO 8601 duration from PT0S to PT1H between SIGTERM and
//                SIGKILL on timeout or stop (default PT10S)
// See docs/processes.md for how the program is run and stopped.
class shell_task {
public:
    static constexpr std::string_view kind = "shell";

    // The maximum kill_grace, because a stopping worker may wait this long
    // for each running command.
    static constexpr std::chrono::seconds max_kill_grace{3600};

    // Runs `argv` directly. Throws invalid_input when argv is empty or
    // contains a NUL byte.
    static shell_task from_argv(std::vector<std::string> argv);

    // Runs [shell, "-c", command]. Throws invalid_input when either is empty
    // or contains a NUL byte.
    static shell_task from_command(std::string command, std::string shell = "/bin/sh");

    // Reads the settings above. Throws invalid_input naming the key, the
    // value and what is expected.
    static shell_task from_json(const nlohmann::json& settings);

    // The settings, in the form from_json reads.
    nlohmann::json to_json() const;

    // Runs the program and waits for it. Exit 0 is succeeded; a non-zero
    // exit or a signal is failed; the deadline is timed_out; a stop request
    // is interrupted. The report carries the output, its truncated flag,
    // the exit code when there is one, and an error saying why the run did
    // not succeed. Failures are returned in the report. Only std::bad_alloc
    // is thrown.
    report run(run_context& context) const;

    // The command line, for a task read from {"command": ...}.
    const std::optional<std::string>& command() const noexcept { return command_; }

    // How the child is run: argv (with the shell for a command), stdin,
    // environment, working directory, user and kill grace.
    const child_options& options() const noexcept { return options_; }

private:
    shell_task() = default;

    child_options options_;
    std::optional<std::string> command_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail::shell {

[[noreturn]] inline void fail(const std::string& what) { throw invalid_input("shell task: " + what); }

inline std::string key_name(std::string_view key) { return "\"" + std::string(key) + "\""; }

// The string under `key`, or nullopt when it is absent or null. Rejects a
// value that is not a string, and an empty one or one with a NUL byte when
// that is asked for.
inline std::optional<std::string> optional_text(const nlohmann::json& j, const char* key,
                                                bool allow_empty, bool allow_nul) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_string()) {
        fail(key_name(key) + " must be a string, got " + describe_json(*it));
    }
    auto text = it->get<std::string>();
    if (!allow_empty && text.empty()) {
        fail(key_name(key) + " is empty");
    }
    if (!allow_nul && text.find('\0') != std::string::npos) {
        fail(key_name(key) + " contains a NUL byte, which a program cannot receive");
    }
    return text;
}

inline void check_argv(const std::vector<std::string>& argv) {
    if (argv.empty()) {
        fail("\"argv\" is empty; it needs at least the program to run");
    }
    if (argv.front().empty()) {
        fail("\"argv\"[0] is empty; it names the program to run");
    }
    for (std::size_t i = 0; i < argv.size(); ++i) {
        if (argv[i].find('\0') != std::string::npos) {
            fail("\"argv\"[" + std::to_string(i) +
                 "] contains a NUL byte, which a program argument cannot carry");
        }
    }
}

inline void check_command(const std::string& command, const std::string& shell) {
    if (command.empty()) {
        fail("\"command\" is empty");
    }
    if (command.find('\0') != std::string::npos) {
        fail("\"command\" contains a NUL byte, which a program argument cannot carry");
    }
    if (shell.empty()) {
        fail("\"shell\" is empty; leave it out for /bin/sh");
    }
    if (shell.find('\0') != std::string::npos) {
        fail("\"shell\" contains a NUL byte");
    }
}

inline std::vector<std::string> argv_from_json(const nlohmann::json& value) {
    if (!value.is_array()) {
        fail("\"argv\" must be an array of strings, got " + describe_json(value));
    }
    std::vector<std::string> argv;
    argv.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
            fail("\"argv\"[" + std::to_string(i) + "] must be a string, got " +
                 describe_json(value[i]));
        }
        argv.push_back(value[i].get<std::string>());
    }
    check_argv(argv);
    return argv;
}

inline std::map<std::string, std::string> environment_from_json(const nlohmann::json& value) {
    if (!value.is_object()) {
        fail("\"env\" must be an object whose values are strings, got " + describe_json(value));
    }
    std::map<std::string, std::string> environment;
    for (const auto& item : value.items()) {
        const auto& name = item.key();
        if (name.empty() || name.find('=') != std::string::npos ||
            name.find('\0') != std::string::npos) {
            fail("\"env\" has the invalid variable name \"" + name +
                 "\"; a name must be non-empty and contain no '=' or NUL byte");
        }
        if (!item.value().is_string()) {
            fail("\"env\".\"" + name + "\" must be a string, got " + describe_json(item.value()));
        }
        auto text = item.value().get<std::string>();
        if (text.find('\0') != std::string::npos) {
            fail("\"env\".\"" + name + "\" contains a NUL byte");
        }
        environment.emplace(name, std::move(text));
    }
    return environment;
}

inline std::chrono::seconds kill_grace_from_json(const nlohmann::json& value) {
    if (!value.is_string()) {
        fail("\"kill_grace\" must be an ISO 8601 duration such as \"PT10S\", got " +
             describe_json(value));
    }
    auto text = value.get<std::string>();
    std::chrono::seconds grace{};
    try {
        grace = parse_elapsed_duration(text);
    } catch (const invalid_input& e) {
        fail("\"kill_grace\" is invalid: " + std::string(e.what()));
    }
    if (grace < std::chrono::seconds{0} || grace > shell_task::max_kill_grace) {
        fail("\"kill_grace\" is \"" + text + "\"; it must be from PT0S to " +
             format_duration(shell_task::max_kill_grace));
    }
    return grace;
}

// "the process group was sent SIGTERM, and the program exited with code 143",
// for a child that was stopped or timed out.
inline std::string describe_end(const child_result& result) {
    std::string text;
    if (result.signal) {
        text = "ended by signal " + describe_signal(*result.signal);
    } else if (result.exit_code) {
        text = "exited with code " + std::to_string(*result.exit_code);
    } else {
        return "the program was not started";
    }
    if (result.killed_after_grace) {
        text = "did not end within the kill grace after SIGTERM and " + text;
    }
    return "the process group was sent SIGTERM, and the program " + text;
}

} // namespace detail::shell

inline shell_task shell_task::from_argv(std::vector<std::string> argv) {
    detail::shell::check_argv(argv);
    shell_task task;
    task.options_.argv = std::move(argv);
    return task;
}

inline shell_task shell_task::from_command(std::string command, std::string shell) {
    detail::shell::check_command(command, shell);
    shell_task task;
    task.options_.argv = {shell, "-c", command};
    task.command_ = std::move(command);
    return task;
}

inline shell_task shell_task::from_json(const nlohmann::json& j) {
    namespace s = detail::shell;
    if (!j.is_object()) {
        s::fail("expected a JSON object, got " + detail::describe_json(j));
    }
    static constexpr std::string_view known[] = {"argv", "command", "shell", "stdin",
                                                 "env",  "inherit_env", "cwd", "user",
                                                 "kill_grace"};
    for (const auto& item : j.items()) {
        bool found = item.key() == "kind";
        for (auto k : known) {
            found = found || item.key() == k;
        }
        if (!found) {
            std::string list;
            for (auto k : known) {
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            s::fail("unknown key \"" + item.key() + "\"; expected " + list);
        }
    }

    auto argv = j.find("argv");
    const bool has_argv = argv != j.end() && !argv->is_null();
    auto command = s::optional_text(j, "command", true, true);
    auto shell = s::optional_text(j, "shell", true, true);
    if (has_argv && command) {
        s::fail("set either \"argv\" (run directly) or \"command\" (run by a shell), not both");
    }
    if (!has_argv && !command) {
        s::fail("\"argv\" or \"command\" is missing; set one of them");
    }

    shell_task task;
    if (has_argv) {
        if (shell) {
            s::fail("\"shell\" applies only to \"command\"; \"argv\" runs without a shell");
        }
        task = from_argv(s::argv_from_json(*argv));
    } else {
        task = from_command(*command, shell.value_or("/bin/sh"));
    }

    auto& options = task.options_;
    options.stdin_data = s::optional_text(j, "stdin", true, true).value_or("");
    if (auto env = j.find("env"); env != j.end() && !env->is_null()) {
        options.environment = s::environment_from_json(*env);
    }
    if (auto inherit = j.find("inherit_env"); inherit != j.end() && !inherit->is_null()) {
        if (!inherit->is_boolean()) {
            s::fail("\"inherit_env\" must be true or false, got " + detail::describe_json(*inherit));
        }
        options.inherit_environment = inherit->get<bool>();
    }
    if (auto cwd = s::optional_text(j, "cwd", false, false)) {
        if (cwd->front() != '/') {
            s::fail("\"cwd\" is \"" + *cwd +
                    "\"; it must be an absolute path, because the worker's own directory "
                    "is not fixed");
        }
        options.working_directory = std::move(*cwd);
    }
    options.user = s::optional_text(j, "user", false, false).value_or("");
    if (auto grace = j.find("kill_grace"); grace != j.end() && !grace->is_null()) {
        options.kill_grace = s::kill_grace_from_json(*grace);
    }
    return task;
}

inline nlohmann::json shell_task::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    if (command_) {
        j["command"] = *command_;
        j["shell"] = options_.argv.front();
    } else {
        j["argv"] = options_.argv;
    }
    if (!options_.stdin_data.empty()) {
        j["stdin"] = options_.stdin_data;
    }
    if (!options_.environment.empty()) {
        j["env"] = options_.environment;
    }
    j["inherit_env"] = options_.inherit_environment;
    if (!options_.working_directory.empty()) {
        j["cwd"] = options_.working_directory;
    }
    if (!options_.user.empty()) {
        j["user"] = options_.user;
    }
    j["kill_grace"] =
        format_duration(std::chrono::duration_cast<std::chrono::seconds>(options_.kill_grace));
    return j;
}

inline report shell_task::run(run_context& context) const {
    auto result = run_child(options_, context);

    report r;
    r.output = context.output.text();
    r.output_truncated = context.output.truncated();
    r.exit_code = result.exit_code;

    if (!result.error.empty()) {
        r.status = run_status::failed;
        r.error = std::move(result.error);
    } else if (result.stopped) {
        r.status = run_status::interrupted;
        r.error = "stopped on request; " + detail::shell::describe_end(result);
    } else if (result.timed_out) {
        r.status = run_status::timed_out;
        r.error = "timed out; " + detail::shell::describe_end(result);
    } else if (result.signal) {
        r.status = run_status::failed;
        r.error = "killed by signal " + describe_signal(*result.signal);
    } else if (result.exit_code && *result.exit_code == 0) {
        r.status = run_status::succeeded;
    } else {
        r.status = run_status::failed;
        r.error = "exited with code " + std::to_string(result.exit_code.value_or(-1));
    }
    return r;
}

static_assert(task<shell_task>);

} // namespace chime
