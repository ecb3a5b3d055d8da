// Runs a program as a child process in a process group of its own. argv is
// executed directly (no shell), and stdin comes from a string. stdout and
// stderr are captured together, in the order written, into an output_buffer.
// The whole group is stopped on timeout or on request. POSIX only: on Linux
// the child's exit is watched through a pidfd, elsewhere by polling every 10 ms.
//
// Thread safety: run_child may be called from several threads at once, and
// each call owns its child. It forks, and between fork and exec the child
// calls only async-signal-safe functions, so it is safe in a threaded
// program. It never calls waitpid(-1) and never installs a signal handler,
// so it leaves the caller's other children and signal dispositions alone.
#pragma once

#include <chime/task.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/resource.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

extern "C" char** environ;

namespace chime {

// The program to run and the settings of its process.
struct child_options {
    // The program and its arguments, and argv[0] must not be empty. A program
    // name that contains '/' is a path (relative to working_directory when
    // that is set). Any other name is searched for in the PATH of the
    // child's environment, or in /usr/bin:/bin when that environment has no PATH.
    std::vector<std::string> argv;

    // Bytes written to the child's stdin, which is then closed. When empty,
    // stdin is /dev/null.
    std::string stdin_data;

    // True: the caller's environment with `environment` applied on top.
    // False: exactly `environment`. In both cases, running as another user
    // first sets HOME, USER and LOGNAME from that user's passwd entry, and
    // `environment` may override them.
    bool inherit_environment = true;
    std::map<std::string, std::string> environment;

    // The directory the child starts in; empty keeps the caller's. It is
    // entered after the switch of user, so the target user must be able to
    // enter it.
    std::string working_directory;

    // The user to run as, by name or numeric uid; empty keeps the caller's.
    // Switching needs root. A caller that is not root may name its own user,
    // and the child then runs without a switch.
    std::string user;

    // The time between SIGTERM and SIGKILL when the child is stopped.
    std::chrono::milliseconds kill_grace = std::chrono::seconds{10};
};

// How a child ended, in one of three forms.
//   - error is set and neither exit_code nor signal: chime started no child
//     (invalid options, unknown user, no permission to switch, fork failed).
//   - error is set and exit_code is 125, 126 or 127, the exit statuses that
//     GNU env and POSIX shells use. 125: the child could not set up its
//     standard streams, user or working directory. 126: it found the program
//     but could not execute it. 127: it found no program.
//   - error is empty: the program ran, and exit_code or signal shows how it
//     ended. Both are empty only when it never started, because `stop` was
//     already requested or `deadline` had passed.
struct child_result {
    // The exit status, when the child exited.
    std::optional<int> exit_code;

    // The signal that ended the child, when one did.
    std::optional<int> signal;

    // The deadline passed, and the process group was sent SIGTERM.
    bool timed_out = false;

    // A stop was requested, and the process group was sent SIGTERM.
    bool stopped = false;

    // The child outlived the kill grace after SIGTERM, and the group was sent SIGKILL.
    bool killed_after_grace = false;

    // The reason chime could not run the program, naming it. Empty when it ran.
    std::string error;
};

// Runs options.argv and waits for it, writing its stdout and stderr into
// `output`. Past the cap of `output` the child's output is read and
// discarded, so the child never blocks on a full pipe. The cut at the cap
// never splits a valid UTF-8 sequence, even one split between two reads.
//
// When `stop` is requested or `deadline` passes, the process group gets
// SIGTERM, and SIGKILL when the child is still alive options.kill_grace
// later. When the child exits, every process still in its group gets
// SIGKILL, so that a grandchild left in the background neither outlives the
// run nor keeps the output pipe open. The child is always reaped. Grandchildren
// are reaped by init or by the nearest subreaper, as any orphan is.
//
// Returns every failure as a value in child_result::error and throws only
// std::bad_alloc.
child_result run_child(const child_options& options, output_buffer& output,
                       std::stop_token stop = {},
                       std::chrono::steady_clock::time_point deadline =
                           std::chrono::steady_clock::time_point::max());

// The same, with the output buffer, stop token and deadline of a task's run.
child_result run_child(const child_options& options, run_context& context);

// "SIGKILL" for 9, or "" for a number that has no standard name.
std::string_view signal_name(int signal_number) noexcept;

// "SIGKILL (9)", or "signal 42" for a number that has no standard name.
std::string describe_signal(int signal_number);

// ---------------------------------------------------------------------------
// Definitions

inline std::string_view signal_name(int signal_number) noexcept {
    switch (signal_number) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGILL:
        return "SIGILL";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGKILL:
        return "SIGKILL";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGTERM:
        return "SIGTERM";
    case SIGCHLD:
        return "SIGCHLD";
    case SIGCONT:
        return "SIGCONT";
    case SIGSTOP:
        return "SIGSTOP";
    case SIGTSTP:
        return "SIGTSTP";
    case SIGTTIN:
        return "SIGTTIN";
    case SIGTTOU:
        return "SIGTTOU";
    case SIGURG:
        return "SIGURG";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    case SIGVTALRM:
        return "SIGVTALRM";
    case SIGPROF:
        return "SIGPROF";
    case SIGSYS:
        return "SIGSYS";
    default:
        return "";
    }
}

