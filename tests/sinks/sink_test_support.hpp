// Shared pieces of the sink tests: a temporary directory, a logger that
// keeps its lines, an environment variable set for one test, file reading,
// the servers of tests/servers/ and a sample report.
#pragma once

#include <support/server_process.hpp>

#include <chime/report.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace chime::testing {

// A directory under the system's temporary directory, removed with its
// content on destruction.
class temporary_directory {
public:
    temporary_directory() {
        std::string pattern = (std::filesystem::temp_directory_path() / "chime-sinks-XXXXXX");
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed for " + pattern);
        }
        path_ = pattern;
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
    ~temporary_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

// The files in `directory` whose names end in `suffix`, sorted by name.
inline std::vector<std::filesystem::path> files_ending_in(const std::filesystem::path& directory,
                                                          const std::string& suffix) {
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const auto name = entry.path().filename().string();
        if (name.size() >= suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            found.push_back(entry.path());
        }
    }
    std::sort(found.begin(), found.end());
    return found;
}

// An spdlog sink that keeps each formatted message, for checking log lines.
class line_capture final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

    // All lines joined with '\n'.
    std::string text() {
        std::string joined;
        for (const auto& line : lines()) {
            joined += line + "\n";
        }
        return joined;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        lines_.emplace_back(std::string(spdlog::level::to_string_view(message.level).data(),
                                        spdlog::level::to_string_view(message.level).size()) +
                            " " + std::string(message.payload.data(), message.payload.size()));
    }
    void flush_() override {}

private:
    std::vector<std::string> lines_;
};

// A logger named `name` that writes to a line_capture, registered with spdlog
// for the life of the object so that sinks can find it by name.
class captured_logger {
public:
    explicit captured_logger(const std::string& name)
        : capture_(std::make_shared<line_capture>()),
          logger_(std::make_shared<spdlog::logger>(name, capture_)) {
        logger_->set_level(spdlog::level::trace);
        spdlog::drop(name);
        spdlog::register_logger(logger_);
    }
    captured_logger(const captured_logger&) = delete;
    captured_logger& operator=(const captured_logger&) = delete;
    ~captured_logger() { spdlog::drop(logger_->name()); }

    const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }
    std::vector<std::string> lines() { return capture_->lines(); }
    std::string text() { return capture_->text(); }

private:
    std::shared_ptr<line_capture> capture_;
    std::shared_ptr<spdlog::logger> logger_;
};

// Sets an environment variable for the life of the object, then restores it.
class environment_variable {
public:
    environment_variable(std::string name, const std::string& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) {
            previous_ = old;
        }
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    environment_variable(const environment_variable&) = delete;
    environment_variable& operator=(const environment_variable&) = delete;
    ~environment_variable() {
        if (previous_) {
            ::setenv(name_.c_str(), previous_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }

private:
    std::string name_;
    std::optional<std::string> previous_;
};

inline std::string server_script(const std::string& name) {
    return std::string(CHIME_TEST_SERVERS_DIR) + "/" + name;
}

// A failed run with every field set: output, error, times and a retry.
inline report sample_report() {
    using namespace std::chrono;
    report r;
    r.status = run_status::failed;
    r.exit_code = 3;
    r.output = "line one\nline two\n";
    r.error = "exit code 3";
    r.job = "backup";
    r.scheduled = instant{seconds{1'743'296'400}}; // 2025-03-30T01:00:00Z
    r.started = millisecond_instant{milliseconds{1'743'296'400'125}};
    r.finished = millisecond_instant{milliseconds{1'743'296'402'250}};
    r.reason = "scheduled";
    r.attempt = 2;
    return r;
}

} // namespace chime::testing
