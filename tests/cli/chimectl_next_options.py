#!/usr/bin/env python3
"""Check the options, messages and exit statuses of `chimectl next`.

Usage: chimectl_next_options.py CHIMECTL

The --explain lines around the 2025 DST transitions in Europe/Berlin were
worked out by hand. On 2025-03-30 the clocks jump from 02:00 CET (+01:00) to
03:00 CEST (+02:00). On 2025-10-26 they fall back from 03:00 CEST to
02:00 CET, so 02:00-02:59 occurs twice.
"""

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_check  # noqa: E402

BERLIN = ["--tz", "Europe/Berlin"]
SPRING = "2025-03-30T00:00:00Z"  # 01:00 CET, an hour before the jump
AUTUMN = "2025-10-26T00:00:00Z"  # 02:00 CEST, an hour before the clocks fall back

# (expression, --dst policy or None for the default, --from, expected lines)
EXPLAIN_CASES = [
    # A fixed-time job: cronie runs the missing 02:30 once after the jump,
    # skip and every_instant drop it.
    ("30 2 * * *", None, "2025-03-29T00:00:00Z", [
        "2025-03-29T02:30:00+01:00",
        "2025-03-30T03:00:00+02:00  (02:30 does not exist; ran after the jump)",
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
    ]),
    ("30 2 * * *", "skip", "2025-03-29T00:00:00Z", [
        "2025-03-29T02:30:00+01:00",
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
        "2025-04-02T02:30:00+02:00",
    ]),
    ("30 2 * * *", "every_instant", "2025-03-29T00:00:00Z", [
        "2025-03-29T02:30:00+01:00",
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
        "2025-04-02T02:30:00+02:00",
    ]),
    # In autumn a fixed-time job runs at the first 02:30 only, except under
    # every_instant, which runs at both.
    ("30 2 * * *", None, "2025-10-25T00:00:00Z", [
        "2025-10-25T02:30:00+02:00",
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; runs at the first only)",
        "2025-10-27T02:30:00+01:00",
    ]),
    ("30 2 * * *", "skip", "2025-10-25T00:00:00Z", [
        "2025-10-25T02:30:00+02:00",
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; runs at the first only)",
        "2025-10-27T02:30:00+01:00",
    ]),
    ("30 2 * * *", "every_instant", "2025-10-25T00:00:00Z", [
        "2025-10-25T02:30:00+02:00",
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; first of two runs)",
        "2025-10-26T02:30:00+01:00  (02:30 occurs twice; second of two runs)",
        "2025-10-27T02:30:00+01:00",
    ]),
    # A job with a wildcard hour follows the wall clock under every policy in
    # spring: 02:00 and 02:30 do not exist, and nothing is moved.
    ("*/30 * * * *", None, SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:00:00+02:00",
    ]),
    ("*/30 * * * *", "skip", SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:00:00+02:00",
    ]),
    ("*/30 * * * *", "every_instant", SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:00:00+02:00",
    ]),
    # In autumn cronie and every_instant run it in both 02:xx hours; skip
    # runs the first hour only.
    ("*/30 * * * *", None, AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; first of two runs)",
        "2025-10-26T02:00:00+01:00  (02:00 occurs twice; second of two runs)",
        "2025-10-26T02:30:00+01:00  (02:30 occurs twice; second of two runs)",
        "2025-10-26T03:00:00+01:00",
        "2025-10-26T03:30:00+01:00",
    ]),
    ("*/30 * * * *", "skip", AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; runs at the first only)",
        "2025-10-26T03:00:00+01:00",
        "2025-10-26T03:30:00+01:00",
        "2025-10-26T04:00:00+01:00",
    ]),
    ("*/30 * * * *", "every_instant", AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; first of two runs)",
        "2025-10-26T02:00:00+01:00  (02:00 occurs twice; second of two runs)",
        "2025-10-26T02:30:00+01:00  (02:30 occurs twice; second of two runs)",
        "2025-10-26T03:00:00+01:00",
        "2025-10-26T03:30:00+01:00",
    ]),
    ("30 * * * *", None, SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:30:00+02:00",
    ]),
    ("30 * * * *", "skip", SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:30:00+02:00",
    ]),
    ("30 * * * *", "every_instant", SPRING, [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:30:00+02:00",
        "2025-03-30T04:30:00+02:00",
    ]),
    ("30 * * * *", None, AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; first of two runs)",
        "2025-10-26T02:30:00+01:00  (02:30 occurs twice; second of two runs)",
        "2025-10-26T03:30:00+01:00",
        "2025-10-26T04:30:00+01:00",
    ]),
    ("30 * * * *", "skip", AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; runs at the first only)",
        "2025-10-26T03:30:00+01:00",
        "2025-10-26T04:30:00+01:00",
        "2025-10-26T05:30:00+01:00",
    ]),
    ("30 * * * *", "every_instant", AUTUMN, [
        "2025-10-26T02:30:00+02:00  (02:30 occurs twice; first of two runs)",
        "2025-10-26T02:30:00+01:00  (02:30 occurs twice; second of two runs)",
        "2025-10-26T03:30:00+01:00",
        "2025-10-26T04:30:00+01:00",
    ]),
]


