#!/usr/bin/env python3
"""Run `chimectl next` on every case of cron-cases.jsonl and compare its lines.

Usage: chimectl_next_cases.py CHIMECTL CASES_JSONL

The cases are fire times taken from public bug reports against other
schedulers. A "cron" case runs as EXPR with --tz, --from and --count (and
--until when the case has an end), once per DST policy the case lists:
"expected" under the default policy, "expected_skip_policy" under
--dst skip and "expected_wall_clock_all" under --dst every_instant. A case
whose expected value is an error must exit with status 2 and name the bad
token. "date" and "interval" cases run as --json with an "at" or an
"interval" trigger built from the case. Results for other dialects
("expected_cronie", "expected_strict_parse") describe parsers chime does not
imitate and are not checked.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_check  # noqa: E402

POLICY_KEYS = [
    ("expected", None),
    ("expected_skip_policy", "skip"),
    ("expected_wall_clock_all", "every_instant"),
]


def load_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                case = json.loads(line)
                case["line"] = number
                cases.append(case)
    return cases


def trigger_json(case):
    """The --json value for a "date" or "interval" case, or None for an unknown form."""
    text = case["expr"]
    at = re.fullmatch(r"date: (\d{4}-\d\d-\d\d) (\d\d:\d\d) local", text)
    if case["kind"] == "date" and at:
        local = f"{at.group(1)}T{at.group(2)}:00"
        return {"kind": "at", "at": local, "tz": case["tz"]}
    every = re.fullmatch(r"interval: every (\d+) s from (\S+)", text)
    if case["kind"] == "interval" and every:
        return {
            "kind": "interval",
            "every": f"PT{every.group(1)}S",
            "start": every.group(2),
            "tz": case["tz"],
        }
    return None


def fire_time_arguments(case, expected):
    """--from, --count and --until for a case expecting the fire times `expected`.

    With an end, one fire time more than expected is requested, so the run
    shows that --until stops it. With no fire time expected, one is requested.
    """
    count = len(expected) + 1 if "end" in case or not expected else len(expected)
    arguments = ["--from", case["start"], "--count", str(count)]
    if "end" in case:
        arguments += ["--until", case["end"]]
    return arguments, count


def check_fire_times(checker, name, result, expected, count):
    if not checker.check_lines(name, result, expected):
        return
    if len(expected) < count:
        checker.check(
            f"{name}: note on fewer fire times",
            result.stderr.startswith("chimectl: ") and len(result.stderr.splitlines()) == 1,
            result,
            f"expected one stderr line, as {len(expected)} of {count} fire times exist",
        )
    else:
        checker.check(f"{name}: quiet stderr", result.stderr == "", result, "expected no stderr")


def check_cron_case(checker, chimectl, case):
    expected = case["expected"]
    if expected and expected[0].startswith("error:"):
        tokens = re.findall(r"'([^']+)'", expected[0])
        argv = [chimectl, "next", "--tz", case["tz"], "--from", case["start"], case["expr"]]
        result = cli_check.run(argv)
        checker.check_usage_error(case["id"], result, *tokens[:1])
        return

    for key, policy in POLICY_KEYS:
        if key not in case:
            continue
        arguments, count = fire_time_arguments(case, case[key])
        argv = [chimectl, "next", "--tz", case["tz"], *arguments]
        if policy:
            argv += ["--dst", policy]
        argv.append(case["expr"])
        name = case["id"] + (f" --dst {policy}" if policy else "")
        check_fire_times(checker, name, cli_check.run(argv), case[key], count)


def check_json_case(checker, chimectl, case):
    trigger = trigger_json(case)
    if trigger is None:
        checker.failed += 1
        print(f"FAIL {case['id']}: cannot build a trigger from {case['expr']!r}")
        return
    arguments, count = fire_time_arguments(case, case["expected"])
    argv = [chimectl, "next", "--json", json.dumps(trigger), *arguments]
    check_fire_times(checker, case["id"], cli_check.run(argv), case["expected"], count)


def main(argv):
    if len(argv) != 3:
        cli_check.usage_exit(argv[0], "usage: chimectl_next_cases.py CHIMECTL CASES_JSONL")
    chimectl, cases_path = argv[1], argv[2]
    cases = load_cases(cases_path)
    checker = cli_check.Checker()

    for case in cases:
        if case["kind"] == "cron":
            check_cron_case(checker, chimectl, case)
        elif case["kind"] in ("date", "interval"):
            check_json_case(checker, chimectl, case)
        else:
            checker.failed += 1
            print(f"FAIL {case['id']}: unknown case kind {case['kind']!r} on line {case['line']}")

    print(f"{len(cases)} cases from {cases_path}")
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