inline std::string describe_signal(int signal_number) {
    auto name = signal_name(signal_number);
    if (name.empty()) {
        return "signal " + std::to_string(signal_number);
    }
    return std::string(name) + " (" + std::to_string(signal_number) + ")";
}

namespace detail::child {

using steady = std::chrono::steady_clock;

// Exit statuses of a child that could not run its program.
inline constexpr int setup_failed_status = 125;
inline constexpr int not_executable_status = 126;
inline constexpr int not_found_status = 127;

// The step at which a child failed before exec. The child writes it to a
// pipe that exec closes, so the parent reads either a record or end-of-file.
enum class failed_step : int { redirect = 1, user, directory, exec };

struct failure_record {
    int step = 0;
    int error = 0;
};

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

inline std::string errno_message(int error) { return std::system_category().message(error); }

// Creates a pipe whose ends close on exec, so that no other child inherits them.
inline bool make_pipe(unique_fd& read_end, unique_fd& write_end) {
    int fds[2];
#if defined(__linux__)
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return false;
    }
#else
    if (::pipe(fds) != 0) {
        return false;
    }
    ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
    return true;
}

inline void set_nonblocking(int fd) noexcept {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) {
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
}

struct user_identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string name;
    std::string home;
};

// Looks `user` up by name, or as a numeric uid when no user has that name.
// On failure returns nullopt and sets `error`.
inline std::optional<user_identity> find_user(const std::string& user, std::string& error) {
    long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 16384);
    passwd entry{};
    passwd* found = nullptr;

    auto lookup = [&](auto&& call) -> int {
        for (;;) {
            int rc = call();
            if (rc == ERANGE && buffer.size() < (std::size_t{1} << 20)) {
                buffer.resize(buffer.size() * 2);
                continue;
            }
            return rc;
        }
    };

    int rc = lookup([&] {
        return ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
    });
    const bool numeric = !user.empty() && std::all_of(user.begin(), user.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    if (rc == 0 && !found && numeric && user.size() < 10) {
        auto uid = static_cast<uid_t>(std::stoul(user));
        rc = lookup([&] { return ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found); });
    }
    if (rc != 0) {
        error = "cannot look up user \"" + user + "\": " + errno_message(rc);
        return std::nullopt;
    }
    if (!found) {
        error = "user \"" + user + "\" not found in the passwd database";
        return std::nullopt;
    }
    return user_identity{entry.pw_uid, entry.pw_gid, entry.pw_name,
                         entry.pw_dir ? entry.pw_dir : ""};
}

// The supplementary groups of `identity`, as initgroups would set them.
// Computed in the parent because initgroups reads files and allocates,
// which a child of a threaded process must not do before exec.
inline std::vector<gid_t> supplementary_groups(const user_identity& identity) {
    int count = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    while (::getgrouplist(identity.name.c_str(), identity.gid, groups.data(), &count) == -1) {
        if (groups.size() >= 65536) {
            break;
        }
        count = std::max(count, static_cast<int>(groups.size()) * 2);
        groups.resize(static_cast<std::size_t>(count));
    }
    groups.resize(static_cast<std::size_t>(std::clamp(count, 0, static_cast<int>(groups.size()))));
    return groups;
}