def check_explain(checker, chimectl):
    for expression, policy, start, expected in EXPLAIN_CASES:
        argv = [chimectl, "next", *BERLIN, "--from", start, "--count", str(len(expected))]
        if policy:
            argv += ["--dst", policy]
        argv += ["--explain", expression]
        name = f"explain {expression!r} --dst {policy or 'cronie'} from {start}"
        checker.check_lines(name, cli_check.run(argv), expected)

        # Without --explain the same instants come without the reasons.
        plain = [line.split("  (")[0] for line in expected]
        argv.remove("--explain")
        checker.check_lines(f"{name} without --explain", cli_check.run(argv), plain)


def check_invalid_input(checker, chimectl):
    def usage_error(name, arguments, *fragments):
        checker.check_usage_error(name, cli_check.run([chimectl, *arguments]), *fragments)

    usage_error("invalid expression", ["next", "--tz", "UTC", "61 * * * *"], "minute", "61")
    usage_error("unknown macro", ["next", "--tz", "UTC", "@fortnightly"], "@fortnightly")
    usage_error("unknown zone", ["next", "--tz", "Mars/Olympus", "* * * * *"], "Mars/Olympus")
    usage_error("unknown DST policy", ["next", "--dst", "bogus", "* * * * *"], "bogus")
    usage_error("invalid --from", ["next", "--from", "yesterday", "* * * * *"],
                "--from", "yesterday")
    usage_error("invalid --until date", ["next", "--until", "2025-02-30T00:00:00Z", "* * * * *"],
                "--until", "2025-02-30T00:00:00Z")
    for count in ["0", "-3", "abc", "1.5", ""]:
        usage_error(f"--count {count!r}", ["next", "--count", count, "* * * * *"],
                    "--count", f'"{count}"')
    usage_error("--count too large", ["next", "--count", "99999999999999999999", "* * * * *"],
                "--count", "too large")
    usage_error("unknown option", ["next", "--frobnicate", "* * * * *"], "--frobnicate")
    usage_error("unknown short option", ["next", "-x", "* * * * *"], "-x")
    usage_error("missing EXPR", ["next", "--tz", "UTC"], "EXPR")
    usage_error("unquoted EXPR", ["next", "--tz", "UTC", "30", "2", "*", "*", "*"], "quote")
    usage_error("option without value", ["next", "* * * * *", "--from"], "--from", "value")
    usage_error("option value forgotten", ["next", "--from", "--count", "2", "* * * * *"],
                "--from", "value")
    usage_error("option twice", ["next", "--tz", "UTC", "--tz=UTC", "* * * * *"], "--tz", "twice")
    usage_error("--explain with a value", ["next", "--explain=yes", "* * * * *"], "--explain")
    usage_error("--until not after --from",
                ["next", "--tz", "UTC", "--from", "2025-01-02T00:00:00Z",
                 "--until", "2025-01-01T00:00:00Z", "* * * * *"], "--until")
    usage_error("--until within the --from second",
                ["next", "--tz", "UTC", "--from", "2025-01-01T00:00:00.2Z",
                 "--until", "2025-01-01T00:00:00.7Z", "* * * * *"], "--until")
    usage_error("local --from that does not exist",
                ["next", *BERLIN, "--from", "2025-03-30T02:30:00", "* * * * *"],
                "2025-03-30T02:30:00", "does not exist")
    usage_error("local --from that occurs twice",
                ["next", *BERLIN, "--from", "2025-10-26T02:30:00", "* * * * *"],
                "2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00")

    cron_json = '{"kind":"cron","expr":"30 2 * * *"}'
    usage_error("--tz with --json", ["next", "--tz", "UTC", "--json", cron_json], "--tz", "--json")
    usage_error("--dst with --json", ["next", "--json", cron_json, "--dst", "skip"], "--dst")
    usage_error("EXPR with --json", ["next", "--json", cron_json, "* * * * *"], "* * * * *")
    usage_error("invalid JSON", ["next", "--json", '{"kind":"cron"'], "--json", "invalid JSON")
    usage_error("JSON not an object", ["next", "--json", "[1, 2]"], "object")
    usage_error("unknown trigger kind", ["next", "--json", '{"kind":"sundial"}'], "sundial")
    usage_error("invalid expression in JSON",
                ["next", "--json", '{"kind":"cron","expr":"0 25 * * *"}'], "hour", "25")
    usage_error("unknown zone in JSON",
                ["next", "--json", '{"kind":"cron","expr":"* * * * *","tz":"Mars/Olympus"}'],
                "Mars/Olympus")


