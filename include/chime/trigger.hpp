// The trigger concept and any_trigger, a trigger of any type held by value.
// A trigger answers one question: given an instant, when is the next fire
// time strictly after it, if any.
//
// Thread safety: triggers are immutable values; any_trigger shares its
// immutable target between copies and may be used from any thread.
#pragma once

#include <chime/trigger_common.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <memory>
#include <optional>
#include <string_view>

namespace chime {

class any_trigger;

namespace detail {

// A trigger that reads itself from its JSON settings alone.
template <class T>
concept reads_trigger_json = requires(const nlohmann::json& j) {
    { T::from_json(j) } -> std::same_as<T>;
};

// A trigger built from other triggers (any_of, jitter): its from_json reads
// each child with a parser passed in, a callable from JSON to any_trigger. A
// plain function pointer stands for every such parser here.
template <class T>
concept reads_trigger_json_with_children =
    requires(const nlohmann::json& j, any_trigger (*parse_child)(const nlohmann::json&)) {
        { T::from_json(j, parse_child) } -> std::same_as<T>;
    };

} // namespace detail

// A type with a `kind` name, next_after, and a JSON form that it writes with
// to_json() and reads with a static from_json(json), or with
// from_json(json, parse_child) when it is built from other triggers.
template <class T>
concept trigger = std::copy_constructible<T> && requires(const T& t, instant i) {
    { T::kind } -> std::convertible_to<std::string_view>;
    { t.next_after(i) } -> std::same_as<std::optional<instant>>;
    { t.to_json() } -> std::same_as<nlohmann::json>;
} && (detail::reads_trigger_json<T> || detail::reads_trigger_json_with_children<T>);

namespace detail {

template <class T>
concept explains_fires = requires(const T& t, instant i) {
    { t.next_fire_after(i) } -> std::same_as<std::optional<fire_time>>;
};

template <class T>
concept has_time_zone = requires(const T& t) {
    { t.time_zone() } -> std::convertible_to<const zone&>;
};

template <class T>
concept may_fire_at_start = requires(const T& t) {
    { t.fires_at_start() } -> std::convertible_to<bool>;
};

} // namespace detail

class any_trigger {
public:
    // The any_trigger test comes first. Checking trigger<any_trigger> would
    // test whether any_trigger is copyable, which checks this constructor again.
    template <class T>
        requires(!std::same_as<std::remove_cvref_t<T>, any_trigger>) && trigger<T>
    any_trigger(T value) : target_(std::make_shared<model<T>>(std::move(value))) {}

    std::optional<instant> next_after(instant t) const { return target_->next_after(t); }

    // The next fire time with its local time and DST note. Triggers that do
    // not explain their fires get their local time in time_zone() and no note.
    std::optional<fire_time> next_fire_after(instant t) const {
        return target_->next_fire_after(t);
    }

    std::string_view kind() const noexcept { return target_->kind(); }

    // The zone in which fire times are shown: the trigger's own, else UTC.
    const zone& time_zone() const noexcept { return target_->time_zone(); }

    // True when the trigger fires once when the worker starts (@reboot).
    bool fires_at_start() const noexcept { return target_->fires_at_start(); }

    nlohmann::json to_json() const { return target_->to_json(); }

    // The held trigger, or nullptr when it is not a T.
    template <trigger T>
    const T* target() const noexcept {
        auto* m = dynamic_cast<const model<T>*>(target_.get());
        return m != nullptr ? &m->value : nullptr;
    }

    static constexpr std::string_view kind_name = "any";

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual std::optional<instant> next_after(instant) const = 0;
        virtual std::optional<fire_time> next_fire_after(instant) const = 0;
        virtual std::string_view kind() const noexcept = 0;
        virtual const zone& time_zone() const noexcept = 0;
        virtual bool fires_at_start() const noexcept = 0;
        virtual nlohmann::json to_json() const = 0;
    };

    template <class T>
    struct model final : concept_t {
        explicit model(T v) : value(std::move(v)) {}

        std::optional<instant> next_after(instant t) const override { return value.next_after(t); }

        std::optional<fire_time> next_fire_after(instant t) const override {
            if constexpr (detail::explains_fires<T>) {
                return value.next_fire_after(t);
            } else {
                auto at = value.next_after(t);
                if (!at) {
                    return std::nullopt;
                }
                return fire_time{*at, time_zone().to_local(*at)};
            }
        }

        std::string_view kind() const noexcept override { return T::kind; }

        const zone& time_zone() const noexcept override {
            if constexpr (detail::has_time_zone<T>) {
                return value.time_zone();
            } else {
                static const zone utc;
                return utc;
            }
        }

        bool fires_at_start() const noexcept override {
            if constexpr (detail::may_fire_at_start<T>) {
                return value.fires_at_start();
            } else {
                return false;
            }
        }

        // Writes "kind" when the trigger leaves it out, as a registry does,
        // so that a child of any_of or jitter can be read back.
        nlohmann::json to_json() const override {
            nlohmann::json j = value.to_json();
            if (j.is_null()) {
                j = nlohmann::json::object();
            }
            if (j.is_object() && !j.contains("kind")) {
                j["kind"] = T::kind;
            }
            return j;
        }

        T value;
    };

    std::shared_ptr<const concept_t> target_;
};

static_assert(!trigger<int>);
// any_trigger has no static kind and no from_json. It wraps a trigger but is
// not a trigger type itself, so a registry cannot list it.
static_assert(!trigger<any_trigger>);

} // namespace chime
