// Triggers built from other triggers: any_of (fires when any child fires),
// all_of (fires when every child fires at the same instant) and except (fires
// when one trigger fires and another does not).
//
//   chime::except weekdays(chime::cron_trigger("0 9 * * *"),
//                          chime::cron_trigger("0 9 * * 6,0"));
//
// Thread safety: immutable values; the children are any_trigger values,
// which share immutable targets. next_after may be called from any thread.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/trigger.hpp>
#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace chime {

// A parser of child triggers, such as trigger_from_json. Passing it in keeps
// this header independent of the list of kinds in triggers.hpp.
template <class F>
concept child_trigger_parser = std::invocable<const F&, const nlohmann::json&> &&
                               std::convertible_to<std::invoke_result_t<const F&, const nlohmann::json&>,
                                                   any_trigger>;

static_assert(child_trigger_parser<any_trigger (*)(const nlohmann::json&)>);
static_assert(!child_trigger_parser<int (*)(const nlohmann::json&)>);

// The maximum number of candidate instants that all_of and except try before
// they give up and return none. A search that needs more (two children that
// agree only after 100,000 disagreements) wrongly reports "no next time".
// NOTE: the bound applies per level, so nested all_of and except multiply it;
// three levels over every-second children take tens of seconds per call.
inline constexpr int combinator_round_limit = 100'000;

// The deepest nesting of combinators and jitter that from_json accepts, so a
// hostile JSON document cannot exhaust the stack.
inline constexpr int max_trigger_nesting = 32;

// Fires when any child fires: the next fire time is the earliest of the
// children's. A fire time that several children share is one fire.
namespace detail {
void reject_start_trigger(const any_trigger& child, std::string_view kind);
} // namespace detail

class any_of {
public:
    static constexpr std::string_view kind = "any_of";

    // Throws invalid_input when `children` is empty.
    explicit any_of(std::vector<any_trigger> children, time_window window = {});

    std::optional<instant> next_after(instant t) const {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // The fire time as the earliest child explains it (the first such child
    // when several fire at once). Its local time is in that child's zone.
    std::optional<fire_time> next_fire_after(instant t) const;

    const std::vector<any_trigger>& children() const noexcept { return children_; }

    // The first child's zone.
    const zone& time_zone() const noexcept { return children_.front().time_zone(); }

    // True when a child is an @reboot trigger: the union fires at start too.
    bool fires_at_start() const noexcept {
        for (const auto& child : children_) {
            if (child.fires_at_start()) {
                return true;
            }
        }
        return false;
    }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"any_of","of":[trigger, ...],"start":...,"end":...}; "of" is a
    // non-empty array of triggers, each read by `parse_child`.
    template <child_trigger_parser F>
    static any_of from_json(const nlohmann::json& j, const F& parse_child);

    nlohmann::json to_json() const;

    // Children compare by kind and JSON form, as any_trigger has no operator==.
    friend bool operator==(const any_of& a, const any_of& b);

private:
    std::vector<any_trigger> children_;
    time_window window_;
};

// Fires only at instants where every child fires. It proposes the earliest
// fire of the first child, finds each child's first fire at or after the
// proposal, and moves the proposal to any later one until all agree.
// It returns none past search_limit or after combinator_round_limit
// proposals.
class all_of {
public:
    static constexpr std::string_view kind = "all_of";

    // Throws invalid_input when `children` is empty.
    explicit all_of(std::vector<any_trigger> children, time_window window = {});

    std::optional<instant> next_after(instant t) const;

    // The fire time as the first child explains it.
    std::optional<fire_time> next_fire_after(instant t) const;

    const std::vector<any_trigger>& children() const noexcept { return children_; }

    // The first child's zone.
    const zone& time_zone() const noexcept { return children_.front().time_zone(); }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"all_of","of":[trigger, ...],"start":...,"end":...}; "of" is a
    // non-empty array of triggers, each read by `parse_child`.
    template <child_trigger_parser F>
    static all_of from_json(const nlohmann::json& j, const F& parse_child);

    nlohmann::json to_json() const;

    friend bool operator==(const all_of& a, const all_of& b);

private:
    std::vector<any_trigger> children_;
    time_window window_;
};

// Fires when `trigger` fires and `unless` does not fire at the same instant.
// `unless` fires at x when unless.next_after(x - 1 s) == x. It returns none
// past search_limit or after combinator_round_limit fires of `trigger` in a
// row that `unless` blocks.
class except {
public:
    static constexpr std::string_view kind = "except";

