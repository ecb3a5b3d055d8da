// The libcurl pieces that the mail and webhook sinks share: the exception a
// failed delivery throws, with curl's code and the HTTP status, and an
// owning handle for one transfer.
// Thread safety: a delivery_error is an immutable value. A curl_handle
// belongs to one thread at a time; separate handles may run at once.
#pragma once

#include <chime/error.hpp>

#include <curl/curl.h>

#include <string>
#include <string_view>

namespace chime {

// A delivery that failed: the server was unreachable, rejected the message,
// responded with an error status, or did not respond in time. what() names the
// destination and the cause and never contains a password.
class delivery_error : public error {
public:
    delivery_error(const std::string& message, int curl_code, long http_status = 0)
        : error(detail::escape_control_characters(message)), curl_code_(curl_code),
          http_status_(http_status) {}

    // The CURLcode of the transfer, 0 (CURLE_OK) when the transfer worked
    // but the response was a failure.
    int curl_code() const noexcept { return curl_code_; }

    // The HTTP status of a webhook's response, or 0 when there was none.
    long http_status() const noexcept { return http_status_; }

private:
    int curl_code_;
    long http_status_;
};

namespace detail {

// A curl_slist, freed on destruction. It must outlive every transfer that
// uses it, so declare it before the curl_handle.
class curl_string_list {
public:
    curl_string_list() = default;
    curl_string_list(const curl_string_list&) = delete;
    curl_string_list& operator=(const curl_string_list&) = delete;
    ~curl_string_list() { curl_slist_free_all(list_); }

    void append(const std::string& text) {
        curl_slist* grown = curl_slist_append(list_, text.c_str());
        if (grown == nullptr) {
            throw error("curl_slist_append failed; out of memory");
        }
        list_ = grown;
    }

    curl_slist* get() const noexcept { return list_; }

private:
    curl_slist* list_ = nullptr;
};

// One curl easy handle with its error buffer, freed on destruction. NOSIGNAL is set because the
// dispatcher calls sinks from a thread of its own, where curl's SIGALRM-based DNS timeout is
// unsafe.
class curl_handle {
public:
    curl_handle() {
        global_init();
        handle_ = curl_easy_init();
        if (handle_ == nullptr) {
            throw error("curl_easy_init failed; libcurl could not allocate a transfer");
        }
        errors_[0] = '\0';
        set(CURLOPT_ERRORBUFFER, errors_);
        set(CURLOPT_NOSIGNAL, 1L);
    }

    curl_handle(const curl_handle&) = delete;
    curl_handle& operator=(const curl_handle&) = delete;

    ~curl_handle() { curl_easy_cleanup(handle_); }

    // Sets an option. Throws chime::error naming the option's number when
    // libcurl rejects it, e.g. because it was built without that feature.
    template<class Value>
    void set(CURLoption option, Value value) {
        CURLcode code = curl_easy_setopt(handle_, option, value);
        if (code != CURLE_OK) {
            throw error("curl_easy_setopt(" + std::to_string(static_cast<int>(option)) +
                        ") failed: " + curl_easy_strerror(code));
        }
    }

    // Runs the transfer. Returns CURLE_OK or the failure code, whose text
    // describe() gives.
    CURLcode perform() noexcept { return curl_easy_perform(handle_); }

    // "Couldn't connect to server (curl code 7): Failed to connect to ...".
    std::string describe(CURLcode code) const {
        std::string text = curl_easy_strerror(code);
        text += " (curl code " + std::to_string(static_cast<int>(code)) + ")";
        if (errors_[0] != '\0') {
            text += ": ";
            text += errors_;
        }
        return text;
    }

    long response_code() const noexcept {
        long status = 0;
        curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
        return status;
    }

private:
    // curl_global_init is not thread-safe in libcurl before 7.84.0, so it
    // runs once, under the guarantee of a function-local static.
    static void global_init() {
        static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (code != CURLE_OK) {
            throw error(std::string("curl_global_init failed: ") + curl_easy_strerror(code));
        }
    }

    CURL* handle_ = nullptr;
    char errors_[CURL_ERROR_SIZE];
};

} // namespace detail

} // namespace chime
