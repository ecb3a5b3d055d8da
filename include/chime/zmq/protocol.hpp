// The control protocol shared by the worker and its clients: error codes,
// reply shapes, CURVE key files, and a blocking client (chimectl uses it).
// docs/protocol.md describes each request.
//
//   chime::control_client client("ipc://chime.control");
//   auto reply = client.request({{"op", "list"}});   // {"ok": true, "result": ...}
//
// Thread safety: control_client is used by one thread at a time; the free
// functions are pure.
#pragma once

#include <chime/error.hpp>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace chime {

// The version of the control protocol, sent in ping replies.
inline constexpr int protocol_version = 1;

// Stable error codes of control replies. Clients branch on these, so a code
// never changes meaning; messages may be reworded.
namespace error_code {
inline constexpr std::string_view bad_json = "bad_json";         // the frame is not JSON
inline constexpr std::string_view bad_request = "bad_request";   // JSON of the wrong shape
inline constexpr std::string_view unknown_op = "unknown_op";     // "op" names no operation
inline constexpr std::string_view too_large = "too_large";       // over the size limit
inline constexpr std::string_view invalid_job = "invalid_job";   // a job definition is wrong
inline constexpr std::string_view not_found = "not_found";       // no job of that name
inline constexpr std::string_view conflict = "conflict";         // the name is taken
inline constexpr std::string_view store_failed = "store_failed"; // SQLite failed; nothing changed
inline constexpr std::string_view stopping = "stopping";         // the worker is shutting down
inline constexpr std::string_view internal = "internal";         // a bug: please report it
} // namespace error_code

// An error a control request gets back, with its stable code.
class protocol_error : public error {
public:
    protocol_error(std::string_view code, const std::string& message)
        : error(detail::escape_control_characters(message)), code_(code) {}
    const std::string& code() const noexcept { return code_; }

private:
    std::string code_;
};

inline nlohmann::json ok_reply(nlohmann::json result) {
    return {{"ok", true}, {"result", std::move(result)}};
}

inline nlohmann::json error_reply(std::string_view code, const std::string& message) {
    return {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

// CURVE settings for tcp:// endpoints. Key files hold Z85 text (40
// characters), as written by `chimed keygen`.
struct curve_options {
    // Server: its secret key, and a file of client public keys allowed to
    // connect, one per line ("# " starts a comment line; text after a key
    // and a blank is a label).
    std::filesystem::path server_secret_key_file;
    std::filesystem::path authorized_keys_file;
    // Client: the server's public key, and the client's own secret key
    // (its public key is derived from it).
    std::filesystem::path server_public_key_file;
    std::filesystem::path client_secret_key_file;
};

// True for endpoints that leave the machine, which require CURVE.
inline bool is_network_endpoint(std::string_view endpoint) {
    return endpoint.starts_with("tcp://") || endpoint.starts_with("ws://") ||
           endpoint.starts_with("pgm://") || endpoint.starts_with("epgm://");
}

namespace detail {

// '#' is a Z85 digit, so a comment is '#' followed by a blank or nothing.
// After a key, anything past a blank is a label.
inline bool is_key_file_comment(const std::string& line, std::size_t start) {
    return line[start] == '#' &&
           (start + 1 == line.size() || line[start + 1] == ' ' || line[start + 1] == '\t' ||
            line[start + 1] == '\r');
}

inline std::string read_z85_key(const std::filesystem::path& file, std::string_view what) {
    std::ifstream in(file);
    if (!in) {
        throw invalid_input(std::string(what) + " " + file.string() + ": cannot be read");
    }
    std::string line;
    while (std::getline(in, line)) {
        auto start = line.find_first_not_of(" \t\r");
        if (start == std::string::npos || is_key_file_comment(line, start)) {
            continue;
        }
        auto end = line.find_first_of(" \t\r", start);
        auto key = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (key.size() != 40) {
            throw invalid_input(std::string(what) + " " + file.string() + ": \"" + key +
                                "\" is not a Z85 CURVE key (40 characters expected, got " +
                                std::to_string(key.size()) + ")");
        }
        return key;
    }
    throw invalid_input(std::string(what) + " " + file.string() +
                        ": the file contains no key; write one with `chimed keygen NAME`");
}

inline std::set<std::string> read_authorized_keys(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) {
        throw invalid_input("authorized keys file " + file.string() + ": cannot be read");
    }
    std::set<std::string> keys;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        auto start = line.find_first_not_of(" \t\r");
        if (start == std::string::npos || is_key_file_comment(line, start)) {
            continue;
        }
        auto end = line.find_first_of(" \t\r", start);
        auto key = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (key.size() != 40) {
            throw invalid_input("authorized keys file " + file.string() + ", line " +
                                std::to_string(number) + ": \"" + key +
                                "\" is not a Z85 CURVE public key (40 characters)");
        }
        std::uint8_t raw[32];
        if (zmq_z85_decode(raw, key.c_str()) == nullptr) {
            throw invalid_input("authorized keys file " + file.string() + ", line " +
                                std::to_string(number) + ": \"" + key + "\" is not valid Z85");
        }
        keys.insert(key);
    }
    return keys;
}

inline std::string public_key_of(const std::string& secret_z85) {
    char public_key[41] = {};
    if (zmq_curve_public(public_key, secret_z85.c_str()) != 0) {
        throw invalid_input("the CURVE secret key is not valid Z85");
    }
    return public_key;
}

} // namespace detail

