// The mail sink: its settings, the message it composes, and delivery
// through a real SMTP server (tests/servers/smtp_server.py, aiosmtpd) with
// AUTH and STARTTLS.
#include "sink_test_support.hpp"

#include <chime/sinks/dispatcher.hpp>
#include <chime/sinks/mail_sink.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

using chime::mail_sink;
using chime::testing::environment_variable;
using chime::testing::read_file;
using chime::testing::sample_report;
using chime::testing::server_process;
using chime::testing::temporary_directory;
using nlohmann::json;
using namespace std::chrono_literals;

static_assert(chime::report_sink<mail_sink>);

namespace {

const std::string password_variable = "CHIME_TEST_SMTP_PASSWORD";

// An SMTP server storing what it receives in a directory of its own.
struct smtp_server {
    temporary_directory received;
    server_process process;

    explicit smtp_server(const std::vector<std::string>& options = {})
        : process(arguments(received.path().string(), options)) {}

    static std::vector<std::string> arguments(const std::string& directory,
                                              const std::vector<std::string>& options) {
        std::vector<std::string> argv{CHIME_PYTHON3,
                                      chime::testing::server_script("smtp_server.py"), directory};
        argv.insert(argv.end(), options.begin(), options.end());
        return argv;
    }

    std::string url() const { return "smtp://127.0.0.1:" + std::to_string(process.port()); }

    // The JSON records of the messages received so far.
    std::vector<json> records() const {
        std::vector<json> found;
        for (const auto& path : chime::testing::files_ending_in(received.path(), ".json")) {
            found.push_back(json::parse(read_file(path)));
        }
        return found;
    }

    std::vector<std::string> raw_messages() const {
        std::vector<std::string> found;
        for (const auto& path : chime::testing::files_ending_in(received.path(), ".eml")) {
            found.push_back(read_file(path));
        }
        return found;
    }
};

// A self-signed certificate for 127.0.0.1 and localhost, made with openssl.
struct certificate {
    temporary_directory directory;
    std::string cert = (directory.path() / "cert.pem").string();
    std::string key = (directory.path() / "key.pem").string();

    certificate() {
        const std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
            "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" +
            key + "' -out '" + cert + "' 2>/dev/null";
        if (std::system(command.c_str()) != 0) {
            throw std::runtime_error("openssl could not make a test certificate: " + command);
        }
    }
};

// A loopback port that nothing listens on: bound once to learn a free port,
// then closed.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

std::string without_carriage_returns(std::string text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
            out += text[i];
        }
    }
    return out;
}

// The header section of a raw message, up to the empty line.
std::string headers_of(const std::string& message) {
    return message.substr(0, message.find("\r\n\r\n") + 2);
}

