// default_triggers: the registry of every trigger that ships with chime. A
// program that adds trigger types of its own lists them with these in a
// registry of its own.
// Thread safety: see registry.hpp.
#pragma once

#include <chime/at.hpp>
#include <chime/calendar_interval.hpp>
#include <chime/combinators.hpp>
#include <chime/cron.hpp>
#include <chime/interval.hpp>
#include <chime/jitter.hpp>
#include <chime/registry.hpp>

namespace chime {

using default_triggers = registry<cron_trigger, interval_trigger, at_trigger,
                                  calendar_interval_trigger, any_of, all_of, except, jitter>;

} // namespace chime