def check_fewer_fire_times(checker, chimectl):
    result = cli_check.run([chimectl, "next", *BERLIN, "--from", "2025-03-29T00:00:00Z",
                            "--until", "2025-03-31T00:00:00Z", "--count", "5", "30 2 * * *"])
    checker.check_lines("--until stops early", result,
                        ["2025-03-29T02:30:00+01:00", "2025-03-30T03:00:00+02:00"])
    note = result.stderr.startswith("chimectl: only 2 fire times after ")
    checker.check("--until stops early: note", note and "--until" in result.stderr, result,
                  'expected a note "chimectl: only 2 fire times after ... up to --until ..."')

    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2025-01-01T00:00:00Z",
                            "--until", "2025-01-01T12:00:00Z", "--count", "3", "0 12 * * *"])
    checker.check_lines("--until is inclusive", result, ["2025-01-01T12:00:00+00:00"])

    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2025-01-01T00:00:00Z",
                            "--until", "2025-01-01T11:59:59Z", "0 12 * * *"])
    checker.check_lines("no fire time before --until", result, [])
    checker.check("no fire time before --until: note",
                  result.stderr.startswith("chimectl: no fire time after "), result,
                  'expected a note "chimectl: no fire time after ..."')

    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2029-03-26T09:22:30Z",
                            "0 0 31 4 *"])
    checker.check_lines("never fires", result, [])
    checker.check("never fires: note",
                  result.stderr.startswith("chimectl: no fire time after 2029-03-26T09:22:30"),
                  result, 'expected a note "chimectl: no fire time after 2029-03-26T09:22:30..."')

    ending = '{"kind":"cron","expr":"0 12 * * *","tz":"UTC","end":"2025-01-03T12:00:00Z"}'
    result = cli_check.run([chimectl, "next", "--json", ending, "--from", "2025-01-01T00:00:00Z"])
    checker.check_lines("trigger end stops early", result, [
        "2025-01-01T12:00:00+00:00", "2025-01-02T12:00:00+00:00", "2025-01-03T12:00:00+00:00"])
    checker.check("trigger end stops early: note",
                  result.stderr.startswith("chimectl: only 3 fire times after "), result,
                  'expected a note "chimectl: only 3 fire times after ..."')


def check_reboot(checker, chimectl):
    runs = {
        "@reboot": ["--tz", "UTC", "@reboot"],
        "@reboot in JSON": ["--json", '{"kind":"cron","expr":"@reboot"}'],
    }
    for name, arguments in runs.items():
        result = cli_check.run([chimectl, "next", *arguments])
        checker.check_lines(name, result, [])
        note = result.stderr.startswith("chimectl: @reboot fires once")
        checker.check(f"{name}: note", note and "starts" in result.stderr, result,
                      "expected a note that @reboot fires once when the worker starts")


