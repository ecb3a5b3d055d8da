// Tests of chime::run_child against real programs (sh, cat, env, sleep, id).
// They cover exit codes, stdin, environment, working directory, the output
// cap and the order of stdout and stderr. They also cover timeouts, SIGKILL
// after the grace, process groups with grandchildren, reaping, exec errors
// and the user field.
// Child commands may sleep, because they are the subject under test; the
// tests themselves never sleep to order events.
#include "process/forked_process.hpp"

#include <chime/process/child_process.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using chime::child_options;
using chime::child_result;
using steady = std::chrono::steady_clock;

struct outcome {
    child_result result;
    std::string output;
    bool truncated = false;
};

outcome run(const child_options& options, std::size_t cap = std::size_t{1} << 20,
            steady::time_point deadline = steady::now() + 60s, std::stop_token stop = {}) {
    chime::output_buffer buffer(cap);
    outcome o;
    o.result = chime::run_child(options, buffer, stop, deadline);
    o.output = buffer.text();
    o.truncated = buffer.truncated();
    return o;
}

child_options shell(const std::string& line) {
    child_options options;
    options.argv = {"/bin/sh", "-c", line};
    return options;
}

} // namespace

TEST_CASE("child exit code is reported", "[process]") {
    auto failing = run(shell("exit 3"));
    CHECK(failing.result.exit_code == 3);
    CHECK_FALSE(failing.result.signal);
    CHECK(failing.result.error.empty());

    auto passing = run(shell("true"));
    CHECK(passing.result.exit_code == 0);
    CHECK(passing.result.error.empty());
}

TEST_CASE("child reads stdin from the string", "[process]") {
    child_options options;
    options.argv = {"cat"};
    options.stdin_data = "first line\nsecond line\n";
    auto o = run(options);
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == "first line\nsecond line\n");
}

TEST_CASE("child stdin is /dev/null when empty", "[process]") {
    auto o = run(shell("cat; readlink /proc/self/fd/0"));
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == "/dev/null\n");
}

TEST_CASE("large stdin and output flow together", "[process]") {
    // 4 MiB is more than both pipes hold, so this deadlocks unless stdin is
    // written while the output is read.
    child_options options;
    options.argv = {"cat"};
    options.stdin_data.reserve(4 << 20);
    for (int i = 0; options.stdin_data.size() < (4u << 20); ++i) {
        options.stdin_data += "line " + std::to_string(i) + "\n";
    }
    auto o = run(options, 8 << 20);
    CHECK(o.result.exit_code == 0);
    CHECK(o.output.size() == options.stdin_data.size());
    CHECK(o.output == options.stdin_data);
}

TEST_CASE("child ignoring stdin does not raise SIGPIPE", "[process]") {
    // The child exits without reading, so writing the rest of stdin fails
    // with EPIPE. An unguarded write would kill this test process.
    child_options options;
    options.argv = {"true"};
    options.stdin_data.assign(4 << 20, 'x');
    auto o = run(options);
    CHECK(o.result.exit_code == 0);
    CHECK(o.result.error.empty());
}

TEST_CASE("environment is exactly the map without inheritance", "[process]") {
    child_options options;
    options.argv = {"env"};
    options.inherit_environment = false;
    options.environment = {{"A", "1"}, {"B", "two words"}};
    auto o = run(options);
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == "A=1\nB=two words\n");
}

TEST_CASE("environment is inherited with overrides", "[process]") {
    REQUIRE(::setenv("CHIME_TEST_INHERITED", "from parent", 1) == 0);
    REQUIRE(::setenv("CHIME_TEST_OVERRIDDEN", "old", 1) == 0);
    auto options = shell("echo \"$CHIME_TEST_INHERITED|$CHIME_TEST_OVERRIDDEN\"");
    options.environment = {{"CHIME_TEST_OVERRIDDEN", "new"}};
    auto o = run(options);
    ::unsetenv("CHIME_TEST_INHERITED");
    ::unsetenv("CHIME_TEST_OVERRIDDEN");
    CHECK(o.output == "from parent|new\n");
}

TEST_CASE("program is searched in the child's PATH", "[process]") {
    chime_test::temporary_directory bin;
    bin.write_file("chime-hello", "#!/bin/sh\necho found\n", 0755);
    child_options options;
    options.argv = {"chime-hello"};
    options.inherit_environment = false;
    options.environment = {{"PATH", "/nonexistent:" + bin.path().string()}};
    auto o = run(options);
    CHECK(o.result.error.empty());
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == "found\n");
}

