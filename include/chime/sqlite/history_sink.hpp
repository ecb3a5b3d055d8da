// The history sink: writes each report of a job into the store as a run and
// prunes the job's history by its retention settings. It is a report_sink like
// mail or log, so a job lists it with a delivery mode; the worker binds it to
// its store and the job before delivering.
//
// Thread safety: as the store it writes to; one thread at a time.
#pragma once

#include <chime/error.hpp>
#include <chime/report_sink.hpp>
#include <chime/sqlite/store.hpp>

#include <nlohmann/json.hpp>

#include <string_view>

namespace chime {

struct history_sink {
    static constexpr std::string_view kind = "history";

    retention keep;

    // Reads the retention keys of a sink entry such as
    // {"kind": "history", "when": "always", "keep_last": 50, "max_age": "P30D"}.
    // "kind" and "when" belong to the entry and are passed over here.
    static history_sink from_json(const nlohmann::json& settings) {
        if (!settings.is_object()) {
            throw invalid_input("history sink: expected a JSON object, got " +
                                detail::describe_json(settings));
        }
        auto own = settings;
        own.erase("kind");
        own.erase("when");
        history_sink sink;
        sink.keep = retention::from_json(own);
        return sink;
    }

    nlohmann::json to_json() const { return keep.to_json(); }

    // Sets where deliver() writes. The store must outlive the sink.
    void bind(store& s, store_job_id job) noexcept {
        store_ = &s;
        job_ = job;
    }

    // Records the report as a finished run of the bound job. Throws
    // chime::error when the sink was never bound, store_error when SQLite fails.
    void deliver(const report& r) {
        if (store_ == nullptr) {
            throw error("history sink: deliver() was called before bind(store, job)");
        }
        store_->record_run(job_, r, keep);
    }

private:
    store* store_ = nullptr;
    store_job_id job_ = 0;
};

static_assert(report_sink<history_sink>);

} // namespace chime