std::vector<std::string> crlf_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find("\r\n", start);
        end = end == std::string::npos ? text.size() : end;
        lines.push_back(text.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

mail_sink sink_for(const std::string& server, json extra = json::object()) {
    json settings{{"to", {"alice@example.org", "bob@example.net"}},
                  {"from", "chime@example.org"},
                  {"server", server},
                  {"timeout", "PT10S"}};
    settings.update(extra);
    return mail_sink::from_json(settings);
}

const std::chrono::system_clock::time_point fixed_date{std::chrono::seconds{1'743'296'402}};

} // namespace

// ---------------------------------------------------------------------------
// Settings

TEST_CASE("mail sink defaults", "[mail_sink]") {
    const auto sink = mail_sink::from_json(json{{"kind", "mail"}, {"to", "root"}});
    CHECK(sink.to == std::vector<std::string>{"root"});
    CHECK(sink.server == "smtp://localhost:25");
    CHECK_FALSE(sink.starttls);
    CHECK(sink.effective_starttls() == chime::starttls_mode::never);
    CHECK(sink.timeout == 30s);
    CHECK(sink.when == chime::delivery_mode::always);
    CHECK(sink.sender("host1") == "chime@host1");
    CHECK(sink.sender("bad_host") == "chime@localhost");
}

TEST_CASE("mail sink reads a crontab import", "[mail_sink]") {
    const json imported{{"kind", "mail"},
                        {"when", "non_empty"},
                        {"to", {"root@example.org", "user1@example.com", "minecraft"}}};
    const auto sink = mail_sink::from_json(imported);
    CHECK(sink.to.size() == 3);
    CHECK(sink.when == chime::delivery_mode::non_empty);
}

TEST_CASE("mail sink JSON round trip", "[mail_sink]") {
    const json settings{{"when", "on_failure"},
                        {"to", {"ops@example.org"}},
                        {"from", "chime@example.org"},
                        {"server", "smtps://mail.example.org:465"},
                        {"starttls", "if_available"},
                        {"username", "chime"},
                        {"password_file", "/etc/chime/smtp-password"},
                        {"ca_file", "/etc/chime/ca.pem"},
                        {"timeout", "PT45S"}};
    const auto sink = mail_sink::from_json(settings);
    CHECK(sink.to_json() == settings);
    CHECK(mail_sink::from_json(sink.to_json()).to_json() == settings);
}

TEST_CASE("mail sink defaults to STARTTLS for remote servers", "[mail_sink]") {
    const auto sink = mail_sink::from_json(
        json{{"to", "ops@example.org"}, {"server", "smtp://mail.example.org:587"}});
    CHECK(sink.effective_starttls() == chime::starttls_mode::required);
    CHECK_FALSE(sink.to_json().contains("starttls"));
}

TEST_CASE("mail sink rejects invalid addresses", "[mail_sink]") {
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "ops@example.org, dev@example.org"}}),
                      "sink \"mail\": \"to\" contains \"ops@example.org, dev@example.org\", which "
                      "is not an email address; expected an address such as ops@example.org or "
                      "a local user name such as root, in ASCII and without a display name; list "
                      "several recipients as a JSON array");
    for (const char* bad :
         {"", "a@", "@example.org", "a..b@example.org", "a@-example.org", "Ops <ops@example.org>",
          "ops@example.org\r\nBcc: x@example.org", "j\xc3\xb6rg@example.org", "a@b_c.org"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(mail_sink::from_json(json{{"to", {"ok@example.org", bad}}}),
                        chime::invalid_input);
    }
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", json::array()}}),
                      "sink \"mail\": \"to\" must be a string or a non-empty array of strings, "
                      "got an array of 0 elements");
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "ops@example.org"}, {"from", "me@"}}),
                      Catch::StartsWith("sink \"mail\": \"from\" is \"me@\", which is not an "
                                        "email address"));
}

TEST_CASE("mail sink accepts common addresses", "[mail_sink]") {
    for (const char* good : {"root", "o'brien@example.ie", "first.last+tag@mail.example.co.uk",
                             "x@localhost", "a_b-c@example.org"}) {
        CAPTURE(good);
        CHECK_NOTHROW(mail_sink::from_json(json{{"to", good}}));
    }
}

TEST_CASE("mail sink rejects a stored password", "[mail_sink]") {
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"password", "hunter2"}}),
                      "sink \"mail\": \"password\" is not accepted, so that no password is stored "
                      "with a job; use \"password_env\" (an environment variable name) or "
                      "\"password_file\" (a path)");
}

TEST_CASE("mail sink checks the login settings", "[mail_sink]") {
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"password_env", "PW"}}),
                      "sink \"mail\": a password source is set but \"username\" is missing; set "
                      "the user to log in as");
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"username", "u"}}),
                      "sink \"mail\": \"username\" is set without \"password_env\" or "
                      "\"password_file\"; name where the password is read from");
    CHECK_THROWS_WITH(
        mail_sink::from_json(json{
            {"to", "root"}, {"username", "u"}, {"password_env", "PW"}, {"password_file", "/f"}}),
        "sink \"mail\": both \"password_env\" and \"password_file\" are set; keep one of them");
    CHECK_THROWS_WITH(
        mail_sink::from_json(json{{"to", "root"}, {"username", "u"}, {"password_env", "1PW"}}),
        "sink \"mail\": \"password_env\" is \"1PW\"; expected an environment variable name such "
        "as CHIME_SMTP_PASSWORD");
}

