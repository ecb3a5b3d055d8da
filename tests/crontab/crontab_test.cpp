// The rules of crontab import, one at a time: the '%' rules, environment
// lines, line endings, the system format's user field, macros, and the
// schedules cronie accepts or rejects where chime's own dialect differs.
#include <chime/crontab.hpp>
#include <chime/iso8601.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace {

chime::crontab_file parse_user(std::string_view text) {
    return chime::parse_crontab(text, chime::crontab_format::user, chime::zone{});
}

chime::crontab_file parse_system(std::string_view text) {
    return chime::parse_crontab(text, chime::crontab_format::system, chime::zone{});
}

// The first `count` fire times after 2026-01-01T00:00:00Z, in UTC.
std::vector<std::string> fire_times(const chime::crontab_entry& entry, int count) {
    std::vector<std::string> times;
    auto t = chime::parse_instant("2026-01-01T00:00:00Z");
    for (int i = 0; i < count; ++i) {
        auto next = entry.trigger.next_after(t);
        if (!next) {
            break;
        }
        times.push_back(chime::format_utc(*next));
        t = *next;
    }
    return times;
}

// The message of the error on `line`, or "" when that line has none.
std::string error_on(const chime::crontab_file& file, std::size_t line) {
    for (const auto& error : file.errors) {
        if (error.line == line) {
            return error.message;
        }
    }
    return "";
}

using Catch::Matchers::Contains;

} // namespace

