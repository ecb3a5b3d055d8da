// chime::any_trigger listed as if it were a trigger type.
// expected: static assertion failed: chime::registry: chime::any_trigger wraps a trigger of any type and is not a trigger type itself; list the trigger types it would wrap instead
// expected: In instantiation of '[^']*\[with Trigger = chime::any_trigger\]'
#include <chime/interval.hpp>
#include <chime/registry.hpp>

#ifdef CHIME_TWIN
using triggers = chime::trigger_registry<chime::interval_trigger>;
#else
using triggers = chime::trigger_registry<chime::interval_trigger, chime::any_trigger>;
#endif

// Naming a member instantiates the registry, which runs its checks.
[[maybe_unused]] constexpr std::size_t listed = triggers::size;
