// Compile-time registries: a list of policy types of one role (triggers,
// tasks or report sinks), the std::variant of them, and the lookup from a
// stored kind name and JSON settings to a typed value and back.
//
//   using my_triggers = chime::registry<chime::cron_trigger, business_days>;
//   my_triggers::variant when = my_triggers::from_json(stored_json);
//   std::visit([](const auto& t) { /* t is a cron_trigger or a business_days */ }, when);
//
// registry<Ts...> takes the role of its first type: a trigger when it has
// next_after, a task when it has run, a report sink when it has deliver.
// trigger_registry, task_registry and sink_registry fix the role instead.
// Each type is checked against its role's concept (chime::trigger,
// chime::task, chime::report_sink) and kinds must be unique. A failed check
// is one static_assert naming what is missing. The compiler's instantiation
// note names the type: gcc's "In instantiation of ..." line above the error,
// or clang's "in instantiation of ..." note below it.
//
// Thread safety: every member is static, and from_json and to_json only read
// their arguments, so they may be called from any thread.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/report.hpp>
#include <chime/report_sink.hpp>
#include <chime/task.hpp>
#include <chime/trigger.hpp>
#include <chime/zone.hpp>

#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace chime {

namespace detail {

// The role of a registry's types. The last three are the outcomes of
// inferring the role from a first type that has no clear one.
enum class registry_role { trigger, task, report_sink, unknown, ambiguous, empty };

// Defined below with the compile-time checks.
template <class... Ts>
constexpr registry_role role_of_first();
template <registry_role Role, class... Ts>
constexpr bool check_registry();
template <bool Valid, class... Ts>
constexpr std::array<std::string_view, sizeof...(Ts)> kinds_of();

// The interface shared by every registry. Ts are the policy types of role
// `Role`, each with a unique `static constexpr std::string_view kind`.
template <registry_role Role, class... Ts>
class basic_registry {
    // Naming this member type runs the compile-time checks when the class is
    // instantiated. A failed check fires its own static_assert and yields
    // false, which keeps the definitions below from adding errors of their own.
    using checked_ = std::bool_constant<check_registry<Role, Ts...>()>;
    static constexpr bool valid_ = checked_::value;

public:
    // std::variant<Ts...>. An empty registry, which fails its check, gets a
    // placeholder, because std::variant<> is ill-formed and would add errors.
    using variant = std::conditional_t<sizeof...(Ts) == 0, std::variant<std::monostate>,
                                       std::variant<Ts...>>;
    static constexpr std::size_t size = sizeof...(Ts);
    static constexpr auto types = boost::hana::tuple_t<Ts...>;

    // The kind of each type, in the order of Ts.
    static constexpr std::array<std::string_view, sizeof...(Ts)> kinds =
        kinds_of<valid_, Ts...>();

    // True when one of Ts has this kind.
    static constexpr bool contains(std::string_view kind) noexcept {
        return index_of(kind) < size;
    }

    // True when T is one of Ts.
    template <class T>
    static constexpr bool holds = (std::is_same_v<T, Ts> || ...);

    // Builds the value whose kind is `kind` from its settings, a JSON object
    // that reaches T::from_json as given. A "kind" key in the settings, if
    // present, must equal `kind`. A trigger built from other triggers reads
    // them with this registry, so any type listed here may be its child.
    // Throws invalid_input: an unknown kind is named with the kinds known,
    // and an error in the settings is the type's own message.
    static variant from_json(std::string_view kind, const nlohmann::json& settings);

    // Builds a value from {"kind": ..., settings...}.
    static variant from_json(const nlohmann::json& object_with_kind);

    // The kind of the held type, or "" when `value` is valueless by exception.
    static std::string_view kind_of(const variant& value) noexcept;

    // The value's to_json() with "kind" set. Throws chime::error when a
    // type's to_json() returns JSON that is neither an object nor null.
    static nlohmann::json to_json(const variant& value);

private:
    static constexpr std::size_t index_of(std::string_view kind) noexcept {
        for (std::size_t i = 0; i < size; ++i) {
            if (kinds[i] == kind) {
                return i;
            }
        }
        return size;
    }