TEST_CASE("escaped percent becomes a percent sign", "[crontab]") {
    auto file = parse_user("0 1 * * * date +\\%F > /tmp/today\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "date +%F > /tmp/today");
    CHECK_FALSE(file.entries[0].standard_input.has_value());
}

TEST_CASE("first unescaped percent starts the input", "[crontab]") {
    auto file = parse_user("0 1 * * * mail -s hi root%line one%line two%\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "mail -s hi root");
    REQUIRE(file.entries[0].standard_input.has_value());
    CHECK(*file.entries[0].standard_input == "line one\nline two\n");
}

TEST_CASE("escaped percent in the input stays a percent", "[crontab]") {
    auto file = parse_user("* * * * * cat%100\\% done%next\n");
    REQUIRE(file.entries.size() == 1);
    REQUIRE(file.entries[0].standard_input.has_value());
    CHECK(*file.entries[0].standard_input == "100% done\nnext");
}

TEST_CASE("double backslash does not escape the percent", "[crontab]") {
    // crond reads "\\" as an escaped backslash, so the '%' after it is bare.
    auto file = parse_user("* * * * * printf '\\\\%s'\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "printf '\\\\");
    REQUIRE(file.entries[0].standard_input.has_value());
    CHECK(*file.entries[0].standard_input == "s'");
}

TEST_CASE("other backslashes stay as written", "[crontab]") {
    auto file = parse_user("* * * * * grep -Eq '^\\s+x\\.' f%a\\b\\\\%c\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "grep -Eq '^\\s+x\\.' f");
    REQUIRE(file.entries[0].standard_input.has_value());
    // In the input a held backslash is written before any character but '%',
    // and "\\" followed by '%' writes one backslash and a percent sign.
    CHECK(*file.entries[0].standard_input == "a\\b\\%c");
}

TEST_CASE("empty input after a final percent", "[crontab]") {
    auto file = parse_user("* * * * * true%\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "true");
    REQUIRE(file.entries[0].standard_input.has_value());
    CHECK(file.entries[0].standard_input->empty());
}

TEST_CASE("cron input bytes end in one newline", "[crontab]") {
    CHECK(chime::cron_input_bytes("a\nb") == "a\nb\n");
    CHECK(chime::cron_input_bytes("a\n") == "a\n");
    CHECK(chime::cron_input_bytes("").empty());
    // A trailing backslash comes from an escape and does not count as the
    // last character, so crond looks at the one before it.
    CHECK(chime::cron_input_bytes("x\\") == "x\\\n");
    CHECK(chime::cron_input_bytes("x\n\\") == "x\n\\");
}

TEST_CASE("environment line forms", "[crontab]") {
    auto file = parse_user("PLAIN=value\n"
                           "SPACED = spaced value  \n"
                           "DOUBLE=\"  quoted value  \"\n"
                           "'SINGLE'='it is'   \n"
                           "EMPTY=\n"
                           "EMPTY_QUOTED=\"\" \n"
                           "\tINDENTED=yes\n"
                           "EQUALS=a=b\n"
                           "0 1 * * * run\n");
    REQUIRE(file.errors.empty());
    REQUIRE(file.entries.size() == 1);
    const auto& env = file.entries[0].env;
    CHECK(env.at("PLAIN") == "value");
    CHECK(env.at("SPACED") == "spaced value");
    CHECK(env.at("DOUBLE") == "  quoted value  ");
    CHECK(env.at("SINGLE") == "it is");
    CHECK(env.at("EMPTY").empty());
    CHECK(env.at("EMPTY_QUOTED").empty());
    CHECK(env.at("INDENTED") == "yes");
    CHECK(env.at("EQUALS") == "a=b");
    CHECK(env.size() == 8);
}

TEST_CASE("text after a quoted value is not an environment line", "[crontab]") {
    auto file = parse_user("NAME=\"a\" b\nOPEN=\"never closed\n0 1 * * * run\n");
    CHECK_THAT(error_on(file, 1), Contains("minute"));
    CHECK_THAT(error_on(file, 2), Contains("minute"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].env.empty());
}

TEST_CASE("environment applies to the lines below it", "[crontab]") {
    auto file = parse_user("MAILTO=a@example.org\n"
                           "0 1 * * * first\n"
                           "MAILTO=b@example.org\n"
                           "0 2 * * * second\n");
    REQUIRE(file.entries.size() == 2);
    CHECK(file.entries[0].env.at("MAILTO") == "a@example.org");
    CHECK(file.entries[1].env.at("MAILTO") == "b@example.org");
}

TEST_CASE("environment line with an empty name is an error", "[crontab]") {
    auto file = parse_user("=value\n0 1 * * * run\n");
    CHECK_THAT(error_on(file, 1), Contains("empty name"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].env.empty());
}

TEST_CASE("CRLF lines keep the carriage return in the command", "[crontab]") {
    auto file = parse_user("SHELL=/bin/bash\r\nMAILTO=\"\"\r\n# comment\r\n0 1 * * * run &\r\n");
    REQUIRE(file.errors.empty());
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "run &\r");
    CHECK(file.entries[0].env.at("SHELL") == "/bin/bash");
    CHECK(file.entries[0].env.at("MAILTO").empty());
}

TEST_CASE("CRLF empty line is an error naming the line ending", "[crontab]") {
    // crond skips only lines that are empty or blanks; "\r" is neither.
    auto file = parse_user("0 1 * * * run\r\n\r\n0 2 * * 1\r\n");
    CHECK_THAT(error_on(file, 2), Contains("CRLF"));
    CHECK_THAT(error_on(file, 3), Contains("day-of-week"));
    CHECK(file.entries.size() == 1);
}

TEST_CASE("last line without newline is an error", "[crontab]") {
    auto file = parse_user("0 1 * * * first\n0 2 * * * second");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 1);
    REQUIRE(file.errors.size() == 1);
    CHECK(file.errors[0].line == 2);
    CHECK_THAT(file.errors[0].message, Contains("no newline"));
    CHECK_THAT(file.errors[0].message, Contains("second"));
}

TEST_CASE("last environment line without newline is an error", "[crontab]") {
    auto file = parse_user("0 1 * * * first\nMAILTO=root");
    CHECK_THAT(error_on(file, 2), Contains("no newline"));
}

TEST_CASE("last comment without newline is fine", "[crontab]") {
    auto file = parse_user("0 1 * * * first\n# the end");
    CHECK(file.errors.empty());
    CHECK(file.entries.size() == 1);
}

TEST_CASE("blank lines and comments produce nothing", "[crontab]") {
    auto file = parse_user("\n   \n\t\n# comment\n   # indented comment\n0 1 * * * run\n\n");
    CHECK(file.errors.empty());
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 6);
}

TEST_CASE("tabs separate fields and stay in commands", "[crontab]") {
    auto file = parse_user("\t*/5\t*\t* * *\t/usr/bin/php\t/var/www/cron.php\t\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].schedule == "*/5 * * * *");
    CHECK(file.entries[0].command == "/usr/bin/php\t/var/www/cron.php\t");
}

TEST_CASE("system format reads the user field", "[crontab]") {
    auto file = parse_system("17 * * * *\troot\t  cd / && run-parts /etc/cron.hourly\n");
    REQUIRE(file.entries.size() == 1);
    REQUIRE(file.entries[0].user.has_value());
    CHECK(*file.entries[0].user == "root");
    CHECK(file.entries[0].command == "cd / && run-parts /etc/cron.hourly");
}

TEST_CASE("system format with the user field missing", "[crontab]") {
    auto file = parse_system("0 1 * * * root\n"
                             "0 2 * * * /usr/bin/backup.sh --full\n"
                             "0 3 * * * /usr/bin/backup.sh\n"
                             "0 4 * * * www-data /usr/bin/ok.sh\n");
    CHECK_THAT(error_on(file, 1), Contains("missing command after the user \"root\""));
    CHECK_THAT(error_on(file, 2), Contains("\"/usr/bin/backup.sh\" is not a user name"));
    CHECK_THAT(error_on(file, 3), Contains("is not a user name"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 4);
}

TEST_CASE("user format keeps a stray user in the command", "[crontab]") {
    auto file = parse_user("15 0 * * * www-data /opt/update.pl\n");
    REQUIRE(file.entries.size() == 1);
    CHECK_FALSE(file.entries[0].user.has_value());
    CHECK(file.entries[0].command == "www-data /opt/update.pl");
}

TEST_CASE("reboot fires at start only", "[crontab]") {
    auto file = parse_user("@reboot sleep 30; mount /tmp\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].schedule == "@reboot");
    CHECK(file.entries[0].fires_at_start());
    CHECK(fire_times(file.entries[0], 1).empty());
}

TEST_CASE("macros expand as in cronie", "[crontab]") {
    auto file = parse_user("@yearly a\n@annually b\n@monthly c\n@weekly d\n"
                           "@daily e\n@midnight f\n@hourly g\n");
    REQUIRE(file.entries.size() == 7);
    CHECK(fire_times(file.entries[0], 1) == std::vector<std::string>{"2027-01-01T00:00:00Z"});
    CHECK(fire_times(file.entries[1], 1) == std::vector<std::string>{"2027-01-01T00:00:00Z"});
    CHECK(fire_times(file.entries[2], 1) == std::vector<std::string>{"2026-02-01T00:00:00Z"});
    CHECK(fire_times(file.entries[3], 1) == std::vector<std::string>{"2026-01-04T00:00:00Z"});
    CHECK(fire_times(file.entries[4], 1) == std::vector<std::string>{"2026-01-02T00:00:00Z"});
    CHECK(fire_times(file.entries[5], 1) == std::vector<std::string>{"2026-01-02T00:00:00Z"});
    CHECK(fire_times(file.entries[6], 1) == std::vector<std::string>{"2026-01-01T01:00:00Z"});
}

TEST_CASE("macro errors", "[crontab]") {
    auto file = parse_user("@Daily upper case\n@daily\n@hourly * star\n@weekdays x\n@daily ok\n");
    CHECK_THAT(error_on(file, 1), Contains("\"@Daily\""));
    CHECK_THAT(error_on(file, 2), Contains("missing command after @daily"));
    CHECK_THAT(error_on(file, 3), Contains("\"*\" after @hourly"));
    CHECK_THAT(error_on(file, 4), Contains("unknown schedule \"@weekdays\""));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 5);
}

TEST_CASE("forms cronie rejects are errors", "[crontab]") {
    // Each of these is valid in chime's own dialect.
    auto file = parse_user("5/15 * * * * step after a value\n"
                           "0 22-2 * * * wrapping range\n"
                           "0 0 ? * MON question mark\n"
                           "0 0 L * * last day\n"
                           "0 0 15W * * nearest weekday\n"
                           "0 0 * * MON#1 nth weekday\n"
                           "0 0 * * 5L last friday\n"
                           "0 0 * January * full month name\n"
                           "0 0 * * * * six fields\n"
                           "0 0 1 * * ok\n");
    CHECK_THAT(error_on(file, 1), Contains("step after a single value"));
    CHECK_THAT(error_on(file, 1), Contains("5-59/15"));
    CHECK_THAT(error_on(file, 2), Contains("range \"22-2\" goes backwards"));
    CHECK_THAT(error_on(file, 3), Contains("day-of-month \"?\": unexpected '?'"));
    CHECK_THAT(error_on(file, 4), Contains("day-of-month \"L\""));
    CHECK_THAT(error_on(file, 5), Contains("day-of-month \"15W\""));
    CHECK_THAT(error_on(file, 6), Contains("day-of-week \"MON#1\""));
    CHECK_THAT(error_on(file, 7), Contains("day-of-week \"5L\""));
    CHECK_THAT(error_on(file, 8), Contains("\"January\" is not a month name"));
    CHECK_THAT(error_on(file, 9), Contains("\"*\" after the five time fields"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 10);
}

TEST_CASE("field errors name the field and value", "[crontab]") {
    auto file = parse_user("0 30 * * * php considergods.php\n"
                           "60 * * * * x\n"
                           "0 0 0 * * x\n"
                           "0 0 * 13 * x\n"
                           "0 0 * * 8 x\n"
                           "*/0 * * * * x\n"
                           "1,,2 * * * * x\n"
                           "0 0 * *\n");
    CHECK_THAT(error_on(file, 1), Contains("hour \"30\": 30 is outside 0-23"));
    CHECK_THAT(error_on(file, 1), Contains("0 30 * * * php considergods.php"));
    CHECK_THAT(error_on(file, 2), Contains("60 is outside 0-59"));
    CHECK_THAT(error_on(file, 3), Contains("0 is outside 1-31"));
    CHECK_THAT(error_on(file, 4), Contains("13 is outside 1-12"));
    CHECK_THAT(error_on(file, 5), Contains("8 is outside 0-7"));
    CHECK_THAT(error_on(file, 6), Contains("step 0 is invalid"));
    CHECK_THAT(error_on(file, 7), Contains("empty list element"));
    CHECK_THAT(error_on(file, 8), Contains("day-of-week is missing"));
    CHECK(file.entries.empty());
}

TEST_CASE("forms cronie accepts and chime rewrites", "[crontab]") {
    auto file = parse_user("*x * * * * garbage after a star\n"
                           "0-65/100 3 * * * range end never reached\n"
                           "0000000005 4 * * * long number\n");
    REQUIRE(file.errors.empty());
    REQUIRE(file.entries.size() == 3);
    CHECK(file.entries[0].schedule == "*x * * * *");
    CHECK(fire_times(file.entries[0], 2) ==
          std::vector<std::string>{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"});
    CHECK(fire_times(file.entries[1], 2) ==
          std::vector<std::string>{"2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"});
    CHECK(fire_times(file.entries[2], 1) == std::vector<std::string>{"2026-01-01T04:05:00Z"});
}

TEST_CASE("names, Sunday 7 and leading zeros", "[crontab]") {
    auto file = parse_user("0 0 5 jan * a\n"
                           "05 01 * * sun-tue b\n"
                           "0 12 * * 4-7 c\n"
                           "0 12 * * 7 d\n");
    REQUIRE(file.errors.empty());
    REQUIRE(file.entries.size() == 4);
    CHECK(fire_times(file.entries[0], 1) == std::vector<std::string>{"2026-01-05T00:00:00Z"});
    // 2026-01-01 is a Thursday.
    CHECK(fire_times(file.entries[1], 2) ==
          std::vector<std::string>{"2026-01-04T01:05:00Z", "2026-01-05T01:05:00Z"});
    CHECK(fire_times(file.entries[2], 4) ==
          std::vector<std::string>{"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z",
                                   "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z"});
    CHECK(fire_times(file.entries[3], 1) == std::vector<std::string>{"2026-01-04T12:00:00Z"});
}

TEST_CASE("both day fields restricted match either", "[crontab]") {
    // Days 1-7 of the month, and every Monday.
    auto file = parse_user("58 5 1-7 * 1 first-monday\n");
    REQUIRE(file.entries.size() == 1);
    auto times = fire_times(file.entries[0], 9);
    REQUIRE(times.size() == 9);
    CHECK(times[6] == "2026-01-07T05:58:00Z");
    CHECK(times[7] == "2026-01-12T05:58:00Z");
    CHECK(times[8] == "2026-01-19T05:58:00Z");
}

TEST_CASE("CRON_TZ sets the zone of the lines below", "[crontab]") {
    auto file = parse_user("0 9 * * * before\n"
                           "CRON_TZ=America/New_York\n"
                           "0 9 * * * after\n"
                           "CRON_TZ=\n"
                           "0 9 * * * reset\n");
    REQUIRE(file.entries.size() == 3);
    CHECK_FALSE(file.entries[0].cron_tz.has_value());
    REQUIRE(file.entries[1].cron_tz.has_value());
    CHECK(*file.entries[1].cron_tz == "America/New_York");
    CHECK_FALSE(file.entries[2].cron_tz.has_value());
    CHECK(fire_times(file.entries[0], 1) == std::vector<std::string>{"2026-01-01T09:00:00Z"});
    CHECK(fire_times(file.entries[1], 1) == std::vector<std::string>{"2026-01-01T14:00:00Z"});
    CHECK(fire_times(file.entries[2], 1) == std::vector<std::string>{"2026-01-01T09:00:00Z"});
}

TEST_CASE("unknown CRON_TZ is an error on each line it governs", "[crontab]") {
    auto file = parse_user("CRON_TZ=Mars/Olympus\n0 1 * * * a\n0 2 * * * b\n");
    CHECK(file.entries.empty());
    CHECK_THAT(error_on(file, 2), Contains("unknown CRON_TZ \"Mars/Olympus\" (set on line 1)"));
    CHECK_THAT(error_on(file, 3), Contains("Mars/Olympus"));
}

TEST_CASE("TZ does not change the schedule's zone", "[crontab]") {
    // cronie reads schedules in CRON_TZ only; TZ reaches the command alone.
    auto file = parse_user("TZ=Asia/Tokyo\n0 9 * * * run\n");
    REQUIRE(file.entries.size() == 1);
    CHECK_FALSE(file.entries[0].cron_tz.has_value());
    CHECK(file.entries[0].env.at("TZ") == "Asia/Tokyo");
    CHECK(fire_times(file.entries[0], 1) == std::vector<std::string>{"2026-01-01T09:00:00Z"});
}

TEST_CASE("leading dash is accepted", "[crontab]") {
    // crond's flag for "do not log this job"; chime keeps no such flag.
    auto file = parse_user("-*/10 * * * * quiet\n");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].schedule == "*/10 * * * *");
    CHECK(file.entries[0].command == "quiet");
}

TEST_CASE("invalid UTF-8 line is an error", "[crontab]") {
    auto file = parse_user("0 1 * * * echo caf\xe9\n0 2 * * * echo caf\xc3\xa9\n");
    CHECK_THAT(error_on(file, 1), Contains("UTF-8"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].command == "echo caf\xc3\xa9");
}

TEST_CASE("errors never stop the import", "[crontab]") {
    auto file = parse_user("bad line one\n0 1 * * * good\n99 * * * * bad\n@reboot good\nx\n");
    CHECK(file.errors.size() == 3);
    REQUIRE(file.entries.size() == 2);
    CHECK(file.entries[0].line == 2);
    CHECK(file.entries[1].line == 4);
}

TEST_CASE("error messages escape control characters", "[crontab]") {
    auto file = parse_user("0 1 * * \x1b[31m x\n");
    REQUIRE(file.errors.size() == 1);
    CHECK(file.errors[0].message.find('\x1b') == std::string::npos);
    CHECK_THAT(file.errors[0].message, Contains("\\x1b"));
}

TEST_CASE("crontab format from the path", "[crontab]") {
    CHECK(chime::crontab_format_of("/etc/crontab") == chime::crontab_format::system);
    CHECK(chime::crontab_format_of("/etc/cron.d/backup") == chime::crontab_format::system);
    CHECK(chime::crontab_format_of("/etc/cron.d/") == chime::crontab_format::user);
    CHECK(chime::crontab_format_of("/etc/cron.d/sub/file") == chime::crontab_format::user);
    CHECK(chime::crontab_format_of("/var/spool/cron/crontabs/root") == chime::crontab_format::user);
    CHECK(chime::crontab_format_of("crontab") == chime::crontab_format::user);
}

TEST_CASE("trigger expression after rewriting", "[crontab]") {
    struct rewrite_case {
        const char* line;
        const char* expression;
    };
    const rewrite_case cases[] = {
        {"*/15 9-17 * * mon-fri/2 x\n", "*/15 9-17 * * mon-fri/2"},
        {"00 06  * JAN,jul 0,7 x\n", "00 06 * JAN,jul 0,7"},
        {"*x */2 * * * x\n", "* */2 * * *"},
        {"*-5,7 * * * * x\n", "* * * * *"},
        {"0-65/100 * * * * x\n", "0-0/100 * * * *"},
        {"50-99/50 * * * * x\n", "50-50/50 * * * *"},
        {"0000000005 * * * * x\n", "5 * * * *"},
        {"*/0000000000007 * * * * x\n", "*/7 * * * *"},
        {"*/0000000000099 * * * * x\n", "*/60 * * * *"},
        {"1-0000000000003 * * * * x\n", "1-3 * * * *"},
        {"@weekly x\n", "@weekly"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        auto file = parse_user(c.line);
        REQUIRE(file.entries.size() == 1);
        CHECK(file.entries[0].trigger.expression().text() == c.expression);
    }
}

TEST_CASE("empty command before percent is an error", "[crontab]") {
    auto file = parse_user("* * * * * %input only\n");
    CHECK_THAT(error_on(file, 1), Contains("empty command"));
    CHECK(file.entries.empty());
}

TEST_CASE("line with a NUL byte is an error", "[crontab]") {
    using namespace std::string_view_literals;
    auto file = parse_user("0 1 * * * echo a\0b\n0 2 * * * ok\n"sv);
    CHECK_THAT(error_on(file, 1), Contains("NUL"));
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].line == 2);
}
