// The "mail" report sink: one plain-text mail per report, sent over SMTP
// with libcurl. The subject names the job, its status and this host; the
// body lists the report and the run's output.
//
//   {"kind": "mail", "when": "on_failure", "to": ["ops@example.org", "root"],
//    "from": "chime@example.org", "server": "smtp://mail.example.org:587",
//    "starttls": "required", "username": "chime", "password_env": "CHIME_SMTP_PASSWORD",
//    "timeout": "PT30S"}
//
// The password is read from the environment variable named by
// "password_env" or from the file named by "password_file" when a mail is
// sent. It is never part of the settings, of to_json(), of a log line or of
// an error message.
//
// Thread safety: deliver() only reads the sink's settings and uses a curl
// handle of its own, so one value may deliver from several threads.
#pragma once

#include <chime/delivery.hpp>
#include <chime/detail/sink_json.hpp>
#include <chime/error.hpp>
#include <chime/report.hpp>
#include <chime/report_json.hpp>
#include <chime/sinks/curl_handle.hpp>

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace chime {

// The use of STARTTLS on an smtp:// server. An smtps:// server uses TLS from
// the first byte, and this setting does not apply to it.
enum class starttls_mode : std::uint8_t {
    never,        // plain text; for a server on this machine
    if_available, // upgrade when the server offers STARTTLS, else plain text
    required,     // fail unless the server offers STARTTLS
};

constexpr std::string_view to_string(starttls_mode mode) noexcept;

struct mail_sink {
    static constexpr std::string_view kind = "mail";

    // Recipients: addresses such as ops@example.org, or names of local users
    // such as root, which the server qualifies with its own domain, as a
    // crontab's MAILTO does. ASCII only, without display names.
    std::vector<std::string> to;
    // The sender address; empty for "chime@" and this host's name.
    std::string from;
    // "smtp://host[:port]" or "smtps://host[:port]"; the port defaults to 25
    // and 465. A host name, an IPv4 address or an IPv6 address in brackets.
    std::string server = "smtp://localhost:25";
    // Unset: never for a loopback server (localhost, 127.0.0.0/8, [::1]),
    // required for any other, so a password or a report never crosses the
    // network in plain text unless a user asks for it.
    std::optional<starttls_mode> starttls;
    // The SMTP AUTH user; empty to send without logging in.
    std::string username;
    // The source of the password, read when a mail is sent: the name of an
    // environment variable, or the path of a file whose first line is the
    // password. Exactly one of them is set when username is set.
    std::string password_env;
    std::string password_file;
    // A PEM file of CA certificates that replaces the system's, to verify a
    // server whose certificate is self-signed; empty for the system's.
    std::string ca_file;
    // The limit on connecting and sending one mail, from PT1S to PT1H.
    std::chrono::seconds timeout{30};
    delivery_mode when = delivery_mode::always;

    // Reads the settings above from JSON: "to" (a string or an array of
    // strings) is required and every other key is optional. A "password"
    // key is rejected so that no password is stored with a job. Throws
    // invalid_input naming the key and the value.
    static mail_sink from_json(const nlohmann::json& settings);

    // The settings as from_json reads them. It has no password, only where
    // the password is read from.
    nlohmann::json to_json() const;

    // Throws invalid_input naming the first setting that is invalid. Besides
    // each value's form, it requires TLS (smtps:// or starttls required) for
    // a login to a server that is not on this machine.
    void validate() const;

    // The starttls setting, or its default for the server.
    starttls_mode effective_starttls() const;

    // The sender address for a host named `host`.
    std::string sender(std::string_view host) const;

    // Sends the mail for `r`. Throws invalid_input when a setting is invalid,
    // chime::error when the password cannot be read, and delivery_error
    // (with curl's code and message, naming the server) when the server
    // cannot be reached or refuses the mail.
    void deliver(const report& r);

    // The message deliver() sends, headers and body with CRLF line ends:
    // Date, From, To, Subject, Message-ID, MIME-Version, Content-Type
    // (text/plain; charset=UTF-8), Content-Transfer-Encoding and
    // Auto-Submitted. The subject is RFC 2047 encoded when it is not ASCII
    // or too long for one line. The body is 7bit when it is ASCII with lines
    // of at most 998 bytes, else quoted-printable. Dot-stuffing is left to
    // libcurl, which applies it while sending.
    std::string compose(const report& r, std::string_view host,
                        std::chrono::system_clock::time_point date,
                        std::string_view message_id) const;

    // The subject: "[chime] backup failed on host1".
    static std::string subject(const report& r, std::string_view host);

    // The body before transfer encoding, with '\n' line ends.
    static std::string body(const report& r, std::string_view host);
};

// ---------------------------------------------------------------------------
// Definitions

constexpr std::string_view to_string(starttls_mode mode) noexcept {
    switch (mode) {
    case starttls_mode::never:
        return "never";
    case starttls_mode::if_available:
        return "if_available";
    case starttls_mode::required:
        return "required";
    }
    return "unknown";
}

namespace detail {

// atext of RFC 5322: the characters of a dot-atom besides letters and digits.
inline bool is_atext(char c) noexcept {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// A dot-atom: atext runs separated by single dots.
inline bool is_dot_atom(std::string_view text) noexcept {
    if (text.empty() || text.front() == '.' || text.back() == '.') {
        return false;
    }
    char previous = '\0';
    for (char c : text) {
        if (c == '.' ? previous == '.' : !is_atext(c)) {
            return false;
        }
        previous = c;
    }
    return true;
}

// A DNS host name: labels of letters, digits and '-', 1 to 63 bytes each,
// not starting or ending with '-', at most 253 bytes in all.
inline bool is_host_name(std::string_view text) noexcept {
    if (text.empty() || text.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    char previous = '.';
    for (char c : text) {
        if (c == '.') {
            if (label == 0 || previous == '-') {
                return false;
            }
            label = 0;
        } else {
            const bool alnum =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!(alnum || (c == '-' && label > 0)) || ++label > 63) {
                return false;
            }
        }
        previous = c;
    }
    return label > 0 && previous != '-';
}

// local@domain with a dot-atom local part of at most 64 bytes, or a bare
// local part (a local user), as the mail sink accepts it.
inline bool is_mail_address(std::string_view text) noexcept {
    const auto at = text.find('@');
    if (at == std::string_view::npos) {
        return text.size() <= 64 && is_dot_atom(text);
    }
    const auto local = text.substr(0, at);
    const auto domain = text.substr(at + 1);
    return local.size() <= 64 && is_dot_atom(local) && is_host_name(domain);
}

// The parts of an smtp:// or smtps:// server URL.
struct smtp_server_url {
    bool implicit_tls = false;
    std::string host;
    unsigned port = 0;
};

// Parses `text`, or returns none when it is not smtp[s]://host[:port][/].
inline std::optional<smtp_server_url> parse_smtp_server_url(std::string_view text) {
    smtp_server_url url;
    if (text.starts_with("smtp://")) {
        text.remove_prefix(7);
        url.port = 25;
    } else if (text.starts_with("smtps://")) {
        text.remove_prefix(8);
        url.implicit_tls = true;
        url.port = 465;
    } else {
        return std::nullopt;
    }
    if (text.ends_with('/')) {
        text.remove_suffix(1);
    }

    std::string_view port_text;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        const auto inside = text.substr(1, close - 1);
        if (inside.empty() ||
            inside.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
            return std::nullopt;
        }
        url.host = std::string(text.substr(0, close + 1));
        text.remove_prefix(close + 1);
        if (!text.empty() && !text.starts_with(':')) {
            return std::nullopt;
        }
        port_text = text.empty() ? text : text.substr(1);
    } else {
        const auto colon = text.find(':');
        url.host = std::string(text.substr(0, colon));
        if (!is_host_name(url.host)) {
            return std::nullopt;
        }
        port_text = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
        if (colon != std::string_view::npos && port_text.empty()) {
            return std::nullopt;
        }
    }
    if (!port_text.empty()) {
        if (port_text.size() > 5 ||
            port_text.find_first_not_of("0123456789") != std::string_view::npos) {
            return std::nullopt;
        }
        url.port = static_cast<unsigned>(std::stoul(std::string(port_text)));
        if (url.port == 0 || url.port > 65535) {
            return std::nullopt;
        }
    }
    return url;
}

inline bool is_loopback_host(std::string_view host) noexcept {
    return host == "localhost" || host.starts_with("127.") || host == "[::1]";
}

// This machine's host name, or "localhost" when gethostname fails.
inline std::string host_name() {
    std::array<char, 256> buffer{};
    if (::gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
        return "localhost";
    }
    return buffer.data();
}

inline std::string base64(std::string_view bytes) {
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                       (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) |
                       std::uint8_t(bytes[i + 2]);
        out += alphabet[n >> 18];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (i < bytes.size()) {
        const bool two = i + 1 < bytes.size();
        const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                       (two ? std::uint32_t(std::uint8_t(bytes[i + 1])) << 8 : 0u);
        out += alphabet[n >> 18];
        out += alphabet[(n >> 12) & 63];
        out += two ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// The Subject header field, folded. Plain text when it is printable ASCII
// whose words fit on a line of 78 characters, else RFC 2047 "B" encoded
// words. Each word carries at most 39 bytes of UTF-8, never a split
// character, so every line stays under the 76 characters RFC 2047 allows.
// Control characters were replaced by spaces beforehand, which keeps a job
// name from adding header fields.
inline std::string subject_header(std::string_view subject) {
    const bool printable =
        std::all_of(subject.begin(), subject.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
    std::vector<std::string_view> words;
    for (std::size_t start = 0; start < subject.size();) {
        auto end = subject.find(' ', start);
        end = end == std::string_view::npos ? subject.size() : end;
        if (end > start) {
            words.push_back(subject.substr(start, end - start));
        }
        start = end + 1;
    }
    const bool short_words =
        std::all_of(words.begin(), words.end(), [](std::string_view w) { return w.size() <= 68; });
    if (printable && short_words && subject.find("=?") == std::string_view::npos) {
        std::string out = "Subject:";
        std::size_t column = out.size();
        for (auto word : words) {
            if (column + 1 + word.size() > 78) {
                out += "\r\n";
                column = 0;
            }
            out += ' ';
            out += word;
            column += 1 + word.size();
        }
        return out + "\r\n";
    }

    std::string out = "Subject:";
    std::string_view rest = subject;
    bool first = true;
    while (!rest.empty()) {
        std::size_t take = std::min<std::size_t>(rest.size(), 39);
        while (take < rest.size() && (static_cast<unsigned char>(rest[take]) & 0xc0) == 0x80) {
            --take;
        }
        out += first ? " " : "\r\n ";
        first = false;
        out += "=?UTF-8?B?" + base64(rest.substr(0, take)) + "?=";
        rest.remove_prefix(take);
    }
    return out + "\r\n";
}

// True when `text` (with '\n' line ends) may go as 7bit: ASCII without
// control characters other than tab, and lines of at most 998 bytes.
inline bool fits_7bit(std::string_view text) noexcept {
    std::size_t line = 0;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            line = 0;
            continue;
        }
        if (byte >= 0x80 || (byte < 0x20 && c != '\t') || byte == 0x7f || ++line > 998) {
            return false;
        }
    }
    return true;
}

// Quoted-printable (RFC 2045) of `text` with '\n' line ends, in lines of at
// most 76 characters ending in CRLF. Every byte outside printable ASCII is
// written =XX, as are '=' and a space or tab at the end of a line.
inline std::string quoted_printable(std::string_view text) {
    constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    std::size_t column = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == '\n') {
            out += "\r\n";
            column = 0;
            continue;
        }
        const bool line_end = i + 1 == text.size() || text[i + 1] == '\n';
        const bool literal = (byte >= 33 && byte <= 126 && byte != '=') ||
                             ((byte == ' ' || byte == '\t') && !line_end);
        const std::size_t width = literal ? 1 : 3;
        if (column + width > 75) {
            out += "=\r\n";
            column = 0;
        }
        if (literal) {
            out += static_cast<char>(byte);
        } else {
            out += '=';
            out += digits[byte >> 4];
            out += digits[byte & 15];
        }
        column += width;
    }
    if (text.empty() || text.back() != '\n') {
        out += "\r\n";
    }
    return out;
}

// "Sun, 30 Mar 2025 01:00:02 +0000", the date-time of RFC 5322 in UTC.
inline std::string rfc5322_date(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    constexpr std::array<const char*, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto seconds_since_epoch = floor<seconds>(t);
    const auto day = floor<days>(seconds_since_epoch);
    const year_month_day ymd{day};
    const hh_mm_ss clock{seconds_since_epoch - day};
    auto two = [](long long v) { return std::string(v < 10 ? "0" : "") + std::to_string(v); };
    return std::string(weekdays[weekday{day}.c_encoding()]) + ", " + two(unsigned(ymd.day())) +
           " " + months[unsigned(ymd.month()) - 1] + " " + std::to_string(int(ymd.year())) + " " +
           two(clock.hours().count()) + ":" + two(clock.minutes().count()) + ":" +
           two(clock.seconds().count()) + " +0000";
}

// "<1743296402125.9f86d081884c7d65@host1>", unique by time and 64 random bits.
inline std::string new_message_id(std::string_view host) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    constexpr char digits[] = "0123456789abcdef";
    std::string id = "<" + std::to_string(millis) + ".";
    const std::uint64_t bits = random();
    for (int shift = 60; shift >= 0; shift -= 4) {
        id += digits[(bits >> shift) & 15];
    }
    return id + "@" + (is_host_name(host) ? std::string(host) : "localhost") + ">";
}