    static variant read(std::string_view kind, const nlohmann::json& settings);

    template <class T>
    static variant read_as(const nlohmann::json& settings);

    // The child parser passed to the from_json of any_of, jitter and other
    // triggers built from triggers.
    static any_trigger read_child_trigger(const nlohmann::json& object_with_kind);

    [[noreturn]] static void throw_unknown_kind(std::string_view kind);
};

} // namespace detail

// A registry whose role is that of its first type: trigger, task or report
// sink, for the first type with next_after, run or deliver.
template <class... Ts>
class registry : public detail::basic_registry<detail::role_of_first<Ts...>(), Ts...> {};

// Registries of a fixed role, for a first type whose role cannot be
// inferred, or to state the role where the registry is declared.
template <class... Ts>
class trigger_registry : public detail::basic_registry<detail::registry_role::trigger, Ts...> {
};

template <class... Ts>
class task_registry : public detail::basic_registry<detail::registry_role::task, Ts...> {};

template <class... Ts>
class sink_registry
    : public detail::basic_registry<detail::registry_role::report_sink, Ts...> {};

// ---------------------------------------------------------------------------
// Compile-time checks

namespace detail {

template <class T>
inline constexpr bool dependent_false = false;

// Each requirement is a concept of its own, so that the checks below can
// test them in order and report the first one a type fails.

template <class T>
concept has_kind = requires { T::kind; };

// A static std::string_view whose value is a constant expression. The static
// test comes first because naming a non-static member outside an object is
// an error, not a failed requirement.
template <class T>
concept kind_is_constant_string_view =
    !std::is_member_pointer_v<decltype(&T::kind)> &&
    std::same_as<decltype(T::kind), const std::string_view> && requires {
        typename std::integral_constant<std::size_t, T::kind.size()>;
    };

// The role's characteristic member, by name: a member pointer finds one that
// is not overloaded, a call finds an overloaded one of the right signature.
template <class T>
concept names_next_after =
    requires { &T::next_after; } || requires(const T& t, instant i) { t.next_after(i); };
template <class T>
concept names_run = requires { &T::run; } || requires(const T& t, run_context& c) { t.run(c); };
template <class T>
concept names_deliver =
    requires { &T::deliver; } || requires(T& t, const report& r) { t.deliver(r); };

template <class T>
concept has_next_after = requires(const T& t, instant i) { t.next_after(i); };
template <class T>
concept next_after_returns_optional_instant = requires(const T& t, instant i) {
    { t.next_after(i) } -> std::same_as<std::optional<instant>>;
};

template <class T>
concept has_run = requires(const T& t, run_context& c) { t.run(c); };
template <class T>
concept run_returns_report = requires(const T& t, run_context& c) {
    { t.run(c) } -> std::same_as<report>;
};

template <class T>
concept has_deliver = requires(T& t, const report& r) { t.deliver(r); };
template <class T>
concept deliver_returns_void = requires(T& t, const report& r) {
    { t.deliver(r) } -> std::same_as<void>;
};

template <class T>
concept has_to_json = requires(const T& t) { t.to_json(); };
template <class T>
concept to_json_returns_json = requires(const T& t) {
    { t.to_json() } -> std::same_as<nlohmann::json>;
};

template <class T>
concept has_from_json = requires(const nlohmann::json& j) { T::from_json(j); };
template <class T>
concept from_json_returns_self = requires(const nlohmann::json& j) {
    { T::from_json(j) } -> std::same_as<T>;
};
template <class T>
concept has_trigger_from_json =
    has_from_json<T> ||
    requires(const nlohmann::json& j, any_trigger (*parse_child)(const nlohmann::json&)) {
        T::from_json(j, parse_child);
    };

template <class T>
constexpr registry_role role_of_type() {
    constexpr int roles = int{names_next_after<T>} + int{names_run<T>} + int{names_deliver<T>};
    if constexpr (roles > 1) {
        return registry_role::ambiguous;
    } else if constexpr (names_next_after<T>) {
        return registry_role::trigger;
    } else if constexpr (names_run<T>) {
        return registry_role::task;
    } else if constexpr (names_deliver<T>) {
        return registry_role::report_sink;
    } else {
        return registry_role::unknown;
    }
}

template <class... Ts>
constexpr registry_role role_of_first() {
    if constexpr (sizeof...(Ts) == 0) {
        return registry_role::empty;
    } else {
        return role_of_type<std::variant_alternative_t<0, std::variant<Ts...>>>();
    }
}

// The role's concept, and a kind that a registry can compare at compile time.
template <registry_role Role, class T>
concept listable = kind_is_constant_string_view<T> &&
                   ((Role == registry_role::trigger && trigger<T>) ||
                    (Role == registry_role::task && task<T>) ||
                    (Role == registry_role::report_sink && report_sink<T>));

// The checks that every role shares: the kind (checked first), to_json, and
// copying (checked last). Each fires a static_assert for the first
// requirement that Policy does not meet, and the compiler's instantiation
// note names Policy.

template <class Policy>
constexpr bool check_kind() {
    if constexpr (!has_kind<Policy>) {
        static_assert(dependent_false<Policy>,
                      "chime::registry: a policy type needs `static constexpr std::string_view "
                      "kind = \"...\";`, the name stored in the database; add it to the type");
        return false;
    } else if constexpr (!kind_is_constant_string_view<Policy>) {
        static_assert(dependent_false<Policy>,
                      "chime::registry: a policy type's `kind` must be a `static constexpr "
                      "std::string_view`, so its value is known at compile time; declare it so");
        return false;
    } else {
        return true;
    }
}

template <class Policy>
constexpr bool check_to_json() {
    if constexpr (!has_to_json<Policy>) {
        static_assert(dependent_false<Policy>,
                      "chime::registry: a policy type needs `nlohmann::json to_json() const`, "
                      "which writes its settings; add it to the type");
        return false;
    } else if constexpr (!to_json_returns_json<Policy>) {
        static_assert(dependent_false<Policy>,
                      "chime::registry: a policy type's to_json() must return nlohmann::json; "
                      "change its return type");
        return false;
    } else {
        return true;
    }
}

template <class Policy>
constexpr bool check_copyable() {
    if constexpr (!std::copy_constructible<Policy>) {
        static_assert(dependent_false<Policy>,
                      "chime::registry: a policy type must be copy-constructible, because jobs "
                      "are copied; hold a member that cannot be copied by std::shared_ptr");
        return false;
    } else {
        return true;
    }
}

template <class Trigger>
constexpr bool check_trigger() {
    if constexpr (std::is_same_v<Trigger, any_trigger>) {
        static_assert(dependent_false<Trigger>,
                      "chime::registry: chime::any_trigger wraps a trigger of any type and is "
                      "not a trigger type itself; list the trigger types it would wrap instead");
        return false;
    } else if constexpr (!check_kind<Trigger>()) {
        return false;
    } else if constexpr (!has_next_after<Trigger>) {
        static_assert(dependent_false<Trigger>,
                      "chime::registry: a trigger needs `std::optional<chime::instant> "
                      "next_after(chime::instant) const`; add it to the type");
        return false;
    } else if constexpr (!next_after_returns_optional_instant<Trigger>) {
        static_assert(dependent_false<Trigger>,
                      "chime::registry: a trigger's next_after must return "
                      "std::optional<chime::instant>, empty when it never fires again; change "
                      "its return type");
        return false;
    } else if constexpr (!check_to_json<Trigger>()) {
        return false;
    } else if constexpr (!has_trigger_from_json<Trigger>) {
        static_assert(dependent_false<Trigger>,
                      "chime::registry: a trigger needs a static `from_json(const "
                      "nlohmann::json&)` that returns the trigger type, or `from_json(const "
                      "nlohmann::json&, parse_child)` when it is built from other triggers; "
                      "add one");
        return false;
    } else if constexpr (!reads_trigger_json<Trigger> &&
                         !reads_trigger_json_with_children<Trigger>) {
        static_assert(dependent_false<Trigger>,
                      "chime::registry: a trigger's static from_json must return the trigger "
                      "type itself; change its return type");
        return false;
    } else if constexpr (!check_copyable<Trigger>()) {
        return false;
    } else {
        // Unreachable while the checks above cover chime::trigger.
        static_assert(trigger<Trigger>, "chime::registry: the type does not model chime::trigger");
        return true;
    }
}

template <class Task>
constexpr bool check_task() {
    if constexpr (!check_kind<Task>()) {
        return false;
    } else if constexpr (!has_run<Task>) {
        static_assert(dependent_false<Task>,
                      "chime::registry: a task needs `chime::report run(chime::run_context&) "
                      "const`; add it to the type");
        return false;
    } else if constexpr (!run_returns_report<Task>) {
        static_assert(dependent_false<Task>,
                      "chime::registry: a task's run() must return chime::report; change its "
                      "return type");
        return false;
    } else if constexpr (!check_to_json<Task>()) {
        return false;
    } else if constexpr (!has_from_json<Task>) {
        static_assert(dependent_false<Task>,
                      "chime::registry: a task needs a static `from_json(const nlohmann::json&)` "
                      "that returns the task type; add it to the type");
        return false;
    } else if constexpr (!from_json_returns_self<Task>) {
        static_assert(dependent_false<Task>,
                      "chime::registry: a task's static from_json must return the task type "
                      "itself; change its return type");
        return false;
    } else if constexpr (!check_copyable<Task>()) {
        return false;
    } else {
        static_assert(task<Task>, "chime::registry: the type does not model chime::task");
        return true;
    }
}

template <class Sink>
constexpr bool check_report_sink() {
    if constexpr (!check_kind<Sink>()) {
        return false;
    } else if constexpr (!has_deliver<Sink>) {
        static_assert(dependent_false<Sink>,
                      "chime::registry: a report sink needs `void deliver(const chime::report&)`; "
                      "add it to the type");
        return false;
    } else if constexpr (!deliver_returns_void<Sink>) {
        static_assert(dependent_false<Sink>,
                      "chime::registry: a report sink's deliver() must return void and throw "
                      "chime::error when delivery fails; change its return type");
        return false;
    } else if constexpr (!check_to_json<Sink>()) {
        return false;
    } else if constexpr (!has_from_json<Sink>) {
        static_assert(dependent_false<Sink>,
                      "chime::registry: a report sink needs a static `from_json(const "
                      "nlohmann::json&)` that returns the sink type; add it to the type");
        return false;
    } else if constexpr (!from_json_returns_self<Sink>) {
        static_assert(dependent_false<Sink>,
                      "chime::registry: a report sink's static from_json must return the sink "
                      "type itself; change its return type");
        return false;
    } else if constexpr (!check_copyable<Sink>()) {
        return false;
    } else {
        static_assert(report_sink<Sink>,
                      "chime::registry: the type does not model chime::report_sink");
        return true;
    }
}

template <registry_role Role, class Policy>
constexpr bool check_policy() {
    if constexpr (Role == registry_role::trigger) {
        return check_trigger<Policy>();
    } else if constexpr (Role == registry_role::task) {
        return check_task<Policy>();
    } else {
        return check_report_sink<Policy>();
    }
}

template <class First>
constexpr bool report_unknown_role() {
    static_assert(dependent_false<First>,
                  "chime::registry: the first type has no next_after (trigger), run (task) or "
                  "deliver (report sink), so the registry's role is unknown; add the member of "
                  "its role, or use trigger_registry, task_registry or sink_registry");
    return false;
}

template <class First>
constexpr bool report_ambiguous_role() {
    static_assert(dependent_false<First>,
                  "chime::registry: the first type has more than one of next_after (trigger), "
                  "run (task) and deliver (report sink), so the registry's role is ambiguous; "
                  "use trigger_registry, task_registry or sink_registry");
    return false;
}

template <class Policy>
constexpr bool report_repeated_type() {
    static_assert(dependent_false<Policy>,
                  "chime::registry: a type is listed twice (the compiler's instantiation note "
                  "names it); remove one of them");
    return false;
}

// A kind name as a template argument, so that the compiler prints its text
// in the instantiation note of report_duplicate_kind. gcc 12 shows it as
// kind_literal<5>{"cron"}, clang 14 as its character codes.
template <std::size_t N>
struct kind_literal {
    char text[N]{};