// Everything the child needs between fork and exec, prepared in the parent
// so that the child does not allocate.
struct spawn_plan {
    std::vector<std::string> environment_entries;
    std::vector<char*> envp;
    std::vector<char*> argv;
    std::vector<std::string> candidates;
    std::vector<const char*> candidate_paths;
    std::string search_path;

    bool switch_user = false;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;

    const char* directory = nullptr;
    int max_fd = 1024;
};

inline bool contains_nul(std::string_view text) noexcept {
    return text.find('\0') != std::string_view::npos;
}

// Returns why `options` cannot be run, or "" when they can.
inline std::string check_options(const child_options& options) {
    if (options.argv.empty()) {
        return "argv is empty; it needs at least the program to run";
    }
    if (options.argv.front().empty()) {
        return "argv[0] is empty; it names the program to run";
    }
    for (std::size_t i = 0; i < options.argv.size(); ++i) {
        if (contains_nul(options.argv[i])) {
            return "argv[" + std::to_string(i) + "] contains a NUL byte, which no argument can carry";
        }
    }
    for (const auto& [name, value] : options.environment) {
        if (name.empty() || name.find('=') != std::string::npos || contains_nul(name)) {
            return "environment variable name \"" + name +
                   "\" is invalid; a name must be non-empty and contain no '=' or NUL byte";
        }
        if (contains_nul(value)) {
            return "environment variable " + name + " contains a NUL byte";
        }
    }
    if (contains_nul(options.working_directory)) {
        return "working directory contains a NUL byte";
    }
    if (contains_nul(options.user)) {
        return "user name contains a NUL byte";
    }
    return "";
}

inline void build_environment(const child_options& options, const user_identity* target,
                              spawn_plan& plan) {
    std::map<std::string, std::string> merged;
    if (options.inherit_environment && environ) {
        for (char** entry = environ; *entry; ++entry) {
            std::string_view text(*entry);
            auto equals = text.find('=');
            if (equals == std::string_view::npos || equals == 0) {
                continue;
            }
            merged.emplace(std::string(text.substr(0, equals)),
                           std::string(text.substr(equals + 1)));
        }
    }
    if (target) {
        merged.insert_or_assign("HOME", target->home);
        merged.insert_or_assign("USER", target->name);
        merged.insert_or_assign("LOGNAME", target->name);
    }
    for (const auto& [name, value] : options.environment) {
        merged.insert_or_assign(name, value);
    }

    auto path = merged.find("PATH");
    plan.search_path = path != merged.end() ? path->second : "/usr/bin:/bin";

    plan.environment_entries.reserve(merged.size());
    for (const auto& [name, value] : merged) {
        plan.environment_entries.push_back(name + "=" + value);
    }
    for (auto& entry : plan.environment_entries) {
        plan.envp.push_back(entry.data());
    }
    plan.envp.push_back(nullptr);
}

// The paths that exec tries in turn, as execvp would search, but with the
// PATH of the child's environment rather than the caller's.
inline void build_candidates(const std::string& program, spawn_plan& plan) {
    if (program.find('/') != std::string::npos) {
        plan.candidates.push_back(program);
    } else {
        std::string_view rest = plan.search_path;
        for (;;) {
            auto colon = rest.find(':');
            auto directory = rest.substr(0, colon);
            plan.candidates.push_back((directory.empty() ? std::string(".") : std::string(directory)) +
                                      "/" + program);
            if (colon == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(colon + 1);
        }
    }
    for (const auto& candidate : plan.candidates) {
        plan.candidate_paths.push_back(candidate.c_str());
    }
}

inline void close_descriptors_from(int first, int max_fd) noexcept {
#if defined(SYS_close_range)
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, 0u) == 0) {
        return;
    }
#endif
    for (int fd = first; fd < max_fd; ++fd) {
        ::close(fd);
    }
}

[[noreturn]] inline void report_and_exit(int report_fd, failed_step step, int error,
                                         int status) noexcept {
    failure_record record{static_cast<int>(step), error};
    ssize_t written = ::write(report_fd, &record, sizeof record);
    static_cast<void>(written);
    ::_exit(status);
}