TEST_CASE("child starts in the working directory", "[process]") {
    chime_test::temporary_directory directory;
    child_options options;
    options.argv = {"pwd"};
    options.working_directory = directory.path().string();
    auto o = run(options);
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == directory.path().string() + "\n");
}

TEST_CASE("missing working directory is an error naming it", "[process]") {
    child_options options;
    options.argv = {"pwd"};
    options.working_directory = "/nonexistent/chime-directory";
    auto o = run(options);
    CHECK(o.result.exit_code == 125);
    CHECK_THAT(o.result.error, Catch::Contains("/nonexistent/chime-directory"));
    CHECK_THAT(o.result.error, Catch::Contains("No such file or directory"));
}

TEST_CASE("command not found names the program", "[process]") {
    child_options options;
    options.argv = {"chime-no-such-program", "--flag"};
    auto o = run(options);
    CHECK(o.result.exit_code == 127);
    CHECK_FALSE(o.result.signal);
    CHECK_THAT(o.result.error, Catch::StartsWith("command not found: \"chime-no-such-program\""));
    CHECK(o.output.empty());
}

TEST_CASE("missing program path is not found", "[process]") {
    child_options options;
    options.argv = {"/nonexistent/chime-program"};
    auto o = run(options);
    CHECK(o.result.exit_code == 127);
    CHECK_THAT(o.result.error, Catch::Contains("\"/nonexistent/chime-program\" does not exist"));
}

TEST_CASE("file without execute permission exits 126", "[process]") {
    chime_test::temporary_directory directory;
    auto file = directory.write_file("not-executable", "#!/bin/sh\necho ran\n", 0644);
    // Root may execute a file only when some execute bit is set, so 0644
    // is refused for root as well.
    child_options options;
    options.argv = {file.string()};
    auto o = run(options);
    CHECK(o.result.exit_code == 126);
    CHECK_THAT(o.result.error, Catch::Contains("Permission denied"));
    CHECK(o.output.empty());
}

TEST_CASE("empty argv is rejected without a child", "[process]") {
    auto o = run(child_options{});
    CHECK_FALSE(o.result.exit_code);
    CHECK_THAT(o.result.error, Catch::Contains("argv is empty"));
}

TEST_CASE("stdout and stderr interleave in order", "[process]") {
    auto o = run(shell("echo one; echo two >&2; echo three; echo four >&2"));
    CHECK(o.result.exit_code == 0);
    CHECK(o.output == "one\ntwo\nthree\nfour\n");
}

TEST_CASE("child leads its own process group", "[process]") {
    // Field 5 of /proc/PID/stat is the process group id.
    auto o = run(shell("echo $$; cut -d' ' -f5 /proc/$$/stat"));
    auto newline = o.output.find('\n');
    REQUIRE(newline != std::string::npos);
    auto pid = o.output.substr(0, newline);
    auto group = o.output.substr(newline + 1);
    CHECK(group == pid + "\n");
    CHECK(std::to_string(::getpgrp()) + "\n" != group);
}

TEST_CASE("descriptors of the caller are not inherited", "[process]") {
    // Opened without O_CLOEXEC on purpose.
    int leaked = ::open("/dev/null", O_RDONLY);
    REQUIRE(leaked >= 0);
    auto o = run(shell("ls /proc/$$/fd"));
    ::close(leaked);
    CHECK(o.output == "0\n1\n2\n");
}

TEST_CASE("100 MB of output stays capped", "[process]") {
    // 100,000,000 bytes of "✓✓✓\n" (three 3-byte characters and a newline).
    // A cap of 1,001 bytes would cut the 101st line's first ✓ after its
    // first byte, so the kept text ends at 1,000 bytes.
    auto o = run(shell("yes '✓✓✓' | head -c 100000000"), 1001);
    CHECK(o.result.exit_code == 0);
    CHECK_FALSE(o.result.timed_out);
    CHECK(o.truncated);
    CHECK(o.output.size() == 1000);
    CHECK(chime_test::is_valid_utf8(o.output));
    std::string expected;
    while (expected.size() < 1000) {
        expected += "✓✓✓\n";
    }
    CHECK(o.output == expected.substr(0, 1000));
}