    constexpr kind_literal(std::string_view kind) {
        for (std::size_t i = 0; i + 1 < N; ++i) {
            text[i] = kind[i];
        }
    }
};

template <kind_literal Kind, class First, class Second>
constexpr bool report_duplicate_kind() {
    static_assert(dependent_false<First>,
                  "chime::registry: two types have the same kind (the compiler's instantiation "
                  "note names the kind and both types); give one of them another kind");
    return false;
}

template <class T, class... Ts>
inline constexpr std::size_t count_of = (std::size_t{std::is_same_v<T, Ts>} + ... + 0);

// The index of the first type that appears again later, or sizeof...(Ts).
template <class... Ts>
constexpr std::size_t first_repeated_type() {
    constexpr std::array<bool, sizeof...(Ts)> repeated{(count_of<Ts, Ts...> > 1)...};
    for (std::size_t i = 0; i < repeated.size(); ++i) {
        if (repeated[i]) {
            return i;
        }
    }
    return sizeof...(Ts);
}

// The first pair of indices i < j with equal kinds, or {n, n}.
template <std::size_t N>
constexpr std::pair<std::size_t, std::size_t>
first_duplicate_kind(const std::array<std::string_view, N>& kinds) {
    for (std::size_t i = 0; i < N; ++i) {
        for (std::size_t j = i + 1; j < N; ++j) {
            if (kinds[i] == kinds[j]) {
                return {i, j};
            }
        }
    }
    return {N, N};
}

template <std::size_t I, class... Ts>
using type_at = typename decltype(+boost::hana::at_c<I>(boost::hana::tuple_t<Ts...>))::type;

template <class... Ts>
constexpr bool check_unique_kinds() {
    constexpr std::array<std::string_view, sizeof...(Ts)> kinds{std::string_view(Ts::kind)...};
    constexpr auto pair = first_duplicate_kind(kinds);
    if constexpr (pair.first < sizeof...(Ts)) {
        constexpr std::string_view kind = kinds[pair.first];
        return report_duplicate_kind<kind_literal<kind.size() + 1>(kind),
                                     type_at<pair.first, Ts...>, type_at<pair.second, Ts...>>();
    } else {
        return true;
    }
}

// Runs the checks in order and fires one static_assert for the first
// failure: an empty list, a first type of no clear role, the types that do
// not model the role's concept (one message each), a repeated type, a
// repeated kind.
template <registry_role Role, class... Ts>
constexpr bool check_registry() {
    if constexpr (Role == registry_role::empty || sizeof...(Ts) == 0) {
        static_assert(dependent_false<std::variant<Ts...>>,
                      "chime::registry: the registry is empty; list at least one type");
        return false;
    } else if constexpr (Role == registry_role::unknown) {
        return report_unknown_role<type_at<0, Ts...>>();
    } else if constexpr (Role == registry_role::ambiguous) {
        return report_ambiguous_role<type_at<0, Ts...>>();
    } else if constexpr (!(listable<Role, Ts> && ...)) {
        return (check_policy<Role, Ts>() && ...);
    } else if constexpr (first_repeated_type<Ts...>() < sizeof...(Ts)) {
        return report_repeated_type<type_at<first_repeated_type<Ts...>(), Ts...>>();
    } else {
        return check_unique_kinds<Ts...>();
    }
}

template <bool Valid, class... Ts>
constexpr std::array<std::string_view, sizeof...(Ts)> kinds_of() {
    if constexpr (Valid) {
        return {std::string_view(Ts::kind)...};
    } else {
        return {};
    }
}

constexpr std::string_view role_name(registry_role role) noexcept {
    switch (role) {
    case registry_role::trigger: return "trigger";
    case registry_role::task: return "task";
    case registry_role::report_sink: return "report sink";
    default: return "policy";
    }
}

} // namespace detail

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