// The child's side of fork: only async-signal-safe calls, no allocation.
[[noreturn]] inline void exec_in_child(const spawn_plan& plan, int stdin_fd, int output_fd,
                                       int report_fd) noexcept {
    auto fail = [&report_fd](failed_step step, int error, int status) {
        report_and_exit(report_fd, step, error, status);
    };

    // The parent blocked every signal around fork, so no handler of the
    // parent can run here. All are reset before unblocking, because SIG_IGN
    // survives exec (a daemon that ignores SIGPIPE would pass that on).
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int s = 1; s < NSIG; ++s) {
        if (s != SIGKILL && s != SIGSTOP) {
            ::sigaction(s, &default_action, nullptr);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    ::setpgid(0, 0);

    // Descriptors 0 to 3 are about to be overwritten, so any of ours that
    // sits there moves up first (a daemon that closed stdin may have been
    // handed fd 0 for one of the pipes).
    auto lift = [&](int& fd) {
        if (fd <= 3) {
            int moved = ::fcntl(fd, F_DUPFD, 4);
            if (moved < 0) {
                fail(failed_step::redirect, errno, setup_failed_status);
            }
            fd = moved;
        }
    };
    lift(report_fd);
    lift(stdin_fd);
    lift(output_fd);
    if (::dup2(report_fd, 3) < 0) {
        fail(failed_step::redirect, errno, setup_failed_status);
    }
    report_fd = 3;
    ::fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    if (::dup2(stdin_fd, 0) < 0 || ::dup2(output_fd, 1) < 0 || ::dup2(output_fd, 2) < 0) {
        fail(failed_step::redirect, errno, setup_failed_status);
    }
    close_descriptors_from(4, plan.max_fd);

    if (plan.switch_user) {
        if (::setgroups(plan.groups.size(), plan.groups.data()) != 0 || ::setgid(plan.gid) != 0 ||
            ::setuid(plan.uid) != 0) {
            fail(failed_step::user, errno, setup_failed_status);
        }
    }
#if defined(__linux__)
    // When the worker is killed (SIGKILL, a crash), the command is killed
    // too instead of running on unrecorded beside the rerun that recovery
    // may start. Set after the user switch, which clears it. A worker that
    // died before this line left the child to init, which it checks.
    // NOTE: only the command itself gets the signal; its own children
    // survive a killed worker.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) {
        ::_exit(setup_failed_status);
    }
#endif
    if (plan.directory && ::chdir(plan.directory) != 0) {
        fail(failed_step::directory, errno, setup_failed_status);
    }

    // As execvp does: a candidate that does not exist moves on to the next
    // one, EACCES is remembered in case no later one works, and any other
    // error ends the search.
    int error = ENOENT;
    bool denied = false;
    for (const char* candidate : plan.candidate_paths) {
        ::execve(candidate, plan.argv.data(), plan.envp.data());
        int e = errno;
        if (e == EACCES) {
            denied = true;
            continue;
        }
        if (e == ENOENT || e == ENOTDIR) {
            continue;
        }
        error = e;
        break;
    }
    if (error == ENOENT && denied) {
        error = EACCES;
    }
    report_and_exit(report_fd, failed_step::exec, error,
                    error == ENOENT ? not_found_status : not_executable_status);
}

inline std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

inline std::string describe_failure(const failure_record& record, const child_options& options,
                                    const spawn_plan& plan) {
    const auto& program = options.argv.front();
    const auto reason = errno_message(record.error);
    switch (static_cast<failed_step>(record.step)) {
    case failed_step::redirect:
        return "cannot set up stdin, stdout and stderr for " + in_quotes(program) + ": " + reason;
    case failed_step::user:
        return "cannot switch to user " + in_quotes(options.user) + " (uid " +
               std::to_string(plan.uid) + ", gid " + std::to_string(plan.gid) +
               ") to run " + in_quotes(program) + ": " + reason;
    case failed_step::directory:
        return "cannot change to working directory " + in_quotes(options.working_directory) +
               " to run " + in_quotes(program) + ": " + reason;
    case failed_step::exec:
        break;
    }
    if (record.error == ENOENT) {
        if (program.find('/') != std::string::npos) {
            return "command not found: " + in_quotes(program) + " does not exist";
        }
        return "command not found: " + in_quotes(program) + " is in no directory of PATH " +
               in_quotes(plan.search_path);
    }
    if (record.error == ENOEXEC) {
        return "cannot execute " + in_quotes(program) + ": " + reason +
               "; a script needs a #! line naming its interpreter";
    }
    return "cannot execute " + in_quotes(program) + ": " + reason;
}