TEST_CASE("UTF-8 sequence split across reads is kept whole", "[process]") {
    // ✓ is E2 9C 93. The child writes its first byte, waits, then the rest,
    // so the two parts almost always arrive in different reads. With a cap
    // of 2 the kept text is "a": the whole ✓ does not fit, and half of it
    // must not be kept.
    auto o = run(shell("printf 'a\\342'; sleep 0.2; printf '\\234\\223b'"), 2);
    CHECK(o.result.exit_code == 0);
    CHECK(o.truncated);
    CHECK(o.output == "a");
}

TEST_CASE("timeout sends SIGTERM to the group", "[process]") {
    auto options = shell("exec sleep 30");
    options.kill_grace = 5s;
    const auto start = steady::now();
    auto o = run(options, 1024, start + 300ms);
    const auto elapsed = steady::now() - start;
    CHECK(o.result.timed_out);
    CHECK_FALSE(o.result.stopped);
    CHECK(o.result.signal == SIGTERM);
    CHECK_FALSE(o.result.killed_after_grace);
    CHECK(elapsed >= 300ms);
    CHECK(elapsed < 5s);
}

TEST_CASE("child ignoring SIGTERM gets SIGKILL after the grace", "[process]") {
    chime_test::temporary_directory directory;
    const auto fifo = (directory.path() / "ready").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

    // The child ignores SIGTERM (sleep inherits that), then writes to the
    // FIFO. Only then does the test request the stop.
    auto options = shell("trap '' TERM; echo ready > '" + fifo + "'; exec sleep 30");
    options.kill_grace = 200ms;
    std::stop_source stop;
    outcome o;
    std::thread runner([&] { o = run(options, 1024, steady::now() + 60s, stop.get_token()); });

    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    pollfd wait_for_ready{reader, POLLIN, 0};
    const int polled = ::poll(&wait_for_ready, 1, 20000);
    ::close(reader);
    const auto stop_time = steady::now();
    stop.request_stop();
    runner.join();
    const auto elapsed = steady::now() - stop_time;

    REQUIRE(polled == 1);
    CHECK(o.result.stopped);
    CHECK(o.result.killed_after_grace);
    CHECK(o.result.signal == SIGKILL);
    CHECK(elapsed >= 200ms);
    CHECK(elapsed < 10s);
}

TEST_CASE("stop requested before start runs nothing", "[process]") {
    std::stop_source stop;
    stop.request_stop();
    auto o = run(shell("echo ran"), 1024, steady::now() + 60s, stop.get_token());
    CHECK(o.result.stopped);
    CHECK_FALSE(o.result.exit_code);
    CHECK_FALSE(o.result.signal);
    CHECK(o.output.empty());
}

TEST_CASE("grandchild left behind is killed with the group", "[process]") {
    // The forked test process becomes a subreaper, so the orphaned sleep is
    // reparented to it and its end can be checked with waitpid.
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        const auto start = steady::now();
        auto o = run(shell("sleep 300 & echo $!"));
        f["seconds"] = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(steady::now() - start).count());
        f["exit_code"] = std::to_string(o.result.exit_code.value_or(-1));
        const pid_t grandchild = std::stoi(o.output);
        int status = 0;
        f["waited"] = ::waitpid(grandchild, &status, 0) == grandchild ? "yes" : "no";
        f["grandchild_signal"] = WIFSIGNALED(status) ? std::to_string(WTERMSIG(status)) : "none";
        f["left_over"] = ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD ? "none" : "some";
    });
    CHECK(facts["exception"] == "");
    CHECK(facts["exit_code"] == "0");
    CHECK(std::stoi(facts["seconds"]) < 10);
    CHECK(facts["waited"] == "yes");
    CHECK(facts["grandchild_signal"] == std::to_string(SIGKILL));
    CHECK(facts["left_over"] == "none");
}

TEST_CASE("timeout kills grandchildren too", "[process]") {
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        auto o = run(shell("sleep 300 & echo $!; wait"), 1024, steady::now() + 300ms);
        f["timed_out"] = o.result.timed_out ? "yes" : "no";
        const pid_t grandchild = std::stoi(o.output);
        int status = 0;
        f["waited"] = ::waitpid(grandchild, &status, 0) == grandchild ? "yes" : "no";
        f["grandchild_signal"] = WIFSIGNALED(status) ? std::to_string(WTERMSIG(status)) : "none";
    });
    CHECK(facts["exception"] == "");
    CHECK(facts["timed_out"] == "yes");
    CHECK(facts["waited"] == "yes");
    CHECK(facts["grandchild_signal"] == std::to_string(SIGTERM));
}