TEST_CASE("mail sink refuses a plain-text login to a remote server", "[mail_sink]") {
    const json remote{{"to", "ops@example.org"},
                      {"server", "smtp://mail.example.org:587"},
                      {"username", "chime"},
                      {"password_env", "PW"}};
    CHECK_NOTHROW(mail_sink::from_json(remote));

    auto plain = remote;
    plain["starttls"] = "if_available";
    CHECK_THROWS_WITH(mail_sink::from_json(plain),
                      "sink \"mail\": a login to smtp://mail.example.org:587 would send the "
                      "password without TLS; use smtps:// or \"starttls\": \"required\"");

    auto implicit_tls = plain;
    implicit_tls["server"] = "smtps://mail.example.org";
    CHECK_NOTHROW(mail_sink::from_json(implicit_tls));

    auto loopback = plain;
    loopback["server"] = "smtp://127.0.0.1:2525";
    loopback["starttls"] = "never";
    CHECK_NOTHROW(mail_sink::from_json(loopback));
}

TEST_CASE("mail sink checks the server URL", "[mail_sink]") {
    for (const char* bad : {"mail.example.org", "http://mail.example.org", "smtp://",
                            "smtp://user:pw@mail.example.org", "smtp://mail.example.org:0",
                            "smtp://mail.example.org:70000", "smtp://mail.example.org/x/y",
                            "smtp://mail.example.org:", "smtp://[::1"}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"server", bad}}),
                          Catch::StartsWith("sink \"mail\": \"server\" is "));
    }
    for (const char* good : {"smtp://localhost", "smtps://mail.example.org:465/",
                             "smtp://[::1]:2525", "smtp://192.0.2.7:25"}) {
        CAPTURE(good);
        CHECK_NOTHROW(mail_sink::from_json(json{{"to", "root"}, {"server", good}}));
    }
}

TEST_CASE("mail sink settings errors name the key", "[mail_sink]") {
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"starttls", "sometimes"}}),
                      "sink \"mail\": \"starttls\" is \"sometimes\"; expected one of never, "
                      "if_available, required");
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"to", "root"}, {"timeout", "PT2H"}}),
                      "sink \"mail\": \"timeout\" is \"PT2H\"; it must be from PT1S to PT1H");
    CHECK_THROWS_WITH(
        mail_sink::from_json(json{{"to", "root"}, {"subject", "x"}}),
        Catch::StartsWith("sink \"mail\": unknown key \"subject\"; expected when, to, "));
    CHECK_THROWS_WITH(mail_sink::from_json(json{{"server", "smtp://localhost"}}),
                      "sink \"mail\": \"to\" is missing");
}

// ---------------------------------------------------------------------------
// The message

TEST_CASE("mail message has the RFC 5322 headers", "[mail_sink]") {
    const auto sink = sink_for("smtp://127.0.0.1:25");
    const auto message = sink.compose(sample_report(), "host1", fixed_date, "<id.1@host1>");
    const auto headers = headers_of(message);
    CHECK_THAT(headers, Catch::StartsWith("Date: Sun, 30 Mar 2025 01:00:02 +0000\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nFrom: chime@example.org\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nTo: alice@example.org,\r\n bob@example.net\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nSubject: [chime] backup failed on host1\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nMessage-ID: <id.1@host1>\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nMIME-Version: 1.0\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nContent-Transfer-Encoding: 7bit\r\n"));
    CHECK_THAT(headers, Catch::Contains("\r\nAuto-Submitted: auto-generated\r\n"));
}

TEST_CASE("mail body lists the report", "[mail_sink]") {
    auto r = sample_report();
    r.output_truncated = true;
    const auto body = mail_sink::body(r, "host1");
    CHECK(body == "Job:        backup\n"
                  "Status:     failed\n"
                  "Host:       host1\n"
                  "Scheduled:  2025-03-30T01:00:00Z\n"
                  "Started:    2025-03-30T01:00:00.125Z\n"
                  "Finished:   2025-03-30T01:00:02.250Z\n"
                  "Duration:   2.125s\n"
                  "Exit code:  3\n"
                  "Attempt:    retry 2\n"
                  "Reason:     scheduled\n"
                  "\n"
                  "Error:\n"
                  "exit code 3\n"
                  "\n"
                  "Output:\n"
                  "line one\n"
                  "line two\n"
                  "[output truncated: the run wrote more than the 18 bytes kept]\n");
}

