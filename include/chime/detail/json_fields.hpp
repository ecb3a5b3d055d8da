// Helpers for reading trigger settings from JSON with errors that name the
// trigger kind, the key and what was expected.
#pragma once

#include <chime/error.hpp>
#include <chime/zone.hpp>

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace chime::detail {

// A short description of a JSON value for an error message: scalars as
// written (cut to 40 characters), arrays and objects by type and size only.
// Serialising a deeply nested value would recurse once per level.
inline std::string describe_json(const nlohmann::json& j) {
    const auto count = std::to_string(j.size());
    if (j.is_array()) {
        return "an array of " + count + (j.size() == 1 ? " element" : " elements");
    }
    if (j.is_object()) {
        return "an object with " + count + (j.size() == 1 ? " key" : " keys");
    }
    // Invalid UTF-8 in a string becomes U+FFFD instead of a type_error.
    auto text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > 40) {
        text = text.substr(0, 37) + "...";
    }
    return text;
}

[[noreturn]] inline void throw_json_error(std::string_view kind, const std::string& what) {
    throw invalid_input(std::string(kind) + " trigger: " + what);
}

// Rejects a value that is not an object, and any key not in `known`, so a
// misspelt key ("timezone" for "tz") is an error instead of a silent default.
inline void check_object_keys(const nlohmann::json& j, std::string_view kind,
                              std::initializer_list<std::string_view> known) {
    if (!j.is_object()) {
        throw_json_error(kind, "expected a JSON object, got " + describe_json(j));
    }
    for (const auto& item : j.items()) {
        bool found = item.key() == "kind";
        for (auto k : known) {
            found = found || item.key() == k;
        }
        if (!found) {
            std::string list;
            for (auto k : known) {
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            throw_json_error(kind, "unknown key \"" + item.key() + "\"; expected " + list);
        }
    }
}

inline std::optional<std::string> optional_string(const nlohmann::json& j, std::string_view kind,
                                                  const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_string()) {
        throw_json_error(kind, std::string("\"") + key + "\" must be a string, got " + describe_json(*it));
    }
    return it->get<std::string>();
}

inline std::string required_string(const nlohmann::json& j, std::string_view kind,
                                   const char* key) {
    auto value = optional_string(j, kind, key);
    if (!value) {
        throw_json_error(kind, std::string("\"") + key + "\" is missing");
    }
    return *value;
}

// The zone named by `key`, or `fallback` when the key is absent. An unknown
// name is an invalid_input naming the kind, the key and the name.
inline zone zone_from_json(const nlohmann::json& j, std::string_view kind, const char* key,
                           const zone& fallback) {
    auto name = optional_string(j, kind, key);
    if (!name) {
        return fallback;
    }
    try {
        return zone::locate(*name);
    } catch (const zone_error& e) {
        throw_json_error(kind, std::string("\"") + key + "\" is invalid: " + e.what());
    }
}

} // namespace chime::detail
