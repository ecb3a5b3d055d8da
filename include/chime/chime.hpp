// The umbrella header: everything in chime's core. Integrations with ZeroMQ,
// SQLite, HTTP and SMTP have headers of their own and are not included here.
#pragma once

#include <chime/at.hpp>
#include <chime/calendar_interval.hpp>
#include <chime/combinators.hpp>
#include <chime/cron.hpp>
#include <chime/cron_expression.hpp>
#include <chime/dst.hpp>
#include <chime/error.hpp>
#include <chime/interval.hpp>
#include <chime/iso8601.hpp>
#include <chime/jitter.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/triggers.hpp>
#include <chime/zone.hpp>
