// Helpers for reading report sink settings from JSON, with errors that name
// the sink kind, the key and what was expected: `sink "mail": "to" is ...`.
// Thread safety: free functions without shared state.
#pragma once

#include <chime/detail/json_fields.hpp>
#include <chime/error.hpp>
#include <chime/iso8601.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chime::detail {

[[noreturn]] inline void throw_sink_error(std::string_view kind, const std::string& what) {
    throw invalid_input("sink \"" + std::string(kind) + "\": " + what);
}

// Rejects a value that is not an object, and any key outside `known`, "kind"
// and "when", so a misspelt key is an error instead of a silent default.
inline void check_sink_keys(const nlohmann::json& j, std::string_view kind,
                            std::initializer_list<std::string_view> known) {
    if (!j.is_object()) {
        throw_sink_error(kind, "expected a JSON object, got " + describe_json(j));
    }
    for (const auto& item : j.items()) {
        bool found = item.key() == "kind" || item.key() == "when";
        for (auto k : known) {
            found = found || item.key() == k;
        }
        if (found) {
            continue;
        }
        std::string list = "when";
        for (auto k : known) {
            list += ", " + std::string(k);
        }
        throw_sink_error(kind, "unknown key " + describe_json(item.key()) + "; expected " + list);
    }
}

inline std::optional<std::string> optional_sink_string(const nlohmann::json& j,
                                                       std::string_view kind, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_string()) {
        throw_sink_error(kind, std::string("\"") + key + "\" must be a string, got " +
                                   describe_json(*it));
    }
    return it->get<std::string>();
}

inline std::string required_sink_string(const nlohmann::json& j, std::string_view kind,
                                        const char* key) {
    auto value = optional_sink_string(j, kind, key);
    if (!value || value->empty()) {
        throw_sink_error(kind, std::string("\"") + key + "\" is missing or empty");
    }
    return *value;
}

// An environment variable name as POSIX shells accept it.
inline bool is_environment_name(std::string_view name) noexcept {
    if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
        return false;
    }
    for (char c : name) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '_') {
            return false;
        }
    }
    return true;
}

// One string or an array of at least one string.
inline std::vector<std::string> sink_string_list(const nlohmann::json& j, std::string_view kind,
                                                 const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        throw_sink_error(kind, std::string("\"") + key + "\" is missing");
    }
    if (it->is_string()) {
        return {it->get<std::string>()};
    }
    if (!it->is_array() || it->empty()) {
        throw_sink_error(kind, std::string("\"") + key +
                                   "\" must be a string or a non-empty array of strings, got " +
                                   describe_json(*it));
    }
    std::vector<std::string> values;
    for (const auto& element : *it) {
        if (!element.is_string()) {
            throw_sink_error(kind, std::string("\"") + key + "\" must contain only strings, got " +
                                       describe_json(element));
        }
        values.push_back(element.get<std::string>());
    }
    return values;
}

// An ISO 8601 duration of fixed length ("PT30S") from `min` to `max`, or
// `fallback` when the key is absent.
inline std::chrono::seconds sink_duration(const nlohmann::json& j, std::string_view kind,
                                          const char* key, std::chrono::seconds fallback,
                                          std::chrono::seconds min, std::chrono::seconds max) {
    auto text = optional_sink_string(j, kind, key);
    if (!text) {
        return fallback;
    }
    std::chrono::seconds d;
    try {
        d = parse_elapsed_duration(*text);
    } catch (const invalid_input&) {
        throw_sink_error(kind, std::string("\"") + key + "\" is " + describe_json(*text) +
                                   "; expected an ISO 8601 duration such as \"PT30S\"");
    }
    if (d < min || d > max) {
        throw_sink_error(kind, std::string("\"") + key + "\" is \"" + *text +
                                   "\"; it must be from " + format_duration(min) + " to " +
                                   format_duration(max));
    }
    return d;
}

// A whole number from `min` to `max`, or `fallback` when the key is absent.
inline std::uint64_t sink_count(const nlohmann::json& j, std::string_view kind, const char* key,
                                std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    const bool negative =
        it->is_number_integer() && !it->is_number_unsigned() && it->get<std::int64_t>() < 0;
    if (!it->is_number_integer() || negative || it->get<std::uint64_t>() < min ||
        it->get<std::uint64_t>() > max) {
        throw_sink_error(kind, std::string("\"") + key + "\" must be a whole number from " +
                                   std::to_string(min) + " to " + std::to_string(max) + ", got " +
                                   describe_json(*it));
    }
    return it->get<std::uint64_t>();
}

} // namespace chime::detail