TEST_CASE("mail body marks empty values", "[mail_sink]") {
    chime::report r;
    r.status = chime::run_status::missed;
    const auto body = mail_sink::body(r, "host1");
    CHECK_THAT(body, Catch::Contains("Started:    -\n"));
    CHECK_THAT(body, Catch::Contains("Exit code:  -\n"));
    CHECK_THAT(body, Catch::Contains("Attempt:    first\n"));
    CHECK_THAT(body, Catch::Contains("Error:\n(none)\n"));
    CHECK_THAT(body, Catch::EndsWith("Output:\n(none)\n"));
}

TEST_CASE("mail subject cannot add header fields", "[mail_sink]") {
    auto r = sample_report();
    r.job = "evil\r\nBcc: victim@example.org";
    const auto sink = sink_for("smtp://127.0.0.1:25");
    const auto headers = headers_of(sink.compose(r, "host1", fixed_date, "<id@host1>"));
    for (const auto& line : crlf_lines(headers)) {
        CHECK_FALSE(line.rfind("Bcc:", 0) == 0);
    }
    CHECK_THAT(headers, Catch::Contains("Subject: [chime] evil Bcc: victim@example.org failed"));
}

TEST_CASE("mail subject is encoded when not ASCII", "[mail_sink]") {
    auto r = sample_report();
    r.job = "Sicherung f\xc3\xbcr \xc3\x9c"
            "berweisungen \xe2\x80\x93 t\xc3\xa4glich mit einem sehr "
            "langen Namen, der nicht auf eine Zeile passt";
    const auto sink = sink_for("smtp://127.0.0.1:25");
    const auto headers = headers_of(sink.compose(r, "host1", fixed_date, "<id@host1>"));
    CHECK_THAT(headers, Catch::Contains("Subject: =?UTF-8?B?"));
    for (const auto& line : crlf_lines(headers)) {
        CAPTURE(line);
        CHECK(line.size() <= 78);
        for (char c : line) {
            CHECK(static_cast<unsigned char>(c) < 0x80);
        }
    }
}

TEST_CASE("mail subject folds long ASCII text", "[mail_sink]") {
    auto r = sample_report();
    r.job = "a rather long job name that describes the nightly backup of every database we run";
    const auto sink = sink_for("smtp://127.0.0.1:25");
    const auto lines = crlf_lines(headers_of(sink.compose(r, "host1", fixed_date, "<id@host1>")));
    std::size_t subject_lines = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        CHECK(lines[i].size() <= 78);
        if (lines[i].rfind("Subject: [chime] a rather", 0) == 0) {
            subject_lines = 1;
            while (i + subject_lines < lines.size() && lines[i + subject_lines].front() == ' ') {
                ++subject_lines;
            }
        }
    }
    CHECK(subject_lines == 2);
}