    // Throws invalid_input when either trigger is @reboot.
    except(any_trigger trigger, any_trigger unless, time_window window = {})
        : trigger_(std::move(trigger)), unless_(std::move(unless)), window_(window) {
        detail::reject_start_trigger(trigger_, kind);
        detail::reject_start_trigger(unless_, kind);
    }

    std::optional<instant> next_after(instant t) const {
        auto fire = next_fire_after(t);
        return fire ? std::optional<instant>{fire->at} : std::nullopt;
    }

    // The fire time as `trigger` explains it.
    std::optional<fire_time> next_fire_after(instant t) const;

    const any_trigger& trigger() const noexcept { return trigger_; }
    const any_trigger& unless() const noexcept { return unless_; }

    // The zone of `trigger`.
    const zone& time_zone() const noexcept { return trigger_.time_zone(); }
    const time_window& window() const noexcept { return window_; }

    // {"kind":"except","trigger":{...},"unless":{...},"start":...,"end":...};
    // both triggers are required and read by `parse_child`.
    template <child_trigger_parser F>
    static except from_json(const nlohmann::json& j, const F& parse_child);

    nlohmann::json to_json() const;

    friend bool operator==(const except& a, const except& b);

private:
    any_trigger trigger_;
    any_trigger unless_;
    time_window window_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// Counts the combinators being read on this thread; see max_trigger_nesting.
class trigger_nesting_guard {
public:
    explicit trigger_nesting_guard(std::string_view kind) {
        if (++depth() > max_trigger_nesting) {
            --depth();
            throw_json_error(kind, "triggers are nested more than " +
                                       std::to_string(max_trigger_nesting) + " deep");
        }
    }
    ~trigger_nesting_guard() { --depth(); }
    trigger_nesting_guard(const trigger_nesting_guard&) = delete;
    trigger_nesting_guard& operator=(const trigger_nesting_guard&) = delete;

private:
    static int& depth() noexcept {
        thread_local int value = 0;
        return value;
    }
};

inline bool same_trigger(const any_trigger& a, const any_trigger& b) {
    return a.kind() == b.kind() && a.to_json() == b.to_json();
}

inline bool same_triggers(const std::vector<any_trigger>& a, const std::vector<any_trigger>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same_trigger(a[i], b[i])) {
            return false;
        }
    }
    return true;
}

inline void require_children(const std::vector<any_trigger>& children, std::string_view kind) {
    if (children.empty()) {
        throw_json_error(kind, "\"of\" is empty; list at least one trigger");
    }
}

// An @reboot trigger has no clock time, so only any_of can hold it: inside
// all_of, except or jitter it would silently never fire.
inline void reject_start_trigger(const any_trigger& child, std::string_view kind) {
    if (child.fires_at_start()) {
        throw_json_error(kind, "@reboot has no clock time and cannot be combined here; "
                               "use it alone or in any_of");
    }
}

template <class F>
std::vector<any_trigger> read_trigger_list(const nlohmann::json& j, std::string_view kind,
                                           const F& parse_child) {
    auto it = j.find("of");
    if (it == j.end() || it->is_null()) {
        throw_json_error(kind, "\"of\" is missing; give an array of triggers");
    }
    if (!it->is_array()) {
        throw_json_error(kind, "\"of\" must be an array of triggers, got " + describe_json(*it));
    }
    if (it->empty()) {
        throw_json_error(kind, "\"of\" is empty; list at least one trigger");
    }
    std::vector<any_trigger> children;
    children.reserve(it->size());
    for (const auto& child : *it) {
        children.push_back(parse_child(child));
    }
    return children;
}

template <class F>
any_trigger read_child_trigger(const nlohmann::json& j, std::string_view kind, const char* key,
                               const F& parse_child) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        throw_json_error(kind, std::string("\"") + key + "\" is missing; give a trigger");
    }
    if (!it->is_object()) {
        throw_json_error(kind, std::string("\"") + key + "\" must be a trigger object, got " +
                                   describe_json(*it));
    }
    return parse_child(*it);
}

inline nlohmann::json trigger_list_json(const std::vector<any_trigger>& children) {
    auto list = nlohmann::json::array();
    for (const auto& child : children) {
        list.push_back(child.to_json());
    }
    return list;
}

} // namespace detail

inline any_of::any_of(std::vector<any_trigger> children, time_window window)
    : children_(std::move(children)), window_(window) {
    detail::require_children(children_, kind);
}

