// The task concept: what a job runs. A task type is its own typed settings,
// read from and written to JSON, with a run() that the executor calls with a
// run_context and that returns the run's report.
//
// Thread safety: output_buffer is not synchronised, so one thread at a time
// writes to it. run_context is owned by the executor for the length of one
// run. A task value is shared read-only between runs, so run() is const.
#pragma once

#include <chime/report.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <stop_token>
#include <string>
#include <string_view>

namespace chime {

// The captured output of one run, cut at a byte cap so that a task that
// prints without end cannot exhaust memory or the history table.
class output_buffer {
public:
    explicit output_buffer(std::size_t max_bytes) : max_bytes_(max_bytes) {}

    // Appends `bytes` up to the cap. A write that does not fit is cut, and
    // truncated() becomes true and later writes are dropped, so the text is
    // always a prefix of everything written. The cut moves back to the start
    // of a UTF-8 sequence it would split, so valid UTF-8 stays valid.
    void write(std::string_view bytes);

    // The output kept so far: at most max_bytes() bytes.
    const std::string& text() const noexcept { return text_; }

    // True once a write did not fit under the cap.
    bool truncated() const noexcept { return truncated_; }

    std::size_t max_bytes() const noexcept { return max_bytes_; }

private:
    std::string text_;
    std::size_t max_bytes_;
    bool truncated_ = false;
};

// The inputs the executor passes to a task for one run. A task should return
// soon after `stop` is requested or `deadline` has passed.
struct run_context {
    // The executor's request to cancel the run, for example when the worker stops.
    std::stop_token stop;

    // The end of the job's timeout, or time_point::max() when it has none.
    std::chrono::steady_clock::time_point deadline =
        std::chrono::steady_clock::time_point::max();

    // The buffer the task writes its output to, with a byte cap.
    output_buffer& output;

    // The fire time this run was scheduled for (not when it started).
    instant scheduled{};

    // The id of the job, for log lines and messages.
    std::string_view job;
};

// A task type: `static constexpr std::string_view kind`, a static
// `from_json(const nlohmann::json&)` that reads a value from its settings,
// `to_json() const`, and `report run(run_context&) const`. A task should
// return its expected failures as a failed report rather than throw them.
template <class T>
concept task = std::copy_constructible<T> &&
               requires(const T& t, const nlohmann::json& settings, run_context& context) {
                   { T::kind } -> std::convertible_to<std::string_view>;
                   { T::from_json(settings) } -> std::same_as<T>;
                   { t.to_json() } -> std::same_as<nlohmann::json>;
                   { t.run(context) } -> std::same_as<report>;
               };

namespace detail {

// The smallest type that models task, for checking the concept itself.
struct task_archetype {
    static constexpr std::string_view kind = "archetype";
    static task_archetype from_json(const nlohmann::json&) { return {}; }
    nlohmann::json to_json() const { return nlohmann::json::object(); }
    report run(run_context&) const { return {}; }
};

} // namespace detail

static_assert(task<detail::task_archetype>);
static_assert(!task<int>);

// ---------------------------------------------------------------------------
// Definitions

inline void output_buffer::write(std::string_view bytes) {
    if (truncated_ || bytes.empty()) {
        return;
    }
    const std::size_t room = max_bytes_ - text_.size();
    if (bytes.size() <= room) {
        text_.append(bytes);
        return;
    }

    // bytes[room] is the first byte that does not fit. When it continues a
    // UTF-8 sequence (10xxxxxx), the sequence began at most 3 bytes earlier,
    // and the whole sequence is dropped. Input that is not UTF-8 is cut at room.
    std::size_t cut = room;
    auto continues_sequence = [&](std::size_t i) {
        return (static_cast<unsigned char>(bytes[i]) & 0xc0) == 0x80;
    };
    while (cut > 0 && room - cut < 3 && continues_sequence(cut)) {
        --cut;
    }
    if (continues_sequence(cut)) {
        cut = room;
    }
    text_.append(bytes.substr(0, cut));
    truncated_ = true;
}

} // namespace chime