// Blocks SIGPIPE in the calling thread while the parent writes the child's
// stdin, so that a child that exits without reading it makes write() fail
// with EPIPE instead of killing the caller. A SIGPIPE raised by those writes
// is consumed before the old mask comes back.
class sigpipe_blocker {
public:
    sigpipe_blocker() noexcept {
        sigemptyset(&pipe_only_);
        sigaddset(&pipe_only_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        ::sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        ::pthread_sigmask(SIG_BLOCK, &pipe_only_, &old_mask_);
    }
    sigpipe_blocker(const sigpipe_blocker&) = delete;
    sigpipe_blocker& operator=(const sigpipe_blocker&) = delete;

    ~sigpipe_blocker() {
        if (raised_ && !was_pending_) {
            timespec no_wait{};
            while (::sigtimedwait(&pipe_only_, nullptr, &no_wait) < 0 && errno == EINTR) {
            }
        }
        ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    }

    void note_epipe() noexcept { raised_ = true; }

private:
    sigset_t pipe_only_;
    sigset_t old_mask_;
    bool was_pending_ = false;
    bool raised_ = false;
};

// The length of an incomplete UTF-8 sequence at the end of `data`, or 0 when
// data ends on a sequence boundary or its tail is not UTF-8.
inline std::size_t incomplete_utf8_tail(const char* data, std::size_t size) noexcept {
    for (std::size_t back = 1; back <= 3 && back <= size; ++back) {
        auto c = static_cast<unsigned char>(data[size - back]);
        if ((c & 0xc0) == 0x80) {
            continue;
        }
        std::size_t length = 1;
        if ((c & 0xe0) == 0xc0) {
            length = 2;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4;
        }
        return length > back ? back : 0;
    }
    return 0;
}

// Reads the child's output pipe into an output_buffer. A UTF-8 sequence
// split between two reads is held back until it is whole, so that each
// write to the buffer ends on a sequence boundary and the buffer's cut at
// its cap never splits one.
class output_reader {
public:
    explicit output_reader(output_buffer& output)
        : output_(output), buffer_(std::make_unique<char[]>(chunk_size + 4)) {}

    // Reads once. Returns false at end-of-file or on a read error.
    bool read_from(int fd) {
        char* into = buffer_.get() + carried_;
        ssize_t n = ::read(fd, into, chunk_size);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        if (n == 0) {
            return false;
        }
        if (output_.truncated()) {
            carried_ = 0;
            return true;
        }
        std::size_t size = carried_ + static_cast<std::size_t>(n);
        std::size_t tail = incomplete_utf8_tail(buffer_.get(), size);
        output_.write(std::string_view(buffer_.get(), size - tail));
        std::copy(buffer_.get() + size - tail, buffer_.get() + size, buffer_.get());
        carried_ = tail;
        return true;
    }

    // Reads until the pipe is empty (or closed), without blocking.
    void drain(int fd) {
        for (;;) {
            char* into = buffer_.get() + carried_;
            ssize_t n = ::read(fd, into, chunk_size);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return;
            }
            carried_ += static_cast<std::size_t>(n);
            flush_whole_sequences();
        }
    }

    // Writes a held-back partial sequence, once no more output will come.
    void finish() {
        if (carried_ > 0) {
            output_.write(std::string_view(buffer_.get(), carried_));
            carried_ = 0;
        }
    }

private:
    static constexpr std::size_t chunk_size = 64 * 1024;

    void flush_whole_sequences() {
        std::size_t tail = incomplete_utf8_tail(buffer_.get(), carried_);
        output_.write(std::string_view(buffer_.get(), carried_ - tail));
        std::copy(buffer_.get() + carried_ - tail, buffer_.get() + carried_, buffer_.get());
        carried_ = tail;
    }