TEST_CASE("mail body is quoted-printable when needed", "[mail_sink]") {
    auto r = sample_report();
    r.output = "Gr\xc3\xbc\xc3\x9f"
               "e\n" +
               std::string(2000, 'x') + "\ntrailing space \n";
    const auto sink = sink_for("smtp://127.0.0.1:25");
    const auto message = sink.compose(r, "host1", fixed_date, "<id@host1>");
    CHECK_THAT(headers_of(message),
               Catch::Contains("\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
    const auto body = message.substr(message.find("\r\n\r\n") + 4);
    CHECK_THAT(body, Catch::Contains("Gr=C3=BC=C3=9Fe\r\n"));
    CHECK_THAT(body, Catch::Contains("trailing space=20\r\n"));
    for (const auto& line : crlf_lines(body)) {
        CAPTURE(line);
        CHECK(line.size() <= 76);
    }
}

// ---------------------------------------------------------------------------
// Delivery through aiosmtpd

TEST_CASE("mail reaches two recipients with AUTH", "[mail_sink][smtp]") {
    smtp_server server({"--user", "chime-user", "--password", "pw-from-environment"});
    environment_variable password(password_variable, "pw-from-environment");
    auto sink = sink_for(
        server.url(),
        {{"username", "chime-user"}, {"password_env", password_variable}, {"starttls", "never"}});
    auto r = sample_report();
    r.output = "first\n.\n.hidden\n..two dots\nlast\n";
    r.output_truncated = true;
    sink.deliver(r);

    const auto records = server.records();
    REQUIRE(records.size() == 1);
    const auto& received = records[0];
    CHECK(received.at("rcpt_tos") == json{"alice@example.org", "bob@example.net"});
    CHECK(received.at("mail_from") == "chime@example.org");
    REQUIRE(received.at("auth").is_object());
    CHECK(received.at("auth").at("user") == "chime-user");
    CHECK((received.at("auth").at("mechanism") == "PLAIN" ||
           received.at("auth").at("mechanism") == "LOGIN"));
    CHECK(received.at("tls") == false);

    const auto host = chime::detail::host_name();
    CHECK(received.at("subject") == "[chime] backup failed on " + host);
    const auto body = without_carriage_returns(received.at("body").get<std::string>());
    CHECK(body == mail_sink::body(r, host));
    CHECK_THAT(body, Catch::Contains("\nfirst\n.\n.hidden\n..two dots\nlast\n"));
    CHECK_THAT(body, Catch::Contains("[output truncated: "));
    CHECK_THAT(body, Catch::Contains("Status:     failed\n"));
    CHECK_THAT(body, Catch::Contains("Exit code:  3\n"));

    const auto raw = server.raw_messages().at(0);
    CHECK_THAT(raw, Catch::Contains("\r\nMIME-Version: 1.0\r\n"));
    CHECK_THAT(raw, Catch::Contains("\r\nMessage-ID: <"));
    CHECK_THAT(raw, !Catch::Contains("pw-from-environment"));
    CHECK_THAT(sink.to_json().dump(), !Catch::Contains("pw-from-environment"));
}

TEST_CASE("mail carries UTF-8 subject and body", "[mail_sink][smtp]") {
    smtp_server server;
    auto sink = sink_for(server.url());
    auto r = sample_report();
    r.job = "Sicherung f\xc3\xbcr \xc3\x9c"
            "berweisungen \xe2\x80\x93 t\xc3\xa4glich mit einem sehr "
            "langen Namen";
    r.output = "Gr\xc3\xbc\xc3\x9f"
               "e \xf0\x9f\x95\x90\n" +
               std::string(1500, 'y') + "\n.dot at the start\nend with space \n";
    sink.deliver(r);

    const auto records = server.records();
    REQUIRE(records.size() == 1);
    const auto host = chime::detail::host_name();
    CHECK(records[0].at("subject") == "[chime] " + r.job + " failed on " + host);
    CHECK(without_carriage_returns(records[0].at("body").get<std::string>()) ==
          mail_sink::body(r, host));
}

TEST_CASE("mail uses STARTTLS with a password file", "[mail_sink][smtp]") {
    certificate tls;
    smtp_server server({"--user", "chime-user", "--password", "pw-from-file", "--cert", tls.cert,
                        "--key", tls.key, "--require-starttls"});
    temporary_directory secrets;
    const auto password_file = secrets.path() / "smtp-password";
    chime::testing::write_file(password_file, "pw-from-file\n");
    ::chmod(password_file.c_str(), 0600);

    auto sink = sink_for(server.url(), {{"username", "chime-user"},
                                        {"password_file", password_file.string()},
                                        {"starttls", "required"},
                                        {"ca_file", tls.cert}});
    sink.deliver(sample_report());

    const auto records = server.records();
    REQUIRE(records.size() == 1);
    CHECK(records[0].at("tls") == true);
    REQUIRE(records[0].at("auth").is_object());
    CHECK(records[0].at("auth").at("user") == "chime-user");
    CHECK(records[0].at("rcpt_tos").size() == 2);
    CHECK_THAT(sink.to_json().dump(), !Catch::Contains("pw-from-file"));
}

TEST_CASE("mail verifies the server certificate", "[mail_sink][smtp]") {
    certificate tls;
    smtp_server server({"--cert", tls.cert, "--key", tls.key, "--require-starttls"});
    auto sink = sink_for(server.url(), {{"starttls", "required"}});
    try {
        sink.deliver(sample_report());
        FAIL("a self-signed certificate was accepted without ca_file");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_PEER_FAILED_VERIFICATION);
        CHECK_THAT(e.what(), Catch::Contains(server.url()));
    }
    CHECK(server.records().empty());
}

TEST_CASE("mail fails when STARTTLS is required but missing", "[mail_sink][smtp]") {
    smtp_server server;
    auto sink = sink_for(server.url(), {{"starttls", "required"}});
    try {
        sink.deliver(sample_report());
        FAIL("mail was sent in plain text although STARTTLS was required");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_USE_SSL_FAILED);
    }
    CHECK(server.records().empty());
}