// Writes a new CURVE key pair: `prefix`.key (secret, mode 0600) and
// `prefix`.pub (public). Throws chime::error when libzmq has no CURVE or a
// file cannot be written; an existing file is never overwritten.
inline void write_curve_key_pair(const std::filesystem::path& prefix) {
    if (!zmq_has("curve")) {
        throw error("this libzmq was built without CURVE support");
    }
    char public_key[41] = {};
    char secret_key[41] = {};
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
        throw error("cannot create a CURVE key pair: " + std::string(zmq_strerror(zmq_errno())));
    }
    auto secret_path = prefix;
    secret_path += ".key";
    auto public_path = prefix;
    public_path += ".pub";
    for (const auto& p : {secret_path, public_path}) {
        if (std::filesystem::exists(p)) {
            throw error("key file " + p.string() + " exists already; remove it or choose another name");
        }
    }
    {
        std::ofstream out(secret_path);
        out << "# chime CURVE secret key: keep it private\n" << secret_key << "\n";
        if (!out) {
            throw error("cannot write " + secret_path.string());
        }
    }
    std::filesystem::permissions(secret_path, std::filesystem::perms::owner_read |
                                                  std::filesystem::perms::owner_write);
    std::ofstream out(public_path);
    out << public_key << "\n";
    if (!out) {
        throw error("cannot write " + public_path.string());
    }
}

// A blocking client of the control socket (a DEALER). Each request waits for
// its reply up to a timeout.
class control_client {
public:
    // Throws invalid_input for a network endpoint without CURVE key files.
    explicit control_client(std::string endpoint, curve_options curve = {})
        : own_context_(std::make_unique<zmq::context_t>()), endpoint_(std::move(endpoint)),
          socket_(*own_context_, zmq::socket_type::dealer) {
        connect(curve);
    }

    // A client in `context`, which an inproc:// endpoint needs: the worker's
    // context (worker::context()). `context` must outlive the client.
    control_client(zmq::context_t& context, std::string endpoint, curve_options curve = {})
        : endpoint_(std::move(endpoint)), socket_(context, zmq::socket_type::dealer) {
        connect(curve);
    }

    const std::string& endpoint() const noexcept { return endpoint_; }

    // Sends `request` and returns the reply, or none when no reply came
    // within `timeout` (the worker is not running or not reachable).
    // The request carries an "id" that the reply echoes, so a late reply to
    // an earlier request that timed out is skipped.
    std::optional<nlohmann::json> request(nlohmann::json request,
                                          std::chrono::milliseconds timeout = std::chrono::seconds{5}) {
        if (!request.is_object()) {
            return exchange(request.dump(), timeout, std::nullopt);
        }
        auto id = ++next_id_;
        request["id"] = id;
        return exchange(request.dump(), timeout, id);
    }

    // Sends raw bytes as the request frame, for tests of malformed input,
    // and returns the first reply.
    std::optional<nlohmann::json> request_raw(std::string_view frame,
                                              std::chrono::milliseconds timeout) {
        return exchange(frame, timeout, std::nullopt);
    }

private:
    std::optional<nlohmann::json> exchange(std::string_view frame, std::chrono::milliseconds timeout,
                                           std::optional<std::uint64_t> id) {
        socket_.send(zmq::message_t(), zmq::send_flags::sndmore); // the empty delimiter
        socket_.send(zmq::buffer(frame), zmq::send_flags::none);
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() < 0) {
                return std::nullopt;
            }
            zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, left);
            if (!(item.revents & ZMQ_POLLIN)) {
                return std::nullopt;
            }
            zmq::message_t part;
            std::string body;
            bool more = true;
            while (more) {
                (void)socket_.recv(part);
                more = part.more();
                if (part.size() > 0) {
                    body = part.to_string();
                }
            }
            auto reply = nlohmann::json::parse(body, nullptr, false);
            if (reply.is_discarded()) {
                throw error("endpoint " + endpoint_ + ": the reply is not JSON");
            }
            if (id && reply.is_object() && reply.contains("id") && reply["id"] != *id) {
                continue; // the reply to an earlier request that timed out
            }
            return reply;
        }
    }

    void connect(const curve_options& curve) {
        socket_.set(zmq::sockopt::linger, 0);
        if (is_network_endpoint(endpoint_)) {
            if (curve.server_public_key_file.empty() || curve.client_secret_key_file.empty()) {
                throw invalid_input("endpoint " + endpoint_ +
                                    ": a network endpoint needs CURVE keys: the server's public "
                                    "key and a client secret key (create them with `chimed "
                                    "keygen NAME`)");
            }
            auto server = detail::read_z85_key(curve.server_public_key_file, "server public key file");
            auto secret = detail::read_z85_key(curve.client_secret_key_file, "client secret key file");
            socket_.set(zmq::sockopt::curve_serverkey, server);
            socket_.set(zmq::sockopt::curve_secretkey, secret);
            socket_.set(zmq::sockopt::curve_publickey, detail::public_key_of(secret));
        }
        socket_.connect(endpoint_);
    }

    std::uint64_t next_id_ = 0;
    std::unique_ptr<zmq::context_t> own_context_;
    std::string endpoint_;
    zmq::socket_t socket_;
};

} // namespace chime