    output_buffer& output_;
    std::unique_ptr<char[]> buffer_;
    std::size_t carried_ = 0;
};

// Writes a byte to a pipe when a stop is requested, to wake poll().
struct wake_on_stop {
    int fd;
    void operator()() const noexcept {
        char byte = 1;
        ssize_t written = ::write(fd, &byte, 1);
        static_cast<void>(written);
    }
};

inline int poll_timeout(steady::time_point now, steady::time_point until) {
    if (until == steady::time_point::max()) {
        return -1;
    }
    if (until <= now) {
        return 0;
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

inline steady::time_point saturating_add(steady::time_point t, std::chrono::milliseconds d) {
    if (d.count() <= 0) {
        return t;
    }
    if (std::chrono::duration_cast<steady::duration>(d) > steady::time_point::max() - t) {
        return steady::time_point::max();
    }
    return t + d;
}

// True when `pid` has exited, leaving it unreaped, so that its pid (and the
// id of its process group) cannot be reused while we still signal the group.
inline bool has_exited_unreaped(pid_t pid) noexcept {
    siginfo_t info{};
    info.si_pid = 0;
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno != EINTR) {
            return true;
        }
    }
    return info.si_pid != 0;
}

// The wait status of `pid`, or nullopt when it cannot be had (another part
// of the program reaped the child, or SIGCHLD is set to SIG_IGN).
inline std::optional<int> reap(pid_t pid) noexcept {
    int status = 0;
    for (;;) {
        if (::waitpid(pid, &status, 0) == pid) {
            return status;
        }
        if (errno != EINTR) {
            return std::nullopt;
        }
    }
}

inline void record_status(std::optional<int> status, const std::string& program,
                          child_result& result) {
    if (!status) {
        result.error = "the exit status of " + in_quotes(program) + " was lost: waitpid failed: " +
                       errno_message(errno) +
                       "; another part of the program reaped it, or SIGCHLD is ignored";
        return;
    }
    if (WIFEXITED(*status)) {
        result.exit_code = WEXITSTATUS(*status);
    } else if (WIFSIGNALED(*status)) {
        result.signal = WTERMSIG(*status);
    }
}

