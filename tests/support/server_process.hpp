// A test server in a child process: starts it, reads the port it prints on
// its first line of standard output ("PORT 41234"), and kills and reaps it
// when the object is destroyed. The servers live in tests/servers/.
// Thread safety: one thread owns a server_process.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace chime::testing {

class server_process {
public:
    // Runs `argv` (argv[0] is a path, not searched in PATH) and waits up to
    // `startup` for its "PORT n" line. Throws std::runtime_error when the
    // program cannot start, exits, or prints something else first.
    explicit server_process(const std::vector<std::string>& argv,
                            std::chrono::milliseconds startup = std::chrono::seconds{20}) {
        int pipe_ends[2];
        if (::pipe2(pipe_ends, O_CLOEXEC) != 0) {
            throw std::runtime_error(std::string("pipe2 failed: ") + std::strerror(errno));
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);

        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        const int spawned = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(pipe_ends[1]);
        if (spawned != 0) {
            ::close(pipe_ends[0]);
            pid_ = -1;
            throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(spawned));
        }
        output_ = pipe_ends[0];

        try {
            port_ = read_port(startup);
        } catch (...) {
            stop();
            throw;
        }
    }

    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    ~server_process() { stop(); }

    int port() const noexcept { return port_; }

    // Kills the server with SIGKILL and reaps it. The servers write each
    // request to disk before they respond, so nothing a test reads is lost.
    void stop() noexcept {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
        }
        if (output_ >= 0) {
            ::close(output_);
            output_ = -1;
        }
    }

private:
    int read_port(std::chrono::milliseconds startup) {
        const auto deadline = std::chrono::steady_clock::now() + startup;
        std::string line;
        while (line.find('\n') == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                throw std::runtime_error("the server printed no port within " +
                                         std::to_string(startup.count()) + " ms");
            }
            pollfd p{output_, POLLIN, 0};
            const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
            if (ready < 0 && errno != EINTR) {
                throw std::runtime_error(std::string("poll failed: ") + std::strerror(errno));
            }
            if (ready <= 0) {
                continue;
            }
            char buffer[256];
            const auto n = ::read(output_, buffer, sizeof buffer);
            if (n == 0) {
                throw std::runtime_error("the server exited before it printed a port; output: " +
                                         line);
            }
            if (n > 0) {
                line.append(buffer, static_cast<std::size_t>(n));
            }
        }
        line.resize(line.find('\n'));
        if (line.rfind("PORT ", 0) != 0) {
            throw std::runtime_error("the server printed \"" + line + "\" instead of PORT n");
        }
        return std::stoi(line.substr(5));
    }

    pid_t pid_ = -1;
    int output_ = -1;
    int port_ = 0;
};

} // namespace chime::testing