// Replaces control characters with spaces and invalid UTF-8 with U+FFFD,
// for text placed in a header field.
inline std::string header_text(std::string_view text) {
    std::string out = to_valid_utf8(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            c = ' ';
        }
    }
    return out;
}

// Overwrites a password before its memory is freed.
inline void wipe(std::string& secret) noexcept {
    volatile char* bytes = secret.data();
    for (std::size_t i = 0; i < secret.size(); ++i) {
        bytes[i] = '\0';
    }
    secret.clear();
}

// The password from `file`: its first line, without the line end. Throws
// chime::error naming the file, never its content.
inline std::string read_password_file(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        const int code = errno;
        throw error("mail sink: cannot open \"password_file\" " + file + ": " +
                    std::strerror(code));
    }
    std::string password;
    std::getline(in, password);
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    if (password.empty()) {
        throw error("mail sink: \"password_file\" " + file +
                    " is empty; write the password on "
                    "its first line");
    }
    return password;
}

// The message being sent and how much of it libcurl has read.
struct upload_cursor {
    std::string_view data;
    std::size_t offset = 0;
};

inline std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* cursor = static_cast<upload_cursor*>(user);
    const std::size_t n = std::min(size * count, cursor->data.size() - cursor->offset);
    std::memcpy(buffer, cursor->data.data() + cursor->offset, n);
    cursor->offset += n;
    return n;
}

} // namespace detail

