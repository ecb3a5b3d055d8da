// The chime job JSON that crontab import writes for each entry: the cron
// trigger, the shell task and the mail sink.
#include <chime/cron.hpp>
#include <chime/crontab.hpp>
#include <chime/iso8601.hpp>
#include <chime/process/shell_task.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

namespace {

using nlohmann::json;

json only_job(std::string_view text, chime::crontab_format format = chime::crontab_format::user) {
    auto file = chime::parse_crontab(text, format, chime::zone{});
    REQUIRE(file.errors.empty());
    REQUIRE(file.entries.size() == 1);
    return chime::crontab_job(file.entries[0], "backup");
}

} // namespace

TEST_CASE("job name is file stem and line", "[crontab]") {
    auto job = only_job("# header\n\n0 1 * * * run\n");
    CHECK(job.at("name") == "backup:3");
}

TEST_CASE("job trigger is the cron trigger without a zone", "[crontab]") {
    auto job = only_job("30 2 * * 1-5 run\n");
    const auto& trigger = job.at("trigger");
    CHECK(trigger.at("kind") == "cron");
    CHECK(trigger.at("expr") == "30 2 * * 1-5");
    CHECK(trigger.at("dst") == "cronie");
    // No "tz": the job follows the daemon's local zone, as cron does.
    CHECK_FALSE(trigger.contains("tz"));
}

TEST_CASE("job trigger has the CRON_TZ zone", "[crontab]") {
    auto job = only_job("CRON_TZ=Europe/Berlin\n30 2 * * * run\n");
    CHECK(job.at("trigger").at("tz") == "Europe/Berlin");
}

TEST_CASE("job trigger reads back with the same fire times", "[crontab]") {
    auto file = chime::parse_crontab("CRON_TZ=America/New_York\n*/20 9-17 * * mon-fri run\n",
                                     chime::crontab_format::user, chime::zone{});
    REQUIRE(file.entries.size() == 1);
    auto job = chime::crontab_job(file.entries[0], "office");
    auto trigger = chime::cron_trigger::from_json(job.at("trigger"));
    auto t = chime::parse_instant("2026-01-01T00:00:00Z");
    for (int i = 0; i < 5; ++i) {
        auto expected = file.entries[0].trigger.next_after(t);
        auto actual = trigger.next_after(t);
        REQUIRE(expected.has_value());
        REQUIRE(actual.has_value());
        CHECK(*actual == *expected);
        t = *expected;
    }
}

TEST_CASE("job trigger for reboot", "[crontab]") {
    auto job = only_job("@reboot mount /tmp\n");
    CHECK(job.at("trigger").at("expr") == "@reboot");
    CHECK(chime::cron_trigger::from_json(job.at("trigger")).fires_at_start());
}

TEST_CASE("job task runs the command in the shell", "[crontab]") {
    auto job = only_job("0 1 * * * cd / && run-parts --report /etc/cron.daily\n");
    const auto& task = job.at("task");
    CHECK(task.at("kind") == "shell");
    CHECK(task.at("command") == "cd / && run-parts --report /etc/cron.daily");
    CHECK(task.at("shell") == "/bin/sh");
    CHECK(task.at("env") == json::object());
    CHECK_FALSE(task.contains("stdin"));
    CHECK_FALSE(task.contains("cwd"));
    CHECK_FALSE(task.contains("user"));
}

TEST_CASE("job task takes SHELL, HOME and the environment", "[crontab]") {
    auto job = only_job("SHELL=/bin/bash\nHOME=/srv/app\nAPP_ENV=production\n0 1 * * * ./run\n");
    const auto& task = job.at("task");
    CHECK(task.at("shell") == "/bin/bash");
    CHECK(task.at("cwd") == "/srv/app");
    CHECK(task.at("env") ==
          json{{"SHELL", "/bin/bash"}, {"HOME", "/srv/app"}, {"APP_ENV", "production"}});
}

TEST_CASE("job task with empty SHELL or relative HOME", "[crontab]") {
    auto job = only_job("SHELL=\nHOME=srv\n0 1 * * * run\n");
    CHECK(job.at("task").at("shell") == "/bin/sh");
    CHECK_FALSE(job.at("task").contains("cwd"));
    CHECK(job.at("task").at("env").at("HOME") == "srv");
}

TEST_CASE("job task stdin ends with cron's newline", "[crontab]") {
    auto job = only_job("0 1 * * * mail -s report root%all good%bye\n");
    CHECK(job.at("task").at("command") == "mail -s report root");
    CHECK(job.at("task").at("stdin") == "all good\nbye\n");
}

TEST_CASE("job task user in system format", "[crontab]") {
    auto job = only_job("0 1 * * * nagios /usr/lib/nagios/check\n", chime::crontab_format::system);
    CHECK(job.at("task").at("user") == "nagios");
    CHECK(job.at("task").at("command") == "/usr/lib/nagios/check");
}