def check_argument_forms(checker, chimectl):
    expected = ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"]
    forms = {
        "--opt value": ["next", *BERLIN, "--from", "2025-03-30T00:00:00Z", "--count", "2",
                        "30 2 * * *"],
        "--opt=value": ["next", "--tz=Europe/Berlin", "--from=2025-03-30T00:00:00Z", "--count=2",
                        "30 2 * * *"],
        "options after EXPR": ["next", "30 2 * * *", *BERLIN, "--count", "2",
                               "--from", "2025-03-30T00:00:00Z"],
        "-- before EXPR": ["next", *BERLIN, "--from", "2025-03-30T00:00:00Z", "--count", "2",
                           "--", "30 2 * * *"],
        "--from with a fraction": ["next", *BERLIN, "--from", "2025-03-30T00:00:00.999Z",
                                   "--count", "2", "30 2 * * *"],
        "--from with an offset": ["next", *BERLIN, "--from", "2025-03-30T01:00:00+01:00",
                                  "--count", "2", "30 2 * * *"],
        "--from as local time in --tz": ["next", *BERLIN, "--from", "2025-03-30T01:00:00",
                                         "--count", "2", "30 2 * * *"],
        "--json cron trigger": ["next", "--json",
                                '{"kind":"cron","expr":"30 2 * * *","tz":"Europe/Berlin"}',
                                "--from", "2025-03-30T00:00:00Z", "--count", "2"],
        "--from as local time in the JSON zone": [
            "next", "--json", '{"kind":"cron","expr":"30 2 * * *","tz":"Europe/Berlin"}',
            "--from", "2025-03-30T01:00:00", "--count", "2"],
    }
    for name, arguments in forms.items():
        result = cli_check.run([chimectl, *arguments])
        checker.check_lines(name, result, expected)
        checker.check(f"{name}: quiet stderr", result.stderr == "", result, "expected no stderr")

    # --from is a strict lower bound: a fire time at --from itself is not printed.
    result = cli_check.run([chimectl, "next", *BERLIN, "--from", "2025-03-30T01:00:00Z",
                            "--count", "1", "0 3 * * *"])
    checker.check_lines("--from is exclusive", result, ["2025-03-31T03:00:00+02:00"])

    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2025-01-01T00:00:00Z",
                            "--dst", "cronie", "0 0 * * *"])
    checker.check_lines("count defaults to 5", result, [
        f"2025-01-0{day}T00:00:00+00:00" for day in range(2, 7)])


def check_defaults_from_the_system(checker, chimectl):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--count", "1", "* * * * *"])
    after = datetime.datetime.now(datetime.timezone.utc)
    lines = result.lines()
    if checker.check("--from defaults to now: one line", result.returncode == 0 and
                     len(lines) == 1, result, "expected exit status 0 and one fire time"):
        try:
            fire = datetime.datetime.fromisoformat(lines[0])
        except ValueError:
            fire = None
        latest = after + datetime.timedelta(minutes=1)
        checker.check("--from defaults to now", fire and before < fire <= latest, result,
                      f"expected a fire time after {before.isoformat()}, "
                      f"not after {latest.isoformat()}")

    environment = dict(os.environ, TZ="Asia/Kolkata")
    result = cli_check.run([chimectl, "next", "--from", "2025-01-01T00:00:00Z", "--count", "1",
                            "0 9 * * *"], env=environment)
    checker.check_lines("--tz defaults to the local zone", result, ["2025-01-01T09:00:00+05:30"])