template <registry_role Role, class... Ts>
auto basic_registry<Role, Ts...>::from_json(std::string_view kind,
                                            const nlohmann::json& settings) -> variant {
    if constexpr (!valid_) {
        // Unreachable: the failed check has stopped the build. This branch only
        // keeps the compiler from reporting more errors.
        throw error("chime::registry: the registry failed its compile-time check");
    } else {
        return read(kind, settings);
    }
}

template <registry_role Role, class... Ts>
auto basic_registry<Role, Ts...>::read(std::string_view kind, const nlohmann::json& settings)
    -> variant {
    const std::size_t index = index_of(kind);
    if (index == size) {
        throw_unknown_kind(kind);
    }
    const std::string named = std::string(role_name(Role)) + " \"" + std::string(kind) + "\"";
    if (!settings.is_object()) {
        throw invalid_input(named + ": settings must be a JSON object, got " +
                            describe_json(settings));
    }
    if (auto it = settings.find("kind"); it != settings.end()) {
        if (!it->is_string() || it->template get_ref<const std::string&>() != kind) {
            throw invalid_input(named + ": the settings have \"kind\" " + describe_json(*it) +
                                "; remove it or set it to \"" + std::string(kind) + "\"");
        }
    }

    // One reader per type, indexed like kinds.
    constexpr std::array<variant (*)(const nlohmann::json&), sizeof...(Ts)> readers{
        &read_as<Ts>...};
    return readers[index](settings);
}

