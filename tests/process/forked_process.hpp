// Helpers for the process tests: run a test body in a forked copy of the
// test process, and make temporary files and directories.
//
// A forked copy has children, a uid and a subreaper flag of its own, so a
// body can check that no zombie is left (waitpid(-1) fails with ECHILD), drop
// root, or adopt orphaned grandchildren without touching the test runner.
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace chime_test {

using facts = std::map<std::string, std::string>;

// Runs `body` in a forked process and returns the facts it recorded. A
// value must not contain a newline. An exception in the body is recorded as
// the fact "exception". A body still running after 60 s is ended by SIGALRM,
// which fails the REQUIRE on its exit status instead of hanging the test run.
inline facts facts_from_forked_process(const std::function<void(facts&)>& body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        ::alarm(60);
        facts recorded;
        try {
            body(recorded);
        } catch (const std::exception& e) {
            recorded["exception"] = e.what();
        } catch (...) {
            recorded["exception"] = "unknown";
        }
        std::string text;
        for (const auto& [name, value] : recorded) {
            text += name + "=" + value + "\n";
        }
        std::size_t written = 0;
        while (written < text.size()) {
            ssize_t n = ::write(fds[1], text.data() + written, text.size() - written);
            if (n <= 0) {
                break;
            }
            written += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));

    facts recorded;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        auto line = text.substr(start, end - start);
        auto equals = line.find('=');
        recorded[line.substr(0, equals)] =
            equals == std::string::npos ? "" : line.substr(equals + 1);
        start = end == std::string::npos ? text.size() : end + 1;
    }
    return recorded;
}

// A fresh directory under the system's temporary directory, removed with its
// contents at the end of the scope.
class temporary_directory {
public:
    temporary_directory() {
        auto pattern = (std::filesystem::temp_directory_path() / "chime-process-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
    ~temporary_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    const std::filesystem::path& path() const noexcept { return path_; }

    // Writes `content` to `name` in the directory with permission bits `mode`.
    std::filesystem::path write_file(const std::string& name, const std::string& content,
                                     mode_t mode) const {
        auto file = path_ / name;
        int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, content.data(), content.size()) ==
                static_cast<ssize_t>(content.size()));
        ::close(fd);
        REQUIRE(::chmod(file.c_str(), mode) == 0);
        return file;
    }

private:
    std::filesystem::path path_;
};

// True when `text` is well-formed UTF-8 (no overlong forms or surrogates).
inline bool is_valid_utf8(const std::string& text) {
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        unsigned min = 0;
        unsigned code = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            length = 2, min = 0x80, code = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3, min = 0x800, code = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4, min = 0x10000, code = c & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) {
                return false;
            }
            code = (code << 6) | (next & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            return false;
        }
        i += length;
    }
    return true;
}

} // namespace chime_test
