// The "webhook" report sink: POSTs each report as JSON (report_to_json) to
// an HTTP or HTTPS URL. A response status outside 200-299 is a failed
// delivery, which the sink_dispatcher retries up to "retries" times.
//
//   {"kind": "webhook", "url": "https://hooks.example.org/chime", "timeout": "PT10S",
//    "headers": {"X-Team": "ops", "Authorization": {"env": "CHIME_HOOK_AUTH"}},
//    "retries": 3}
//
// A header value given as {"env": NAME} is read from that environment
// variable at each delivery, so a token need not be stored with the job.
// Errors name the URL without its query string, but a secret in the path
// would still appear in them; pass secrets in headers instead.
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

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace chime {

struct webhook_sink {
    static constexpr std::string_view kind = "webhook";

    // One extra request header.
    struct header {
        std::string name;
        // The value, or the name of the environment variable that contains it.
        std::string value;
        bool from_environment = false;

        friend bool operator==(const header&, const header&) = default;
    };

    // "http://..." or "https://...", without a user name or password.
    std::string url;
    // The limit on connecting, sending and receiving the response, from PT1S to PT1H.
    std::chrono::seconds timeout{10};
    std::vector<header> headers;
    // The retries after a failed delivery, from 0 to 100, which the
    // sink_dispatcher makes with its backoff. deliver() itself tries once.
    unsigned retries = 3;
    delivery_mode when = delivery_mode::always;

    // Reads the settings above; "url" is required. Throws invalid_input
    // naming the key and the value.
    static webhook_sink from_json(const nlohmann::json& settings);

    nlohmann::json to_json() const;

    // Throws invalid_input naming the first setting that is invalid.
    void validate() const;

    // POSTs report_to_json(r) with Content-Type application/json. Throws
    // delivery_error naming the URL and curl's message when the request
    // fails or times out, or the status when the response is not 2xx.
    void deliver(const report& r);

    // The URL for messages: the query string and fragment become "?...".
    std::string shown_url() const;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// A token of RFC 9110, the form of a header field name.
inline bool is_http_token(std::string_view text) noexcept {
    if (text.empty()) {
        return false;
    }
    return std::all_of(text.begin(), text.end(), [](char c) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        return alnum || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

// A header field value: no control characters except tab, so a value can
// never end the header line and start another.
inline bool is_http_header_value(std::string_view text) noexcept {
    return std::none_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return (byte < 0x20 && c != '\t') || byte == 0x7f;
    });
}

// True for http[s]://authority[/path][?query] with a non-empty authority
// of host name, IP address and port characters only, and no byte outside
// printable ASCII.
inline bool is_webhook_url(std::string_view url) noexcept {
    std::string_view rest;
    if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else if (url.starts_with("https://")) {
        rest = url.substr(8);
    } else {
        return false;
    }
    const bool printable =
        std::all_of(url.begin(), url.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    const auto authority = rest.substr(0, rest.find_first_of("/?#"));
    return printable && !authority.empty() &&
           authority.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789.-:[]") == std::string_view::npos;
}

// Keeps the first 200 bytes of the response body for an error message.
inline std::size_t keep_response_start(char* data, std::size_t size, std::size_t count,
                                       void* user) {
    auto* kept = static_cast<std::string*>(user);
    const std::size_t n = size * count;
    kept->append(data, std::min(n, kept->size() < 200 ? 200 - kept->size() : 0));
    return n;
}

} // namespace detail

inline std::string webhook_sink::shown_url() const {
    const auto cut = url.find_first_of("?#");
    return cut == std::string::npos ? url : url.substr(0, cut) + "?...";
}

inline void webhook_sink::validate() const {
    auto fail = [](const std::string& what) { detail::throw_sink_error(kind, what); };
    if (!detail::is_webhook_url(url)) {
        fail("\"url\" is " + detail::describe_json(url) +
             "; expected http://host[:port]/path or https://..., in ASCII (percent-encode "
             "other bytes) and without a user name or password (send credentials in "
             "\"headers\")");
    }
    if (timeout < std::chrono::seconds{1} || timeout > std::chrono::seconds{3600}) {
        fail("\"timeout\" is " + format_duration(timeout) + "; it must be from PT1S to PT1H");
    }
    if (retries > 100) {
        fail("\"retries\" is " + std::to_string(retries) + "; it must be from 0 to 100");
    }
    for (const auto& h : headers) {
        if (!detail::is_http_token(h.name)) {
            fail("header name " + detail::describe_json(h.name) +
                 " is invalid; use letters, digits and -, such as X-Team");
        }
        if (h.from_environment && !detail::is_environment_name(h.value)) {
            fail("header " + h.name + ": " + detail::describe_json(h.value) +
                 " is not an environment variable name");
        }
        // The value is not quoted here, because it may be a secret.
        if (!h.from_environment && !detail::is_http_header_value(h.value)) {
            fail("the value of header " + h.name + " contains a control character");
        }
    }
}

inline webhook_sink webhook_sink::from_json(const nlohmann::json& settings) {
    detail::check_sink_keys(settings, kind, {"url", "timeout", "headers", "retries"});
    webhook_sink sink;
    sink.when = delivery_mode_of(settings);
    sink.url = detail::required_sink_string(settings, kind, "url");
    sink.timeout = detail::sink_duration(settings, kind, "timeout", sink.timeout,
                                         std::chrono::seconds{1}, std::chrono::seconds{3600});
    sink.retries = static_cast<unsigned>(detail::sink_count(settings, kind, "retries", 3, 0, 100));

    if (auto it = settings.find("headers"); it != settings.end() && !it->is_null()) {
        if (!it->is_object()) {
            detail::throw_sink_error(kind, "\"headers\" must be an object of names and values, "
                                           "got " +
                                               detail::describe_json(*it));
        }
        for (const auto& item : it->items()) {
            const auto& value = item.value();
            if (value.is_string()) {
                sink.headers.push_back({item.key(), value.get<std::string>(), false});
            } else if (value.is_object() && value.size() == 1 && value.contains("env") &&
                       value.at("env").is_string()) {
                sink.headers.push_back({item.key(), value.at("env").get<std::string>(), true});
            } else {
                detail::throw_sink_error(kind, "header " + detail::describe_json(item.key()) +
                                                   " must be a string or {\"env\": NAME}, got " +
                                                   detail::describe_json(value));
            }
        }
    }
    sink.validate();
    return sink;
}

inline nlohmann::json webhook_sink::to_json() const {
    nlohmann::json header_json = nlohmann::json::object();
    for (const auto& h : headers) {
        if (h.from_environment) {
            header_json[h.name] = {{"env", h.value}};
        } else {
            header_json[h.name] = h.value;
        }
    }
    nlohmann::json j = {
        {"when", to_string(when)},
        {"url", url},
        {"timeout", format_duration(timeout)},
        {"retries", retries},
    };
    if (!headers.empty()) {
        j["headers"] = header_json;
    }
    return j;
}

inline void webhook_sink::deliver(const report& r) {
    validate();
    const std::string body = report_to_json(r).dump();

    detail::curl_string_list header_list;
    header_list.append("Content-Type: application/json");
    // Without this, libcurl 7.88 (Debian 12) sends "Expect: 100-continue"
    // with a large body (a 2 MB body did, a 2 KB one did not) and waits up to
    // a second for the interim response, which a server may never send.
    header_list.append("Expect:");
    for (const auto& h : headers) {
        std::string value = h.value;
        if (h.from_environment) {
            const char* from_environment = std::getenv(h.value.c_str());
            if (from_environment == nullptr) {
                throw error("webhook sink: the environment variable " + h.value + " for header " +
                            h.name + " is not set");
            }
            value = from_environment;
            if (!detail::is_http_header_value(value)) {
                throw error("webhook sink: the environment variable " + h.value + " for header " +
                            h.name + " contains a control character");
            }
        }
        header_list.append(h.name + ": " + value);
    }

    std::string response_start;
    detail::curl_handle curl;
    curl.set(CURLOPT_URL, url.c_str());
    curl.set(CURLOPT_PROTOCOLS_STR, "http,https");
    curl.set(CURLOPT_POST, 1L);
    curl.set(CURLOPT_POSTFIELDS, body.c_str());
    curl.set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl.set(CURLOPT_HTTPHEADER, header_list.get());
    curl.set(CURLOPT_USERAGENT, "chime");
    curl.set(CURLOPT_FOLLOWLOCATION, 0L);
    const long timeout_ms = static_cast<long>(timeout.count()) * 1000;
    curl.set(CURLOPT_TIMEOUT_MS, timeout_ms);
    curl.set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl.set(CURLOPT_WRITEFUNCTION, &detail::keep_response_start);
    curl.set(CURLOPT_WRITEDATA, &response_start);

    const CURLcode code = curl.perform();
    if (code != CURLE_OK) {
        throw delivery_error("webhook " + shown_url() + " failed: " + curl.describe(code),
                             static_cast<int>(code));
    }
    const long status = curl.response_code();
    if (status < 200 || status > 299) {
        std::string message = "webhook " + shown_url() +
                              " failed: the server responded with HTTP status " +
                              std::to_string(status);
        if (!response_start.empty()) {
            message += " and body " + detail::describe_json(detail::to_valid_utf8(response_start));
        }
        throw delivery_error(message, 0, status);
    }
}

} // namespace chime
