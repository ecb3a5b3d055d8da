#!/usr/bin/env python3
"""Import each real-world crontab into a chimed and compare the jobs with expected.jsonl.

Usage: chimectl_import_crontabs.py CHIMED CHIMECTL [CRONTABS_DIR]

CRONTABS_DIR defaults to tests/data/crontabs beside this script. For each
*.crontab file there, one chimed starts in a fresh directory and
`chimectl import-crontab --paused` imports the file (with --system when its
rows in expected.jsonl have "format": "system"). Then each row of
expected.jsonl is checked:

- A valid row must be a paused job named "<file name>:<line>". Its task must
  have the row's command, stdin (as crond writes it), environment and user.
- Its stored trigger must give the row's next three fire times from
  2026-01-01T00:00:00Z under `chimectl next --json`. An @reboot row ("macro")
  must give no fire time.
- An "invalid" row must be named on import-crontab's stderr with its line
  number, and must not become a job.

import-crontab must exit 2 for a file with invalid lines and 0 otherwise.
The commands are other people's real commands, so the jobs stay paused: the
test never resumes or runs them, and it checks that no run was recorded.
Both programs run with TZ=UTC because the expected times assume crond in UTC.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chimed_fixture as fixture  # noqa: E402

# 24 daemons start and stop one after another. The whole test takes about
# 10 s (an estimate from a few runs on two cores), and the watchdog stops a
# hung run well before a CTest timeout would.
WATCHDOG_SECONDS = 60
READY_TIMEOUT_SECONDS = 10

CRONTAB_FILES = 24
NEXT_FROM = "2026-01-01T00:00:00Z"
NEXT_KEY = "next_utc_from_2026-01-01T00:00:00Z"


def load_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def cron_input_bytes(text):
    """Returns the bytes crond writes to a command's stdin for a row's "stdin" text.

    crond adds a newline unless the last character it wrote outside an
    escape was one already. A trailing backslash is written as is, so it
    does not count.
    """
    if text is None:
        return ""
    last = text.rstrip("\\")
    if last and not last.endswith("\n"):
        return text + "\n"
    return text


def parse_instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Importer:
    """The programs, the checks and the count of rows compared."""

    def __init__(self, chimed, chimectl, workdir):
        self.chimectl = chimectl
        self.workdir = workdir
        self.checker = fixture.Checker()
        self.daemons = fixture.Daemons(chimed)
        self.env = dict(os.environ)
        self.env["TZ"] = "UTC"
        self.env.pop("CHIME_SOCKET", None)
        self.rows_checked = 0

    def check(self, name, condition, detail="", result=None):
        return self.checker.check(name, condition, detail, result)

    def ctl(self, directory, *args):
        socket = os.path.join(directory, "chime.control")
        return fixture.run([self.chimectl, *args, "--socket", f"ipc://{socket}"], env=self.env)

    def import_file(self, path, rows):
        stem = os.path.basename(path)
        directory = os.path.join(self.workdir, stem.split("-")[0])
        os.mkdir(directory)
        log = os.path.join(directory, "chimed.log")
        daemon = self.daemons.start([], directory, log, env=self.env)
        ready = fixture.wait_until(
            lambda: self.ctl(directory, "status", "--wait", "1s").returncode == 0
            or daemon.poll() is not None,
            READY_TIMEOUT_SECONDS,
        )
        started = ready and daemon.poll() is None
        if not self.check(f"{stem}: chimed starts", started, fixture.tail(log)):
            self.daemons.kill(daemon)
            return
        try:
            self.check_file(path, stem, directory, rows)
        finally:
            self.ctl(directory, "stop")
            try:
                daemon.wait(timeout=READY_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.check(f"{stem}: chimed stops", False, fixture.tail(log))
            self.daemons.kill(daemon)

    def check_file(self, path, stem, directory, rows):
        system = any(row["format"] == "system" for row in rows)
        invalid = [row for row in rows if row[NEXT_KEY] == "invalid"]
        valid = [row for row in rows if row[NEXT_KEY] != "invalid"]

        args = ["import-crontab", "--paused"] + (["--system"] if system else []) + [path]
        result = self.ctl(directory, *args)
        expected_status = 2 if invalid else 0
        self.check(
            f"{stem}: import-crontab exits {expected_status}",
            result.returncode == expected_status,
            "",
            result,
        )

        reported = set()
        for line in result.stderr.splitlines():
            match = re.match(re.escape(f"chimectl: {path}:") + r"(\d+): ", line)
            if match:
                reported.add(int(match.group(1)))
        expected_lines = {row["line"] for row in invalid}
        self.check(
            f"{stem}: stderr names the invalid lines {sorted(expected_lines)}",
            reported == expected_lines,
            f"named lines {sorted(reported)}",
            result,
        )

        listed = self.ctl(directory, "list", "--json")
        jobs = json.loads(listed.stdout) if listed.returncode == 0 else []
        names = sorted(job["name"] for job in jobs)
        expected_names = sorted(f"{stem}:{row['line']}" for row in valid)
        self.check(
            f"{stem}: one job per valid line",
            names == expected_names,
            f"expected {expected_names}\n  got {names}",
            listed,
        )

        for row in invalid:
            name = f"{stem}:{row['line']}"
            if self.check(f"{name}: invalid line is no job", name not in names, ""):
                self.rows_checked += 1
        for row in valid:
            if self.check_job(directory, row, f"{stem}:{row['line']}"):
                self.rows_checked += 1

    def check_job(self, directory, row, name):
        """Checks the job of one valid row; returns whether every part was compared."""
        show_output = self.ctl(directory, "show", name, "--json")
        if not self.check(f"{name}: show --json", show_output.returncode == 0, "", show_output):
            return False
        job = json.loads(show_output.stdout)
        task = job.get("task", {})
        trigger = job.get("trigger", {})

        self.check(f"{name}: paused", job.get("paused") is True, json.dumps(job.get("paused")))
        self.check(f"{name}: no next run", job.get("next_run") is None, json.dumps(job))
        self.check(
            f"{name}: never ran",
            job.get("last_run") is None and job.get("running") == 0,
            f"last_run {json.dumps(job.get('last_run'))}, running {job.get('running')}",
        )
        self.check_task(row, name, task)
        self.check(
            f"{name}: cron trigger of the schedule",
            trigger.get("kind") == "cron" and trigger.get("expr") == row["schedule"],
            f"schedule {row['schedule']!r}, trigger {json.dumps(trigger)}",
        )
        return self.check_next(row, name, trigger)

    def check_task(self, row, name, task):
        def compare(field, expected, stored):
            self.check(
                f"{name}: {field}", stored == expected, f"expected {expected!r}, stored {stored!r}"
            )

        self.check(f"{name}: shell task", task.get("kind") == "shell", json.dumps(task))
        compare("command", row["command"], task.get("command"))
        # The task leaves out stdin and env when they are empty.
        compare("stdin", cron_input_bytes(row["stdin"]), task.get("stdin", ""))
        compare("env", row["env"], task.get("env", {}))
        compare("user", row["user"], task.get("user"))
        compare("shell", row["env"].get("SHELL") or "/bin/sh", task.get("shell"))
        home = row["env"].get("HOME", "")
        compare("cwd", home if home.startswith("/") else None, task.get("cwd"))

    def check_next(self, row, name, trigger):
        argv = [self.chimectl, "next", "--json", json.dumps(trigger)]
        result = fixture.run(argv + ["--from", NEXT_FROM, "--count", "3"], env=self.env)
        if not self.check(f"{name}: chimectl next exits 0", result.returncode == 0, "", result):
            return False
        expected = row[NEXT_KEY]
        if expected == "macro":
            return self.check(
                f"{name}: @reboot has no fire time",
                row["schedule"] == "@reboot" and result.stdout == "",
                "",
                result,
            )
        try:
            actual = [parse_instant(line) for line in result.stdout.splitlines()]
        except ValueError as e:
            return self.check(f"{name}: chimectl next prints instants", False, str(e), result)
        return self.check(
            f"{name}: next three fire times",
            actual == [parse_instant(text) for text in expected],
            f"expected {expected}",
            result,
        )


def main(argv):
    if len(argv) not in (3, 4):
        print(f"usage: {argv[0]} CHIMED CHIMECTL [CRONTABS_DIR]", file=sys.stderr)
        return 2
    chimed, chimectl = (os.path.abspath(path) for path in argv[1:3])
    script_dir = os.path.dirname(os.path.abspath(__file__))
    default_data = os.path.join(script_dir, "..", "data", "crontabs")
    data = os.path.abspath(argv[3] if len(argv) == 4 else default_data)
    rows = load_rows(os.path.join(data, "expected.jsonl"))
    files = sorted(glob.glob(os.path.join(data, "*.crontab")))

    workdir = tempfile.mkdtemp(prefix="chimectl-import-")
    importer = Importer(chimed, chimectl, workdir)
    fixture.raise_on_stop_signals()
    importer.daemons.arm_watchdog(WATCHDOG_SECONDS)
    begun = time.monotonic()
    try:
        importer.check(
            f"{CRONTAB_FILES} crontab files", len(files) == CRONTAB_FILES, f"{len(files)} in {data}"
        )
        for path in files:
            file_rows = [row for row in rows if row["file"] == os.path.basename(path)]
            importer.check(f"{os.path.basename(path)}: has expected rows", file_rows, "")
            importer.import_file(path, file_rows)
    finally:
        importer.daemons.kill_all()
    seconds = time.monotonic() - begun

    print(f"checked {importer.rows_checked} of {len(rows)} rows in {seconds:.1f} s")
    importer.check(
        "every row was checked",
        importer.rows_checked == len(rows),
        f"{len(rows) - importer.rows_checked} rows were not checked in full",
    )
    status = importer.checker.finish()
    if status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