TEST_CASE("no zombie is left after any ending", "[process]") {
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        run(shell("exit 0"));
        run(shell("exit 7"));
        run(shell("kill -9 $$"));
        child_options missing;
        missing.argv = {"chime-no-such-program"};
        run(missing);
        run(shell("exec sleep 30"), 1024, steady::now() + 100ms);
        auto ignoring = shell("trap '' TERM; exec sleep 30");
        ignoring.kill_grace = 100ms;
        run(ignoring, 1024, steady::now() + 100ms);
        errno = 0;
        const pid_t any = ::waitpid(-1, nullptr, WNOHANG);
        f["waitpid"] = std::to_string(any);
        f["errno_is_echild"] = errno == ECHILD ? "yes" : "no";
    });
    CHECK(facts["exception"] == "");
    CHECK(facts["waitpid"] == "-1");
    CHECK(facts["errno_is_echild"] == "yes");
}

TEST_CASE("killing signal is reported", "[process]") {
    auto o = run(shell("kill -9 $$"));
    CHECK_FALSE(o.result.exit_code);
    CHECK(o.result.signal == SIGKILL);
    CHECK(o.result.error.empty());
}

TEST_CASE("unknown user is an error naming it", "[process]") {
    auto options = shell("echo ran");
    options.user = "chime-no-such-user";
    auto o = run(options);
    CHECK_FALSE(o.result.exit_code);
    CHECK_THAT(o.result.error, Catch::Contains("user \"chime-no-such-user\" not found"));
    CHECK(o.output.empty());
}

TEST_CASE("root runs the child as another user", "[process]") {
    if (::geteuid() != 0) {
        WARN("not root, so switching users cannot be tested");
        return;
    }
    chime_test::temporary_directory directory;
    REQUIRE(::chmod(directory.path().c_str(), 0755) == 0);
    auto options = shell("id -u; id -g; echo $HOME; echo $USER; pwd");
    options.user = "nobody";
    options.working_directory = directory.path().string();
    auto o = run(options);
    CHECK(o.result.error.empty());
    CHECK(o.result.exit_code == 0);
    CHECK(o.output ==
          "65534\n65534\n/nonexistent\nnobody\n" + directory.path().string() + "\n");
}

TEST_CASE("user switch without root fails clearly", "[process]") {
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
            f["setup"] = "cannot drop root";
            return;
        }
        auto options = shell("echo ran");
        options.user = "root";
        auto o = run(options);
        f["error"] = o.result.error;
        f["exit_code"] = o.result.exit_code ? "set" : "none";
        f["output"] = o.output.empty() ? "empty" : "not empty";
    });
    CHECK(facts["setup"] == "");
    CHECK_THAT(facts["error"], Catch::Contains("as user \"root\""));
    CHECK_THAT(facts["error"], Catch::Contains("switching users needs root"));
    CHECK(facts["exit_code"] == "none");
    CHECK(facts["output"] == "empty");
}

TEST_CASE("own user runs without root", "[process]") {
    auto facts = chime_test::facts_from_forked_process([](chime_test::facts& f) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
            f["setup"] = "cannot drop root";
            return;
        }
        auto options = shell("id -u");
        options.user = std::to_string(::geteuid());
        auto o = run(options);
        f["error"] = o.result.error;
        f["exit_code"] = std::to_string(o.result.exit_code.value_or(-1));
        f["output_is_own_uid"] = o.output == std::to_string(::geteuid()) + "\n" ? "yes" : "no";
    });
    CHECK(facts["setup"] == "");
    CHECK(facts["error"] == "");
    CHECK(facts["exit_code"] == "0");
    CHECK(facts["output_is_own_uid"] == "yes");
}

TEST_CASE("signal names are standard", "[process]") {
    CHECK(chime::describe_signal(SIGKILL) == "SIGKILL (9)");
    CHECK(chime::describe_signal(SIGTERM) == "SIGTERM (15)");
    CHECK(chime::signal_name(SIGSEGV) == "SIGSEGV");
    CHECK(chime::describe_signal(SIGRTMIN + 1) == "signal " + std::to_string(SIGRTMIN + 1));
}