inline starttls_mode mail_sink::effective_starttls() const {
    if (starttls) {
        return *starttls;
    }
    auto url = detail::parse_smtp_server_url(server);
    return url && detail::is_loopback_host(url->host) ? starttls_mode::never
                                                      : starttls_mode::required;
}

inline std::string mail_sink::sender(std::string_view host) const {
    if (!from.empty()) {
        return from;
    }
    return "chime@" + (detail::is_host_name(host) ? std::string(host) : std::string("localhost"));
}

inline void mail_sink::validate() const {
    auto fail = [](const std::string& what) { detail::throw_sink_error(kind, what); };
    const std::string address_help =
        "; expected an address such as ops@example.org or a local user name such as root, "
        "in ASCII and without a display name";

    if (to.empty()) {
        fail("\"to\" has no recipient; give an address or an array of addresses");
    }
    for (const auto& address : to) {
        if (!detail::is_mail_address(address)) {
            std::string what = "\"to\" contains " + detail::describe_json(address) +
                               ", which is not an email address" + address_help;
            if (address.find(',') != std::string::npos) {
                what += "; list several recipients as a JSON array";
            }
            fail(what);
        }
    }
    if (!from.empty() && !detail::is_mail_address(from)) {
        fail("\"from\" is " + detail::describe_json(from) + ", which is not an email address" +
             address_help);
    }

    const auto url = detail::parse_smtp_server_url(server);
    if (!url) {
        fail("\"server\" is " + detail::describe_json(server) +
             "; expected smtp://host[:port] or smtps://host[:port], without a user name or "
             "a path");
    }
    if (timeout < std::chrono::seconds{1} || timeout > std::chrono::seconds{3600}) {
        fail("\"timeout\" is " + format_duration(timeout) + "; it must be from PT1S to PT1H");
    }
    if (!password_env.empty() && !detail::is_environment_name(password_env)) {
        fail("\"password_env\" is " + detail::describe_json(password_env) +
             "; expected an environment variable name such as CHIME_SMTP_PASSWORD");
    }
    if (!password_env.empty() && !password_file.empty()) {
        fail("both \"password_env\" and \"password_file\" are set; keep one of them");
    }
    const bool has_password_source = !password_env.empty() || !password_file.empty();
    if (username.empty() && has_password_source) {
        fail("a password source is set but \"username\" is missing; set the user to log in as");
    }
    if (!username.empty() && !has_password_source) {
        fail("\"username\" is set without \"password_env\" or \"password_file\"; name where "
             "the password is read from");
    }
    const auto has_control = [](const std::string& text) {
        return std::any_of(text.begin(), text.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    };
    if (has_control(username) || has_control(password_file) || has_control(ca_file)) {
        fail("\"username\", \"password_file\" and \"ca_file\" must not contain control "
             "characters");
    }
    const bool tls = url->implicit_tls || effective_starttls() == starttls_mode::required;
    if (!username.empty() && !tls && !detail::is_loopback_host(url->host)) {
        fail("a login to " + server +
             " would send the password without TLS; use smtps:// "
             "or \"starttls\": \"required\"");
    }
}

inline mail_sink mail_sink::from_json(const nlohmann::json& settings) {
    if (settings.is_object() && settings.contains("password")) {
        detail::throw_sink_error(kind, "\"password\" is not accepted, so that no password is "
                                       "stored with a job; use \"password_env\" (an environment "
                                       "variable name) or \"password_file\" (a path)");
    }
    detail::check_sink_keys(settings, kind,
                            {"to", "from", "server", "starttls", "username", "password_env",
                             "password_file", "ca_file", "timeout"});
    mail_sink sink;
    sink.when = delivery_mode_of(settings);

    sink.to = detail::sink_string_list(settings, kind, "to");
    sink.from = detail::optional_sink_string(settings, kind, "from").value_or("");
    sink.server = detail::optional_sink_string(settings, kind, "server").value_or(sink.server);

    if (auto mode = detail::optional_sink_string(settings, kind, "starttls")) {
        for (auto m :
             {starttls_mode::never, starttls_mode::if_available, starttls_mode::required}) {
            if (to_string(m) == *mode) {
                sink.starttls = m;
            }
        }
        if (!sink.starttls) {
            detail::throw_sink_error(kind, "\"starttls\" is " + detail::describe_json(*mode) +
                                               "; expected one of never, if_available, required");
        }
    }

    sink.username = detail::optional_sink_string(settings, kind, "username").value_or("");
    sink.password_env = detail::optional_sink_string(settings, kind, "password_env").value_or("");
    sink.password_file = detail::optional_sink_string(settings, kind, "password_file").value_or("");
    sink.ca_file = detail::optional_sink_string(settings, kind, "ca_file").value_or("");
    sink.timeout = detail::sink_duration(settings, kind, "timeout", sink.timeout,
                                         std::chrono::seconds{1}, std::chrono::seconds{3600});

    sink.validate();
    return sink;
}

inline nlohmann::json mail_sink::to_json() const {
    nlohmann::json j = {
        {"when", to_string(when)},
        {"to", to},
        {"server", server},
        {"timeout", format_duration(timeout)},
    };
    auto optional = [&](const char* key, const std::string& value) {
        if (!value.empty()) {
            j[key] = value;
        }
    };
    optional("from", from);
    if (starttls) {
        j["starttls"] = to_string(*starttls);
    }
    optional("username", username);
    optional("password_env", password_env);
    optional("password_file", password_file);
    optional("ca_file", ca_file);
    return j;
}

inline std::string mail_sink::subject(const report& r, std::string_view host) {
    std::string status(to_string(r.status));
    std::replace(status.begin(), status.end(), '_', ' ');
    return detail::header_text("[chime] " + r.job + " " + status + " on " + std::string(host));
}

inline std::string mail_sink::body(const report& r, std::string_view host) {
    auto time = [](const std::optional<millisecond_instant>& t) {
        return t ? format_utc_milliseconds(*t) : std::string("-");
    };
    std::string text;
    auto field = [&](std::string_view name, const std::string& value) {
        text += name;
        text.append(12 - name.size(), ' ');
        text += value;
        text += '\n';
    };
    field("Job:", r.job);
    field("Status:", std::string(to_string(r.status)));
    field("Host:", std::string(host));
    field("Scheduled:", format_utc(r.scheduled));
    field("Started:", time(r.started));
    field("Finished:", time(r.finished));
    field("Duration:",
          r.started && r.finished ? detail::format_seconds(*r.finished - *r.started) : "-");
    field("Exit code:", r.exit_code ? std::to_string(*r.exit_code) : "-");
    field("Attempt:", r.attempt == 0 ? "first" : "retry " + std::to_string(r.attempt));
    field("Reason:", r.reason.empty() ? "-" : r.reason);

    text += "\nError:\n";
    text += r.error.empty() ? "(none)\n" : r.error;
    if (!r.error.empty() && r.error.back() != '\n') {
        text += '\n';
    }
    text += "\nOutput:\n";
    text += r.output.empty() && !r.output_truncated ? "(none)\n" : r.output;
    if (!r.output.empty() && r.output.back() != '\n') {
        text += '\n';
    }
    if (r.output_truncated) {
        text += "[output truncated: the run wrote more than the " +
                std::to_string(r.output.size()) + " bytes kept]\n";
    }

    // One line end, '\n', throughout: CRLF becomes '\n', and a lone CR stays
    // a control character, which the transfer encoding writes as =0D.
    std::string normalised;
    normalised.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            continue;
        }
        normalised += text[i];
    }
    return detail::to_valid_utf8(normalised);
}

