// Imports the 24 real crontabs of tests/data/crontabs and compares every
// schedule line with expected.jsonl, which records what cronie does with it.
// A row holds the command, standard input, environment and user, and the
// next three fire times after 2026-01-01T00:00:00Z with crond in UTC. In
// place of the times it holds "macro" for @reboot and "invalid" for a line
// that cronie rejects.
#include <chime/crontab.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

const std::string corpus_dir = CHIME_TEST_DATA_DIR "/crontabs/";
const char* const next_key = "next_utc_from_2026-01-01T00:00:00Z";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct corpus_file {
    std::string name;
    std::vector<json> rows;
    chime::crontab_file parsed;
};

// Every file of expected.jsonl, imported once, in UTC as crond ran for the
// expected fire times.
const std::vector<corpus_file>& corpus() {
    static const std::vector<corpus_file> files = [] {
        std::ifstream in(corpus_dir + "expected.jsonl");
        REQUIRE(in.good());
        std::map<std::string, std::vector<json>> rows_by_file;
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty()) {
                auto row = json::parse(line);
                rows_by_file[row.at("file").get<std::string>()].push_back(row);
            }
        }
        std::vector<corpus_file> result;
        for (auto& [name, rows] : rows_by_file) {
            const auto format = rows.front().at("format") == "system"
                                    ? chime::crontab_format::system
                                    : chime::crontab_format::user;
            result.push_back(
                {name, rows,
                 chime::parse_crontab(read_file(corpus_dir + name), format, chime::zone{})});
        }
        return result;
    }();
    return files;
}

const chime::crontab_entry* find_entry(const chime::crontab_file& file, std::size_t line) {
    for (const auto& entry : file.entries) {
        if (entry.line == line) {
            return &entry;
        }
    }
    return nullptr;
}

const chime::crontab_error* find_error(const chime::crontab_file& file, std::size_t line) {
    for (const auto& error : file.errors) {
        if (error.line == line) {
            return &error;
        }
    }
    return nullptr;
}

bool is_invalid(const json& row) {
    return row.at(next_key) == "invalid";
}

std::map<std::string, std::string> expected_env(const json& row) {
    std::map<std::string, std::string> env;
    for (const auto& [name, value] : row.at("env").items()) {
        env[name] = value.get<std::string>();
    }
    return env;
}

} // namespace

TEST_CASE("corpus has 24 files and 322 rows", "[crontab]") {
    std::size_t rows = 0;
    for (const auto& file : corpus()) {
        rows += file.rows.size();
    }
    CHECK(corpus().size() == 24);
    CHECK(rows == 322);
}

TEST_CASE("corpus import yields one result per row", "[crontab]") {
    std::size_t covered = 0;
    for (const auto& file : corpus()) {
        INFO(file.name);
        // Each row is an entry or an error, and the import finds no other
        // schedule line: comments and environment lines produce nothing.
        CHECK(file.parsed.entries.size() + file.parsed.errors.size() == file.rows.size());
        for (const auto& row : file.rows) {
            const auto line = row.at("line").get<std::size_t>();
            const bool found = is_invalid(row) ? find_error(file.parsed, line) != nullptr
                                               : find_entry(file.parsed, line) != nullptr;
            covered += found ? 1 : 0;
        }
    }
    CHECK(covered == 322);
}

TEST_CASE("corpus invalid lines are errors", "[crontab]") {
    std::size_t invalid = 0;
    for (const auto& file : corpus()) {
        for (const auto& row : file.rows) {
            if (!is_invalid(row)) {
                continue;
            }
            const auto line = row.at("line").get<std::size_t>();
            INFO(file.name << ":" << line);
            ++invalid;
            const auto* error = find_error(file.parsed, line);
            REQUIRE(error != nullptr);
            CHECK_FALSE(error->message.empty());
            CHECK(find_entry(file.parsed, line) == nullptr);
        }
    }
    CHECK(invalid == 6);
}

TEST_CASE("corpus files with bad lines still import the rest", "[crontab]") {
    for (const auto& file : corpus()) {
        std::size_t valid_rows = 0;
        for (const auto& row : file.rows) {
            valid_rows += is_invalid(row) ? 0 : 1;
        }
        INFO(file.name);
        CHECK(file.parsed.entries.size() == valid_rows);
    }
}

