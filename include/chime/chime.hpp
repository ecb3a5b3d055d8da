// The umbrella header: everything in chime's core. Integrations with ZeroMQ,
// SQLite, HTTP and SMTP have headers of their own and are not included here.
#pragma once

#include <chime/at.hpp>
#include <chime/calendar_interval.hpp>
#include <chime/clock.hpp>
#include <chime/combinators.hpp>
#include <chime/cron.hpp>
#include <chime/cron_expression.hpp>
#include <chime/crontab.hpp>
#include <chime/delivery.hpp>
#include <chime/default_triggers.hpp>
#include <chime/dst.hpp>
#include <chime/engine.hpp>
#include <chime/error.hpp>
#include <chime/hashed_wheel.hpp>
#include <chime/heap_timer_queue.hpp>
#include <chime/hierarchical_wheel.hpp>
#include <chime/interval.hpp>
#include <chime/iso8601.hpp>
#include <chime/jitter.hpp>
#include <chime/registry.hpp>
#include <chime/report.hpp>
#include <chime/report_json.hpp>
#include <chime/report_sink.hpp>
#include <chime/run_policy.hpp>
#include <chime/task.hpp>
#include <chime/timer_queue.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/triggers.hpp>
#include <chime/zone.hpp>