inline std::string mail_sink::compose(const report& r, std::string_view host,
                                      std::chrono::system_clock::time_point date,
                                      std::string_view message_id) const {
    const std::string text = body(r, host);
    const bool plain = detail::fits_7bit(text);

    std::string message;
    message += "Date: " + detail::rfc5322_date(date) + "\r\n";
    message += "From: " + sender(host) + "\r\n";
    message += "To: ";
    for (std::size_t i = 0; i < to.size(); ++i) {
        message += (i == 0 ? "" : ",\r\n ") + to[i];
    }
    message += "\r\n";
    message += detail::subject_header(subject(r, host));
    message += "Message-ID: " + std::string(message_id) + "\r\n";
    message += "MIME-Version: 1.0\r\n";
    message += "Content-Type: text/plain; charset=UTF-8\r\n";
    message += plain ? "Content-Transfer-Encoding: 7bit\r\n"
                     : "Content-Transfer-Encoding: quoted-printable\r\n";
    // RFC 3834: a machine wrote this mail, so auto-responders stay quiet.
    message += "Auto-Submitted: auto-generated\r\n";
    message += "\r\n";

    if (plain) {
        for (char c : text) {
            if (c == '\n') {
                message += "\r\n";
            } else {
                message += c;
            }
        }
    } else {
        message += detail::quoted_printable(text);
    }
    return message;
}