inline bool ready(const pollfd& p) noexcept {
    return (p.revents & (POLLIN | POLLOUT | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

// The process groups of the commands run_child is waiting for, so that a
// stopping worker can end them all (signal_running_children).
struct group_registry {
    std::mutex mutex;
    std::set<pid_t> groups;

    static group_registry& instance() {
        static group_registry registry;
        return registry;
    }
};

// Registers a group from fork until just before its leader is reaped: after
// the reap the id may name another process's group.
class group_registration {
public:
    explicit group_registration(pid_t group) : group_(group) {
        auto& r = group_registry::instance();
        std::lock_guard lock(r.mutex);
        r.groups.insert(group_);
    }
    ~group_registration() { release(); }
    group_registration(const group_registration&) = delete;
    group_registration& operator=(const group_registration&) = delete;

    void release() {
        if (group_ > 0) {
            auto& r = group_registry::instance();
            std::lock_guard lock(r.mutex);
            r.groups.erase(group_);
            group_ = 0;
        }
    }

private:
    pid_t group_;
};

} // namespace detail::child

// Sends `signal_number` to the process group of every command that run_child
// started in this process and has not reaped yet, and returns how many. A
// worker whose stop grace ends sends SIGKILL this way, so commands that
// ignore SIGTERM cannot hold up its exit for their whole kill grace.
inline std::size_t signal_running_children(int signal_number) {
    auto& r = detail::child::group_registry::instance();
    std::lock_guard lock(r.mutex);
    for (auto group : r.groups) {
        ::kill(-group, signal_number);
    }
    return r.groups.size();
}

inline child_result run_child(const child_options& options, output_buffer& output,
                              std::stop_token stop, std::chrono::steady_clock::time_point deadline) {
    namespace d = detail::child;
    child_result result;

    if (auto problem = d::check_options(options); !problem.empty()) {
        result.error = "cannot run the program: " + problem;
        return result;
    }
    if (stop.stop_requested()) {
        result.stopped = true;
        return result;
    }
    if (d::steady::now() >= deadline) {
        result.timed_out = true;
        return result;
    }

    const std::string& program = options.argv.front();
    d::spawn_plan plan;

    std::optional<d::user_identity> target;
    if (!options.user.empty()) {
        auto identity = d::find_user(options.user, result.error);
        if (!identity) {
            result.error += "; cannot run " + d::in_quotes(program);
            return result;
        }
        const uid_t effective = ::geteuid();
        if (effective == 0) {
            target = std::move(identity);
        } else if (identity->uid != effective) {
            result.error = "cannot run " + d::in_quotes(program) + " as user " +
                           d::in_quotes(options.user) + " (uid " + std::to_string(identity->uid) +
                           "): switching users needs root, and this process runs as uid " +
                           std::to_string(effective) +
                           "; remove \"user\" or run the worker as root";
            return result;
        }
    }
    if (target) {
        plan.switch_user = true;
        plan.uid = target->uid;
        plan.gid = target->gid;
        plan.groups = d::supplementary_groups(*target);
    }

    d::build_environment(options, target ? &*target : nullptr, plan);
    d::build_candidates(program, plan);
    for (const auto& argument : options.argv) {
        plan.argv.push_back(const_cast<char*>(argument.c_str()));
    }
    plan.argv.push_back(nullptr);
    if (!options.working_directory.empty()) {
        plan.directory = options.working_directory.c_str();
    }
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
        plan.max_fd = static_cast<int>(std::min<rlim_t>(files.rlim_cur, 65536));
    }

    auto system_failure = [&](const char* what) {
        result.error = "cannot start " + d::in_quotes(program) + ": " + what + ": " +
                       d::errno_message(errno);
        return result;
    };

    d::unique_fd report_read, report_write, output_read, output_write, stdin_read, stdin_write;
    d::unique_fd wake_read, wake_write;
    if (!d::make_pipe(report_read, report_write) || !d::make_pipe(output_read, output_write)) {
        return system_failure("cannot create a pipe");
    }
    if (options.stdin_data.empty()) {
        stdin_read.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!stdin_read) {
            return system_failure("cannot open /dev/null");
        }
    } else if (!d::make_pipe(stdin_read, stdin_write)) {
        return system_failure("cannot create a pipe");
    }
    if (stop.stop_possible()) {
        if (!d::make_pipe(wake_read, wake_write)) {
            return system_failure("cannot create a pipe");
        }
        d::set_nonblocking(wake_read.get());
        d::set_nonblocking(wake_write.get());
    }

    // All signals stay blocked from fork until the child has reset its
    // handlers, so that no handler of this process runs in the child.
    sigset_t all, old_mask;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    const pid_t pid = ::fork();
    if (pid == 0) {
        d::exec_in_child(plan, stdin_read.get(), output_write.get(), report_write.get());
    }
    const int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    if (pid < 0) {
        errno = fork_error;
        return system_failure("fork failed");
    }

    // Set here as well as in the child, so that the group exists before
    // this process signals it, whichever side runs first.
    ::setpgid(pid, pid);
    d::group_registration registration(pid);
    report_write.reset();
    output_write.reset();
    stdin_read.reset();

    // NOTE: this read waits for exec without a timeout, so a child stuck
    // before exec (chdir into a hung network mount) ignores stop and deadline.
    d::failure_record record;
    std::size_t received = 0;
    while (received < sizeof record) {
        ssize_t n = ::read(report_read.get(), reinterpret_cast<char*>(&record) + received,
                           sizeof record - received);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        received += static_cast<std::size_t>(n);
    }
    report_read.reset();
    if (received == sizeof record) {
        registration.release();
        d::record_status(d::reap(pid), program, result);
        result.signal.reset();
        result.error = d::describe_failure(record, options, plan);
        return result;
    }

    d::unique_fd pidfd;
#if defined(SYS_pidfd_open)
    pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif

    d::set_nonblocking(output_read.get());
    std::optional<d::sigpipe_blocker> sigpipe_guard;
    if (stdin_write) {
        d::set_nonblocking(stdin_write.get());
        sigpipe_guard.emplace();
    }
    std::optional<std::stop_callback<d::wake_on_stop>> stop_callback;
    if (wake_write) {
        stop_callback.emplace(stop, d::wake_on_stop{wake_write.get()});
    }

    d::output_reader reader(output);
    std::size_t stdin_written = 0;

    auto signal_group = [pid](int signal_number) {
        ::kill(-pid, signal_number);
        // The leader too, in case it left the group before the signal.
        ::kill(pid, signal_number);
    };

    enum class phase { running, terminating, killed };
    phase current = phase::running;
    d::steady::time_point kill_at = d::steady::time_point::max();

    auto terminate = [&](d::steady::time_point now) {
        signal_group(SIGTERM);
        current = phase::terminating;
        kill_at = d::saturating_add(now, options.kill_grace);
    };

    bool exited = false;
    while (!exited) {
        auto now = d::steady::now();
        if (current == phase::running) {
            if (stop.stop_requested()) {
                result.stopped = true;
                terminate(now);
            } else if (now >= deadline) {
                result.timed_out = true;
                terminate(now);
            }
        }
        if (current == phase::terminating && now >= kill_at) {
            signal_group(SIGKILL);
            result.killed_after_grace = true;
            current = phase::killed;
        }

        int timeout = -1;
        if (current == phase::running) {
            timeout = d::poll_timeout(now, deadline);
        } else if (current == phase::terminating) {
            timeout = d::poll_timeout(now, kill_at);
        }
        if (!pidfd) {
            timeout = timeout < 0 ? 10 : std::min(timeout, 10);
        }

        pollfd fds[4];
        nfds_t count = 0;
        int output_index = -1, stdin_index = -1, wake_index = -1, pid_index = -1;
        if (output_read) {
            output_index = static_cast<int>(count);
            fds[count++] = {output_read.get(), POLLIN, 0};
        }
        if (stdin_write) {
            stdin_index = static_cast<int>(count);
            fds[count++] = {stdin_write.get(), POLLOUT, 0};
        }
        if (wake_read && current == phase::running) {
            wake_index = static_cast<int>(count);
            fds[count++] = {wake_read.get(), POLLIN, 0};
        }
        if (pidfd) {
            pid_index = static_cast<int>(count);
            fds[count++] = {pidfd.get(), POLLIN, 0};
        }

        if (::poll(fds, count, timeout) < 0 && errno != EINTR) {
            // ENOMEM: wait a little without the descriptors, so that the
            // loop does not spin, then check the deadline and the exit again.
            ::poll(nullptr, 0, 10);
        }

        if (stdin_index >= 0 && d::ready(fds[stdin_index])) {
            const auto& data = options.stdin_data;
            ssize_t n = ::write(stdin_write.get(), data.data() + stdin_written,
                                data.size() - stdin_written);
            if (n > 0) {
                stdin_written += static_cast<std::size_t>(n);
                if (stdin_written == data.size()) {
                    stdin_write.reset();
                }
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                // EPIPE: the child closed its stdin, so the rest is dropped.
                if (errno == EPIPE) {
                    sigpipe_guard->note_epipe();
                }
                stdin_write.reset();
            }
        }
        if (output_index >= 0 && d::ready(fds[output_index])) {
            if (!reader.read_from(output_read.get())) {
                output_read.reset();
            }
        }
        if (wake_index >= 0 && d::ready(fds[wake_index])) {
            char bytes[16];
            while (::read(wake_read.get(), bytes, sizeof bytes) > 0) {
            }
        }
        if (pidfd) {
            exited = d::ready(fds[pid_index]);
        } else {
            exited = d::has_exited_unreaped(pid);
        }
    }

    // The leader has exited but is not reaped yet, so its pid still names
    // this group and no other process can have taken it. Whatever is left
    // in the group (a background grandchild) is killed, then the output
    // written so far is read.
    signal_group(SIGKILL);
    stdin_write.reset();
    if (output_read) {
        reader.drain(output_read.get());
    }
    reader.finish();
    registration.release();
    d::record_status(d::reap(pid), program, result);
    return result;
}

inline child_result run_child(const child_options& options, run_context& context) {
    return run_child(options, context.output, context.stop, context.deadline);
}

} // namespace chime