def check_help_and_commands(checker, chimectl):
    for arguments in (["next", "--help"], ["next", "-h"], ["next", "* * * * *", "--help"]):
        result = cli_check.run([chimectl, *arguments])
        name = " ".join(arguments)
        checker.check(f"{name}: exit status", result.returncode == 0, result,
                      "expected exit status 0")
        for fragment in ("Usage: chimectl next", "--count N", "(default: 5", "--json",
                         "--explain", "cronie"):
            checker.check(f"{name}: mentions {fragment!r}", fragment in result.stdout, result,
                          f"expected the usage text to contain {fragment!r}")

    result = cli_check.run([chimectl, "--help"])
    checker.check("--help: exit status", result.returncode == 0, result, "expected exit status 0")
    listed = "Usage: chimectl" in result.stdout and "next" in result.stdout
    checker.check("--help: lists next", listed, result,
                  "expected the usage text with the next command")

    result = cli_check.run([chimectl])
    checker.check("no command: exit status", result.returncode == 2, result,
                  "expected exit status 2")
    checker.check("no command: usage on stderr", "Usage: chimectl" in result.stderr, result,
                  "expected the usage text on stderr")

    # Without a chimed, a daemon command exits 1 and prints how to start one.
    for command in ("list", "run-now"):
        args = [chimectl, command] + (["backup"] if command != "list" else [])
        result = cli_check.run(args + ["--socket", "ipc:///nonexistent/chime.control"])
        checker.check(f"{command} without chimed: exit status", result.returncode == 1, result,
                      "expected exit status 1")
        checker.check(f"{command} without chimed: message", "chimed is not running" in result.stderr
                      and "start it with `chimed`" in result.stderr, result,
                      "expected a message saying chimed is not running and how to start it")
    checker.check_usage_error("unknown command", cli_check.run([chimectl, "bogus"]), '"bogus"',
                              "unknown command")


def check_until_and_hints(checker, chimectl):
    # With --until and no --count, every fire time up to --until is printed.
    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2026-12-04T00:00:00Z",
                            "--until", "2026-12-04T02:00:00Z", "*/15 * * * *"])
    expected = [f"2026-12-04T{h:02d}:{m:02d}:00+00:00"
                for h in (0, 1, 2) for m in (0, 15, 30, 45)][1:9]
    checker.check_lines("--until without --count", result, expected)
    checker.check("--until without --count: no note", result.stderr == "", result,
                  "expected nothing on stderr")

    # ... up to 1000, with a note saying how to print more.
    result = cli_check.run([chimectl, "next", "--tz", "UTC", "--from", "2026-12-04T00:00:00Z",
                            "--until", "2026-12-05T00:00:00Z", "* * * * *"])
    checker.check("--until cap: 1000 lines", len(result.stdout.splitlines()) == 1000, result,
                  "expected 1000 lines")
    checker.check("--until cap: note", "use --count to print more" in result.stderr, result,
                  "expected a note about --count")

    result = cli_check.run([chimectl, "next", "--from", "now", "--count", "1", "--tz", "UTC",
                            "@hourly"])
    checker.check("--from now: one line", len(result.stdout.splitlines()) == 1, result,
                  "expected one fire time")

    result = cli_check.run([chimectl, "help", "next"])
    checker.check("help next: usage of next", "Usage: chimectl next" in result.stdout, result,
                  "expected the usage text of next")

    checker.check_usage_error(
        "crontab line with its command",
        cli_check.run([chimectl, "next", "0 9 * * 1-5 /usr/bin/backup.sh"]),
        "/usr/bin/backup.sh", "leave out the command")
    checker.check_usage_error(
        "offset as a zone", cli_check.run([chimectl, "next", "--tz", "+02:00", "* * * * *"]),
        '"+02:00"', "Etc/GMT-2")

    checker.check_usage_error(
        "number overflow in JSON",
        cli_check.run([chimectl, "next", "--json", '{"kind":"cron","expr":1e400}']), "1e400")
    checker.check_usage_error(
        "@reboot with a bad --from",
        cli_check.run([chimectl, "next", "--from", "garbage", "@reboot"]), '"garbage"')

    env = dict(os.environ, TZ="Nowhere/Land")
    result = cli_check.run([chimectl, "next", "--count", "1", "@daily"], env=env)
    checker.check("bad TZ: warning", "TZ=Nowhere/Land names no zone" in result.stderr, result,
                  "expected a warning naming TZ")


def main(argv):
    if len(argv) != 2:
        cli_check.usage_exit(argv[0], "usage: chimectl_next_options.py CHIMECTL")
    chimectl = argv[1]
    checker = cli_check.Checker()
    check_explain(checker, chimectl)
    check_invalid_input(checker, chimectl)
    check_fewer_fire_times(checker, chimectl)
    check_reboot(checker, chimectl)
    check_argument_forms(checker, chimectl)
    check_defaults_from_the_system(checker, chimectl)
    check_help_and_commands(checker, chimectl)
    check_until_and_hints(checker, chimectl)
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
