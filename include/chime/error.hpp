// The exception family of chime. Expected outcomes ("no next fire time") are
// values, never exceptions. These types report invalid input and failures of
// the system underneath, such as a missing tz database.
// Thread safety: the types are immutable values.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace chime {

// Base of every exception chime throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

// Writes control characters as \xNN, so a NUL or an escape sequence inside a
// quoted value neither cuts what() short nor reaches a terminal.
inline std::string escape_control_characters(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            constexpr char digits[] = "0123456789abcdef";
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

} // namespace detail

// Input that a user or a peer wrote is invalid: a cron expression, a JSON
// trigger, an ISO 8601 value. what() names the value and what is wrong.
class invalid_input : public error {
public:
    explicit invalid_input(const std::string& message)
        : error(detail::escape_control_characters(message)) {}
    explicit invalid_input(const char* message) : invalid_input(std::string(message)) {}
};

// A time zone name that the tz database does not contain. It is invalid
// input, so a caller that catches invalid_input also catches it.
class zone_error : public invalid_input {
public:
    zone_error(std::string zone_name, const std::string& message)
        : invalid_input(message), zone_name_(std::move(zone_name)) {}

    // The IANA name that was requested, as written by the caller.
    const std::string& zone_name() const noexcept { return zone_name_; }

private:
    std::string zone_name_;
};

} // namespace chime