TEST_CASE("corpus entries match cronie's reading", "[crontab]") {
    for (const auto& file : corpus()) {
        for (const auto& row : file.rows) {
            if (is_invalid(row)) {
                continue;
            }
            const auto line = row.at("line").get<std::size_t>();
            INFO(file.name << ":" << line);
            const auto* entry = find_entry(file.parsed, line);
            REQUIRE(entry != nullptr);
            CHECK(entry->schedule == row.at("schedule").get<std::string>());
            CHECK(entry->command == row.at("command").get<std::string>());
            if (row.at("user").is_null()) {
                CHECK_FALSE(entry->user.has_value());
            } else {
                REQUIRE(entry->user.has_value());
                CHECK(*entry->user == row.at("user").get<std::string>());
            }
            if (row.at("stdin").is_null()) {
                CHECK_FALSE(entry->standard_input.has_value());
            } else {
                REQUIRE(entry->standard_input.has_value());
                CHECK(*entry->standard_input == row.at("stdin").get<std::string>());
            }
            CHECK(entry->env == expected_env(row));
        }
    }
}

TEST_CASE("corpus fire times match cronie", "[crontab]") {
    const auto from = chime::parse_instant("2026-01-01T00:00:00Z");
    std::size_t checked = 0;
    for (const auto& file : corpus()) {
        for (const auto& row : file.rows) {
            const auto& expected = row.at(next_key);
            if (!expected.is_array()) {
                continue;
            }
            const auto line = row.at("line").get<std::size_t>();
            INFO(file.name << ":" << line << " " << row.at("schedule").get<std::string>());
            const auto* entry = find_entry(file.parsed, line);
            REQUIRE(entry != nullptr);
            CHECK_FALSE(entry->fires_at_start());
            auto t = from;
            for (const auto& text : expected) {
                auto next = entry->trigger.next_after(t);
                REQUIRE(next.has_value());
                CHECK(chime::format_utc(*next) == text.get<std::string>());
                t = *next;
            }
            ++checked;
        }
    }
    CHECK(checked == 312);
}

TEST_CASE("corpus reboot lines fire at start only", "[crontab]") {
    std::size_t reboots = 0;
    for (const auto& file : corpus()) {
        for (const auto& row : file.rows) {
            if (row.at(next_key) != "macro") {
                continue;
            }
            const auto line = row.at("line").get<std::size_t>();
            INFO(file.name << ":" << line);
            const auto* entry = find_entry(file.parsed, line);
            REQUIRE(entry != nullptr);
            CHECK(entry->fires_at_start());
            CHECK_FALSE(entry->trigger.next_after(chime::parse_instant("2026-01-01T00:00:00Z")));
            ++reboots;
        }
    }
    CHECK(reboots == 4);
}

TEST_CASE("corpus CRON_TZ overrides the default zone", "[crontab]") {
    // crond in Berlin still runs the jobs below CRON_TZ=UTC at UTC times.
    const auto text = read_file(corpus_dir + "11-cron-tz-utc.crontab");
    const auto berlin = chime::zone::locate("Europe/Berlin");
    const auto parsed = chime::parse_crontab(text, chime::crontab_format::user, berlin);
    REQUIRE(parsed.entries.size() == 4);
    for (const auto& entry : parsed.entries) {
        INFO("line " << entry.line);
        REQUIRE(entry.cron_tz.has_value());
        CHECK(*entry.cron_tz == "UTC");
        CHECK(entry.trigger.time_zone().name() == "UTC");
    }
    // 0 8 * * * at 08:00 UTC, not 08:00 in Berlin.
    const auto next =
        parsed.entries[1].trigger.next_after(chime::parse_instant("2026-01-01T00:00:00Z"));
    REQUIRE(next.has_value());
    CHECK(chime::format_utc(*next) == "2026-01-01T08:00:00Z");
}

TEST_CASE("corpus lines without CRON_TZ use the default zone", "[crontab]") {
    const auto text = read_file(corpus_dir + "01-debian-etc-crontab.crontab");
    const auto berlin = chime::zone::locate("Europe/Berlin");
    const auto parsed = chime::parse_crontab(text, chime::crontab_format::system, berlin);
    REQUIRE(parsed.entries.size() == 4);
    CHECK_FALSE(parsed.entries[1].cron_tz.has_value());
    // 25 6 * * * at 06:25 in Berlin, which is 05:25 UTC in winter.
    const auto next =
        parsed.entries[1].trigger.next_after(chime::parse_instant("2026-01-01T00:00:00Z"));
    REQUIRE(next.has_value());
    CHECK(chime::format_utc(*next) == "2026-01-01T05:25:00Z");
}