inline std::optional<fire_time> any_of::next_fire_after(instant t) const {
    const instant after = window_.search_after(t);
    std::optional<fire_time> earliest;
    for (const auto& child : children_) {
        auto fire = child.next_fire_after(after);
        if (fire && (!earliest || fire->at < earliest->at)) {
            earliest = fire;
        }
    }
    if (earliest && !window_.admits(earliest->at)) {
        return std::nullopt;
    }
    return earliest;
}

template <child_trigger_parser F>
any_of any_of::from_json(const nlohmann::json& j, const F& parse_child) {
    detail::check_object_keys(j, kind, {"of", "start", "end"});
    detail::trigger_nesting_guard guard(kind);
    auto children = detail::read_trigger_list(j, kind, parse_child);
    return any_of(std::move(children), time_window::from_json(j, kind));
}

inline nlohmann::json any_of::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["of"] = detail::trigger_list_json(children_);
    window_.to_json(j);
    return j;
}

inline bool operator==(const any_of& a, const any_of& b) {
    return a.window_ == b.window_ && detail::same_triggers(a.children_, b.children_);
}

inline all_of::all_of(std::vector<any_trigger> children, time_window window)
    : children_(std::move(children)), window_(window) {
    detail::require_children(children_, kind);
    for (const auto& child : children_) {
        detail::reject_start_trigger(child, kind);
    }
}

inline std::optional<instant> all_of::next_after(instant t) const {
    using std::chrono::seconds;
    // Invariant: no instant in (after, candidate) is a fire of every child.
    auto candidate = children_.front().next_after(window_.search_after(t));
    for (int round = 0; candidate && round < combinator_round_limit; ++round) {
        if (*candidate >= search_limit || !window_.admits(*candidate)) {
            return std::nullopt;
        }
        bool agreed = true;
        for (const auto& child : children_) {
            auto fire = child.next_after(*candidate - seconds{1});
            if (!fire) {
                return std::nullopt;
            }
            if (*fire != *candidate) {
                // `fire` is later: this child does not fire in [candidate, fire).
                candidate = fire;
                agreed = false;
                break;
            }
        }
        if (agreed) {
            return candidate;
        }
    }
    return std::nullopt;
}

inline std::optional<fire_time> all_of::next_fire_after(instant t) const {
    auto at = next_after(t);
    if (!at) {
        return std::nullopt;
    }
    return children_.front().next_fire_after(*at - std::chrono::seconds{1});
}

template <child_trigger_parser F>
all_of all_of::from_json(const nlohmann::json& j, const F& parse_child) {
    detail::check_object_keys(j, kind, {"of", "start", "end"});
    detail::trigger_nesting_guard guard(kind);
    auto children = detail::read_trigger_list(j, kind, parse_child);
    return all_of(std::move(children), time_window::from_json(j, kind));
}

inline nlohmann::json all_of::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["of"] = detail::trigger_list_json(children_);
    window_.to_json(j);
    return j;
}

inline bool operator==(const all_of& a, const all_of& b) {
    return a.window_ == b.window_ && detail::same_triggers(a.children_, b.children_);
}

inline std::optional<fire_time> except::next_fire_after(instant t) const {
    auto fire = trigger_.next_fire_after(window_.search_after(t));
    for (int round = 0; fire && round < combinator_round_limit; ++round) {
        if (fire->at >= search_limit || !window_.admits(fire->at)) {
            return std::nullopt;
        }
        auto blocked = unless_.next_after(fire->at - std::chrono::seconds{1});
        if (!blocked || *blocked != fire->at) {
            return fire;
        }
        fire = trigger_.next_fire_after(fire->at);
    }
    return std::nullopt;
}

template <child_trigger_parser F>
except except::from_json(const nlohmann::json& j, const F& parse_child) {
    detail::check_object_keys(j, kind, {"trigger", "unless", "start", "end"});
    detail::trigger_nesting_guard guard(kind);
    auto trigger = detail::read_child_trigger(j, kind, "trigger", parse_child);
    auto unless = detail::read_child_trigger(j, kind, "unless", parse_child);
    return except(std::move(trigger), std::move(unless), time_window::from_json(j, kind));
}

inline nlohmann::json except::to_json() const {
    nlohmann::json j;
    j["kind"] = kind;
    j["trigger"] = trigger_.to_json();
    j["unless"] = unless_.to_json();
    window_.to_json(j);
    return j;
}

inline bool operator==(const except& a, const except& b) {
    return a.window_ == b.window_ && detail::same_trigger(a.trigger_, b.trigger_) &&
           detail::same_trigger(a.unless_, b.unless_);
}

static_assert(trigger<any_of>);
static_assert(trigger<all_of>);
static_assert(trigger<except>);

} // namespace chime