TEST_CASE("mail to a closed port names the server", "[mail_sink][smtp]") {
    const std::string server = "smtp://127.0.0.1:" + std::to_string(closed_port());
    auto sink = sink_for(server);
    try {
        sink.deliver(sample_report());
        FAIL("delivery to a closed port succeeded");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_COULDNT_CONNECT);
        CHECK_THAT(e.what(), Catch::StartsWith("mail to " + server + " failed: "));
        CHECK_THAT(e.what(), Catch::Contains("(curl code 7)"));
    }
}

TEST_CASE("mail with a wrong password fails without showing it", "[mail_sink][smtp]") {
    smtp_server server({"--user", "chime-user", "--password", "right-password"});
    environment_variable password(password_variable, "wrong-password-value");
    auto sink =
        sink_for(server.url(), {{"username", "chime-user"}, {"password_env", password_variable}});
    try {
        sink.deliver(sample_report());
        FAIL("a wrong password was accepted");
    } catch (const chime::delivery_error& e) {
        CHECK(e.curl_code() == CURLE_LOGIN_DENIED);
        CHECK_THAT(e.what(), !Catch::Contains("wrong-password-value"));
    }
    CHECK(server.records().empty());
}

TEST_CASE("mail names an unset password variable", "[mail_sink]") {
    ::unsetenv("CHIME_TEST_UNSET_PASSWORD");
    auto sink = sink_for("smtp://127.0.0.1:25", {{"username", "chime-user"},
                                                 {"password_env", "CHIME_TEST_UNSET_PASSWORD"}});
    CHECK_THROWS_WITH(sink.deliver(sample_report()),
                      "mail sink: the environment variable CHIME_TEST_UNSET_PASSWORD named by "
                      "\"password_env\" is not set or empty");
}

TEST_CASE("mail names an unreadable password file", "[mail_sink]") {
    auto sink = sink_for("smtp://127.0.0.1:25",
                         {{"username", "chime-user"}, {"password_file", "/nonexistent/pw"}});
    CHECK_THROWS_WITH(sink.deliver(sample_report()),
                      "mail sink: cannot open \"password_file\" /nonexistent/pw: No such file or "
                      "directory");
}

TEST_CASE("mail failures are logged without the password", "[mail_sink][smtp]") {
    smtp_server server({"--user", "chime-user", "--password", "right-password"});
    environment_variable password(password_variable, "wrong-password-in-log-test");
    chime::testing::captured_logger capture("chime-mail-log-test");

    chime::dispatcher_settings settings;
    settings.attempts = 2;
    settings.initial_delay = 1ms;
    settings.max_delay = 1ms;
    settings.logger = capture.logger();
    chime::sink_dispatcher<mail_sink> dispatcher(settings);
    dispatcher.submit(
        sink_for(server.url(), {{"username", "chime-user"}, {"password_env", password_variable}}),
        sample_report());
    REQUIRE(dispatcher.wait_until([](const auto& c) { return c.failed == 1; },
                                  std::chrono::steady_clock::now() + 30s));
    dispatcher.stop(0ms);

    const auto log = capture.text();
    CHECK_THAT(log,
               Catch::Contains("sink delivery failed: job=\"backup\" sink=mail attempt 1 of 2"));
    CHECK_THAT(log,
               Catch::Contains("sink delivery failed: job=\"backup\" sink=mail attempt 2 of 2"));
    CHECK_THAT(log, Catch::Contains("giving up"));
    CHECK_THAT(log, !Catch::Contains("wrong-password-in-log-test"));
}
