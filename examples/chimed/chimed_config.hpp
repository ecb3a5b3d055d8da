// The registries of chimed: the types a stored job may name. chimectl
// builds jobs from these kinds; a program that embeds the worker lists its
// own types instead.
#pragma once

#include <chime/default_triggers.hpp>
#include <chime/process/shell_task.hpp>
#include <chime/registry.hpp>
#include <chime/sinks/log_sink.hpp>
#include <chime/sinks/mail_sink.hpp>
#include <chime/sinks/webhook_sink.hpp>
#include <chime/sqlite/history_sink.hpp>

namespace chimed {

struct config {
    using triggers = chime::default_triggers;
    using tasks = chime::task_registry<chime::shell_task>;
    using sinks = chime::sink_registry<chime::history_sink, chime::log_sink, chime::mail_sink,
                                       chime::webhook_sink>;
};

} // namespace chimed