template <registry_role Role, class... Ts>
auto basic_registry<Role, Ts...>::from_json(const nlohmann::json& object_with_kind) -> variant {
    const std::string role(role_name(Role));
    if (!object_with_kind.is_object()) {
        throw invalid_input(role + ": expected a JSON object, got " +
                            describe_json(object_with_kind));
    }
    auto it = object_with_kind.find("kind");
    if (it == object_with_kind.end() || !it->is_string()) {
        throw invalid_input(role + ": \"kind\" is missing or not a string in " +
                            describe_json(object_with_kind));
    }
    return from_json(it->template get_ref<const std::string&>(), object_with_kind);
}

template <registry_role Role, class... Ts>
std::string_view basic_registry<Role, Ts...>::kind_of(const variant& value) noexcept {
    if (value.valueless_by_exception()) {
        return {};
    }
    return kinds[value.index()];
}

template <registry_role Role, class... Ts>
nlohmann::json basic_registry<Role, Ts...>::to_json(const variant& value) {
    nlohmann::json j;
    if constexpr (valid_) {
        j = std::visit([](const auto& held) { return held.to_json(); }, value);
    }
    const std::string_view kind = kind_of(value);
    if (j.is_null()) {
        j = nlohmann::json::object();
    }
    if (!j.is_object()) {
        throw error(std::string(role_name(Role)) + " \"" + std::string(kind) +
                    "\": to_json() returned " + describe_json(j) +
                    "; it must return a JSON object of settings");
    }
    j["kind"] = kind;
    return j;
}

template <registry_role Role, class... Ts>
template <class T>
auto basic_registry<Role, Ts...>::read_as(const nlohmann::json& settings) -> variant {
    if constexpr (Role == registry_role::trigger && reads_trigger_json_with_children<T>) {
        return variant(std::in_place_type<T>, T::from_json(settings, &read_child_trigger));
    } else {
        return variant(std::in_place_type<T>, T::from_json(settings));
    }
}

template <registry_role Role, class... Ts>
any_trigger
basic_registry<Role, Ts...>::read_child_trigger(const nlohmann::json& object_with_kind) {
    return std::visit([](auto&& child) { return any_trigger(std::move(child)); },
                      from_json(object_with_kind));
}

template <registry_role Role, class... Ts>
void basic_registry<Role, Ts...>::throw_unknown_kind(std::string_view kind) {
    std::string known;
    for (auto k : kinds) {
        known += (known.empty() ? "" : ", ") + std::string(k);
    }
    throw invalid_input(std::string(role_name(Role)) + ": unknown kind " +
                        describe_json(std::string(kind)) + "; expected one of " + known);
}

} // namespace detail

} // namespace chime
