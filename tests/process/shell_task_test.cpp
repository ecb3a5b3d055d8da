// Tests of chime::shell_task: reading and writing its JSON settings, the
// named errors for bad settings, and the report of a run for each way a
// command can end.
#include "process/forked_process.hpp"

#include <chime/process/shell_task.hpp>
#include <chime/registry.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

chime::report run_task(const json& settings, std::size_t cap = 1 << 20,
                       steady::time_point deadline = steady::now() + 60s,
                       std::stop_token stop = {}) {
    auto task = chime::shell_task::from_json(settings);
    chime::output_buffer buffer(cap);
    chime::run_context context{stop, deadline, buffer, {}, "test-job"};
    return task.run(context);
}

std::string error_of(const json& settings) {
    try {
        chime::shell_task::from_json(settings);
    } catch (const chime::invalid_input& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("shell task reads argv", "[process][shell]") {
    auto task = chime::shell_task::from_json({{"argv", {"echo", "a b", ""}}});
    CHECK(task.options().argv == std::vector<std::string>{"echo", "a b", ""});
    CHECK_FALSE(task.command());
    CHECK(task.options().inherit_environment);
    CHECK(task.options().kill_grace == 10s);
    CHECK(task.options().stdin_data.empty());
}

TEST_CASE("shell task runs a command with /bin/sh by default", "[process][shell]") {
    auto task = chime::shell_task::from_json({{"command", "echo hi | tr a-z A-Z"}});
    CHECK(task.options().argv ==
          std::vector<std::string>{"/bin/sh", "-c", "echo hi | tr a-z A-Z"});
    CHECK(task.command() == "echo hi | tr a-z A-Z");
}

TEST_CASE("shell task settings round-trip through JSON", "[process][shell]") {
    const json settings = {{"command", "make -C /src"},
                           {"shell", "/bin/bash"},
                           {"stdin", "input"},
                           {"env", {{"LC_ALL", "C"}, {"DEBUG", "1"}}},
                           {"inherit_env", false},
                           {"cwd", "/srv"},
                           {"user", "backup"},
                           {"kill_grace", "PT30S"}};
    auto task = chime::shell_task::from_json(settings);
    CHECK(task.to_json() == settings);
    CHECK(chime::shell_task::from_json(task.to_json()).to_json() == settings);

    auto direct = chime::shell_task::from_json({{"argv", {"true"}}});
    CHECK(direct.to_json() ==
          json{{"argv", {"true"}}, {"inherit_env", true}, {"kill_grace", "PT10S"}});
}

TEST_CASE("shell task is listed in a task registry", "[process][shell]") {
    using tasks = chime::task_registry<chime::shell_task>;
    auto value = tasks::from_json({{"kind", "shell"}, {"argv", {"true"}}});
    CHECK(tasks::kind_of(value) == "shell");
    CHECK(tasks::to_json(value)["argv"] == json{"true"});
}

TEST_CASE("shell task rejects bad settings by name", "[process][shell]") {
    const std::vector<std::pair<json, std::string>> cases = {
        {json::array(), "shell task: expected a JSON object, got an array of 0 elements"},
        {json::object(), "shell task: \"argv\" or \"command\" is missing; set one of them"},
        {{{"argv", {"a"}}, {"command", "b"}},
         "shell task: set either \"argv\" (run directly) or \"command\" (run by a shell), not both"},
        {{{"argv", json::array()}},
         "shell task: \"argv\" is empty; it needs at least the program to run"},
        {{{"argv", "ls -l"}}, "shell task: \"argv\" must be an array of strings, got \"ls -l\""},
        {{{"argv", {"ls", 5}}}, "shell task: \"argv\"[1] must be a string, got 5"},
        {{{"argv", {""}}}, "shell task: \"argv\"[0] is empty; it names the program to run"},
        {{{"argv", {"ls", std::string("a\0b", 3)}}},
         "shell task: \"argv\"[1] contains a NUL byte, which a program argument cannot carry"},
        {{{"argv", {"ls"}}, {"shell", "/bin/bash"}},
         "shell task: \"shell\" applies only to \"command\"; \"argv\" runs without a shell"},
        {{{"command", ""}}, "shell task: \"command\" is empty"},
        {{{"command", 5}}, "shell task: \"command\" must be a string, got 5"},
        {{{"command", "ls"}, {"shell", ""}},
         "shell task: \"shell\" is empty; leave it out for /bin/sh"},
        {{{"command", "ls"}, {"env", {{"A", 1}}}},
         "shell task: \"env\".\"A\" must be a string, got 1"},
        {{{"command", "ls"}, {"env", {"A=1"}}},
         "shell task: \"env\" must be an object whose values are strings, got an array of 1 "
         "element"},
        {{{"command", "ls"}, {"env", {{"A=B", "1"}}}},
         "shell task: \"env\" has the invalid variable name \"A=B\"; a name must be non-empty "
         "and contain no '=' or NUL byte"},
        {{{"command", "ls"}, {"env", {{"", "1"}}}},
         "shell task: \"env\" has the invalid variable name \"\"; a name must be non-empty and "
         "contain no '=' or NUL byte"},
        {{{"command", "ls"}, {"inherit_env", "no"}},
         "shell task: \"inherit_env\" must be true or false, got \"no\""},
        {{{"command", "ls"}, {"cwd", "relative/dir"}},
         "shell task: \"cwd\" is \"relative/dir\"; it must be an absolute path, because the "
         "worker's own directory is not fixed"},
        {{{"command", "ls"}, {"cwd", ""}}, "shell task: \"cwd\" is empty"},
        {{{"command", "ls"}, {"user", ""}}, "shell task: \"user\" is empty"},
        {{{"command", "ls"}, {"user", 0}}, "shell task: \"user\" must be a string, got 0"},
        {{{"command", "ls"}, {"stdin", json::array()}},
         "shell task: \"stdin\" must be a string, got an array of 0 elements"},
        {{{"command", "ls"}, {"kill_grace", 10}},
         "shell task: \"kill_grace\" must be an ISO 8601 duration such as \"PT10S\", got 10"},
        {{{"command", "ls"}, {"kill_grace", "PT1H1S"}},
         "shell task: \"kill_grace\" is \"PT1H1S\"; it must be from PT0S to PT1H"},
        {{{"command", "ls"}, {"kill_grace", "P1M"}},
         "shell task: \"kill_grace\" is invalid: invalid duration \"P1M\": years and months have "
         "no fixed length; use days or a calendar_interval trigger"},
        {{{"command", "ls"}, {"timeout", "PT5S"}},
         "shell task: unknown key \"timeout\"; expected argv, command, shell, stdin, env, "
         "inherit_env, cwd, user, kill_grace"},
    };
    for (const auto& [settings, expected] : cases) {
        INFO(settings.dump());
        CHECK(error_of(settings) == expected);
    }
}

TEST_CASE("shell task factories check their input", "[process][shell]") {
    CHECK_THROWS_AS(chime::shell_task::from_argv({}), chime::invalid_input);
    CHECK_THROWS_AS(chime::shell_task::from_command(""), chime::invalid_input);
    CHECK(chime::shell_task::from_command("ls", "bash").options().argv ==
          std::vector<std::string>{"bash", "-c", "ls"});
}

TEST_CASE("exit 0 succeeds with the output", "[process][shell]") {
    auto r = run_task({{"command", "echo out; echo err >&2"}});
    CHECK(r.status == chime::run_status::succeeded);
    CHECK(r.exit_code == 0);
    CHECK(r.output == "out\nerr\n");
    CHECK_FALSE(r.output_truncated);
    CHECK(r.error.empty());
}

TEST_CASE("non-zero exit fails with the exit code", "[process][shell]") {
    auto r = run_task({{"argv", {"/bin/sh", "-c", "echo partial; exit 4"}}});
    CHECK(r.status == chime::run_status::failed);
    CHECK(r.exit_code == 4);
    CHECK(r.error == "exited with code 4");
    CHECK(r.output == "partial\n");
}

TEST_CASE("killing signal fails with its name", "[process][shell]") {
    auto r = run_task({{"command", "kill -9 $$"}});
    CHECK(r.status == chime::run_status::failed);
    CHECK_FALSE(r.exit_code);
    CHECK(r.error == "killed by signal SIGKILL (9)");
}

TEST_CASE("deadline gives timed_out", "[process][shell]") {
    auto r = run_task({{"command", "echo started; exec sleep 30"}}, 1024,
                      steady::now() + 300ms);
    CHECK(r.status == chime::run_status::timed_out);
    CHECK(r.output == "started\n");
    CHECK(r.error ==
          "timed out; the process group was sent SIGTERM, and the program ended by signal "
          "SIGTERM (15)");
}

TEST_CASE("stop request gives interrupted", "[process][shell]") {
    std::stop_source stop;
    stop.request_stop();
    auto r = run_task({{"command", "echo ran"}}, 1024, steady::now() + 60s, stop.get_token());
    CHECK(r.status == chime::run_status::interrupted);
    CHECK(r.output.empty());
    CHECK(r.error == "stopped on request; the program was not started");
}

TEST_CASE("output past the cap is truncated", "[process][shell]") {
    auto r = run_task({{"command", "seq 1 100000"}}, 10);
    CHECK(r.status == chime::run_status::succeeded);
    CHECK(r.output == "1\n2\n3\n4\n5\n");
    CHECK(r.output_truncated);
}

TEST_CASE("command not found fails naming the program", "[process][shell]") {
    auto r = run_task({{"argv", {"chime-no-such-program"}}});
    CHECK(r.status == chime::run_status::failed);
    CHECK(r.exit_code == 127);
    CHECK_THAT(r.error, Catch::StartsWith("command not found: \"chime-no-such-program\""));
}

TEST_CASE("shell task passes stdin, env and cwd", "[process][shell]") {
    chime_test::temporary_directory directory;
    auto r = run_task({{"command", "read line; echo \"$line|$GREETING|$(pwd)\"; env | wc -l"},
                       {"stdin", "from stdin\n"},
                       {"env", {{"GREETING", "hello"}, {"PATH", "/usr/bin:/bin"}}},
                       {"inherit_env", false},
                       {"cwd", directory.path().string()}});
    CHECK(r.status == chime::run_status::succeeded);
    // env lists GREETING, PATH and PWD, which sh sets.
    CHECK(r.output == "from stdin|hello|" + directory.path().string() + "\n3\n");
}

TEST_CASE("shell task user field needs root", "[process][shell]") {
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
            f["setup"] = "cannot drop root";
            return;
        }
        auto other = run_task({{"command", "echo ran"}, {"user", "root"}});
        f["other_status"] = std::string(chime::to_string(other.status));
        f["other_error"] = other.error;
        auto own = run_task({{"command", "id -u"}, {"user", std::to_string(::geteuid())}});
        f["own_status"] = std::string(chime::to_string(own.status));
        f["own_output_is_uid"] = own.output == std::to_string(::geteuid()) + "\n" ? "yes" : "no";
    });
    CHECK(facts["setup"] == "");
    CHECK(facts["other_status"] == "failed");
    CHECK_THAT(facts["other_error"], Catch::Contains("switching users needs root"));
    CHECK(facts["own_status"] == "succeeded");
    CHECK(facts["own_output_is_uid"] == "yes");
}