TEST_CASE("job mails output to MAILTO recipients", "[crontab]") {
    auto job = only_job("MAILTO=root@example.org,ops@example.com\n0 1 * * * run\n");
    REQUIRE(job.contains("sinks"));
    REQUIRE(job.at("sinks").size() == 2);
    CHECK(job.at("sinks")[0] == json{{"kind", "history"}});
    const auto& sink = job.at("sinks")[1];
    CHECK(sink.at("kind") == "mail");
    CHECK(sink.at("when") == "non_empty");
    CHECK(sink.at("to") == json{"root@example.org", "ops@example.com"});
    CHECK_FALSE(sink.contains("from"));
}

TEST_CASE("job mail sender from MAILFROM", "[crontab]") {
    auto job = only_job("MAILTO=root\nMAILFROM=cron@example.org\n0 1 * * * run\n");
    CHECK(job.at("sinks")[1].at("from") == "cron@example.org");
}

TEST_CASE("job has no sink without a usable MAILTO", "[crontab]") {
    CHECK_FALSE(only_job("0 1 * * * run\n").contains("sinks"));
    CHECK_FALSE(only_job("MAILTO=\"\"\n0 1 * * * run\n").contains("sinks"));
    // crond refuses to hand a value with a blank to the mailer.
    CHECK_FALSE(
        only_job("MAILTO=\"a@example.org b@example.org\"\n0 1 * * * run\n").contains("sinks"));
    CHECK_FALSE(only_job("MAILTO=-oQ/tmp\n0 1 * * * run\n").contains("sinks"));
}

TEST_CASE("mail recipients skip empty parts", "[crontab]") {
    auto file = chime::parse_crontab("MAILTO=a@example.org,,b@example.org,\n0 1 * * * run\n",
                                     chime::crontab_format::user, chime::zone{});
    REQUIRE(file.entries.size() == 1);
    CHECK(chime::mail_recipients(file.entries[0]) ==
          std::vector<std::string>{"a@example.org", "b@example.org"});
}

TEST_CASE("jobs for a corpus file", "[crontab]") {
    std::ifstream in(CHIME_TEST_DATA_DIR "/crontabs/24-mirrorlogs-cron-d.crontab",
                     std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream text;
    text << in.rdbuf();
    auto file = chime::parse_crontab(text.str(), chime::crontab_format::system, chime::zone{});
    auto jobs = chime::crontab_jobs(file, "24-mirrorlogs-cron-d");
    // Line 3 has no final newline, so crond drops it: one job.
    REQUIRE(jobs.size() == 1);
    const auto& job = jobs[0];
    CHECK(job.at("name") == "24-mirrorlogs-cron-d:2");
    CHECK(job.at("trigger").at("expr") == "0 06 * * *");
    CHECK(job.at("task").at("user") == "root");
    CHECK(job.at("task").at("command") == "/usr/local/bin/condense-mirrorlogs.sh > /dev/null");
    CHECK(job.at("sinks")[1].at("to") ==
          json{"root@example.org", "user1@example.com", "user2@example.com"});
    // The JSON is valid UTF-8 text.
    CHECK_NOTHROW(jobs.dump());
}

TEST_CASE("corpus jobs read back as trigger and task", "[crontab]") {
    const std::string dir = CHIME_TEST_DATA_DIR "/crontabs/";
    const char* const system_files[] = {
        "01-debian-etc-crontab.crontab", "02-home-server-cron-d.crontab",
        "03-zfsutils-cron-d.crontab",    "15-minecraft-etc-crontab.crontab",
        "16-mdadm-cron-d.crontab",       "17-nagios-cron-d.crontab",
        "24-mirrorlogs-cron-d.crontab"};
    std::ifstream list(dir + "expected.jsonl");
    REQUIRE(list.good());
    std::set<std::string> names;
    std::string row;
    while (std::getline(list, row)) {
        names.insert(json::parse(row).at("file").get<std::string>());
    }
    REQUIRE(names.size() == 24);

    std::size_t jobs_read = 0;
    for (const auto& name : names) {
        std::ifstream in(dir + name, std::ios::binary);
        REQUIRE(in.good());
        std::ostringstream text;
        text << in.rdbuf();
        auto format = chime::crontab_format::user;
        for (const char* system_file : system_files) {
            if (name == system_file) {
                format = chime::crontab_format::system;
            }
        }
        auto file = chime::parse_crontab(text.str(), format, chime::zone{});
        auto stem = name.substr(0, name.rfind('.'));
        for (const auto& job : chime::crontab_jobs(file, stem)) {
            INFO(job.at("name").get<std::string>());
            CHECK_NOTHROW(chime::cron_trigger::from_json(job.at("trigger")));
            CHECK_NOTHROW(chime::shell_task::from_json(job.at("task")));
            CHECK_NOTHROW(job.dump());
            ++jobs_read;
        }
    }
    CHECK(jobs_read == 316);
}