inline void mail_sink::deliver(const report& r) {
    validate();
    const std::string host = detail::host_name();
    const std::string message =
        compose(r, host, std::chrono::system_clock::now(), detail::new_message_id(host));

    std::string password;
    if (!password_env.empty()) {
        const char* value = std::getenv(password_env.c_str());
        if (value == nullptr || *value == '\0') {
            throw error("mail sink: the environment variable " + password_env +
                        " named by \"password_env\" is not set or empty");
        }
        password = value;
    } else if (!password_file.empty()) {
        password = detail::read_password_file(password_file);
    }

    detail::curl_string_list recipients;
    for (const auto& address : to) {
        recipients.append("<" + address + ">");
    }
    detail::upload_cursor cursor{message};
    detail::curl_handle curl;
    curl.set(CURLOPT_URL, server.c_str());
    curl.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl.set(CURLOPT_MAIL_FROM, ("<" + sender(host) + ">").c_str());
    curl.set(CURLOPT_MAIL_RCPT, recipients.get());
    if (!username.empty()) {
        curl.set(CURLOPT_USERNAME, username.c_str());
        curl.set(CURLOPT_PASSWORD, password.c_str());
    }
    detail::wipe(password);
    switch (effective_starttls()) {
    case starttls_mode::never:
        curl.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE));
        break;
    case starttls_mode::if_available:
        curl.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
        break;
    case starttls_mode::required:
        curl.set(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
        break;
    }
    if (!ca_file.empty()) {
        curl.set(CURLOPT_CAINFO, ca_file.c_str());
    }
    const long timeout_ms = static_cast<long>(timeout.count()) * 1000;
    curl.set(CURLOPT_TIMEOUT_MS, timeout_ms);
    curl.set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl.set(CURLOPT_UPLOAD, 1L);
    curl.set(CURLOPT_READFUNCTION, &detail::read_upload);
    curl.set(CURLOPT_READDATA, &cursor);

    const CURLcode code = curl.perform();
    if (code != CURLE_OK) {
        throw delivery_error("mail to " + server + " failed: " + curl.describe(code),
                             static_cast<int>(code));
    }
}

} // namespace chime
