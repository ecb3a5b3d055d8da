#!/usr/bin/env python3
"""Run chimed and chimectl end to end, with real commands as jobs.

Usage: chimed_e2e.py CHIMED CHIMECTL

Everything happens in a fresh temporary directory that is the working
directory of both programs, so chimed runs with no arguments on ./chime.db.
The steps, in order:

- chimectl without a daemon, then chimed's files and its single-instance lock;
- jobs that run every second (success, failure, output on stderr, a timeout)
  and their history;
- rejected input, then pause, resume, run-now, edit and remove;
- the duration forms, then export and import;
- a SIGKILL and a restart, a SIGTERM with a run that outlives the stop
  grace, and chimectl stop.

Each failed check prints what it expected and the command involved. The
exit status is 0 when every check passed and 1 otherwise. A watchdog kills
every process the test started when it runs too long, and the same cleanup
runs at the end whatever happened.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chimed_fixture as fixture  # noqa: E402

# The whole test takes about 20 s (an estimate from a few runs on two cores).
# The watchdog ends a hung run at 60 s, the limit this test must stay under.
WATCHDOG_SECONDS = 60

# The maximum wait for something that should happen within a second or two,
# such as a run of a job that fires every second, or chimed's first reply.
EVENT_TIMEOUT_SECONDS = 10

# The stop grace given to the restarted chimed, and how much longer than it
# chimed may take to exit after SIGTERM (closing sockets and the store).
STOP_GRACE_SECONDS = 2
EXIT_SLACK_SECONDS = 1.5

# The kill grace of the job that ignores SIGTERM: longer than the stop grace.
STUBBORN_KILL_GRACE_SECONDS = 5

# The fields a job's definition is made of: what export writes and import
# reads back. list and show add state (next_run, last_run, running).
DEFINITION_KEYS = [
    "name",
    "trigger",
    "task",
    "sinks",
    "policy",
    "on_interrupted",
    "paused",
    "output_cap",
]

RUN_FIELDS = ["status", "scheduled", "started", "finished", "exit_code", "output"]


def parse_instant(text):
    """Reads chimed's UTC instants, such as 2026-01-01T00:00:00Z or ...00.123Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_duration_seconds(text):
    """Returns the seconds of an ISO 8601 duration in days, hours, minutes and seconds."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text or "")
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def definitions(jobs):
    return {job["name"]: {key: job.get(key) for key in DEFINITION_KEYS} for job in jobs}


def run_started_after(run, instant):
    return run.get("started") is not None and parse_instant(run["started"]).timestamp() > instant


class Session:
    """One test run: the programs, the directory, the checks and the daemons."""

    def __init__(self, chimed, chimectl, workdir):
        self.chimectl = chimectl
        self.workdir = workdir
        self.checker = fixture.Checker()
        self.daemons = fixture.Daemons(chimed)
        self.daemon = None
        self.logs = []
        self.env = dict(os.environ)
        # The default socket is the subject here, so no inherited override.
        self.env.pop("CHIME_SOCKET", None)

    def check(self, name, condition, detail="", result=None):
        return self.checker.check(name, condition, detail, result)

    def ctl(self, *args):
        return fixture.run([self.chimectl, *args], env=self.env)

    def ctl_ok(self, name, *args):
        """Runs chimectl and checks exit status 0; returns the result."""
        result = self.ctl(*args)
        self.check(f"{name}: exit status 0", result.returncode == 0, "", result)
        return result

    def ctl_json(self, name, *args):
        """Runs chimectl with --json output and returns the parsed JSON, or None."""
        result = self.ctl_ok(name, *args)
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as e:
            self.check(f"{name}: output is JSON", False, str(e), result)
            return None

    def jobs(self):
        return self.ctl_json("list --json", "list", "--json") or []

    def history(self, job):
        result = self.ctl("history", job, "--json", "--limit", "1000")
        if result.returncode != 0:
            return []
        return json.loads(result.stdout)

    def start_daemon(self, *args):
        log = os.path.join(self.workdir, f"chimed-{len(self.logs) + 1}.log")
        self.logs.append(log)
        self.daemon = self.daemons.start(list(args), self.workdir, log, env=self.env)
        return self.daemon

    def wait_ready(self, step):
        """Waits until chimed replies to `chimectl status`; returns whether it did."""
        status = fixture.wait_until(
            lambda: self.ctl("status", "--wait", "1s").returncode == 0
            or self.daemon.poll() is not None,
            EVENT_TIMEOUT_SECONDS,
        )
        return self.check(
            f"{step}: chimed replies to status",
            status and self.daemon.poll() is None,
            f"chimed exit status {self.daemon.poll()}; log:\n{fixture.tail(self.logs[-1])}",
        )

    def wait_for_run(self, job, predicate, timeout=EVENT_TIMEOUT_SECONDS):
        """Polls the history of `job` until one run matches; returns it or None."""
        return fixture.wait_until(
            lambda: next((r for r in self.history(job) if predicate(r)), None), timeout, 0.1
        )

    def stop_daemon(self, timeout):
        """Waits for chimed to exit; returns its exit status, or None after `timeout` s."""
        try:
            return self.daemon.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def check_not_running(session, when):
    result = session.ctl("list")
    session.check(f"{when}: list exits 1", result.returncode == 1, "", result)
    session.check(
        f"{when}: list says chimed is not running",
        "chimed is not running" in result.stderr,
        'expected "chimed is not running" on stderr',
        result,
    )
    session.check(
        f"{when}: list says how to start chimed",
        "start it with `chimed`" in result.stderr,
        "expected the command that starts chimed on stderr",
        result,
    )


def check_files_and_lock(session):
    daemon = session.start_daemon()
    if not session.wait_ready("first start"):
        return False
    for name in ["chime.db", "chime.control", "chime.events"]:
        session.check(f"chimed creates {name}", os.path.exists(name), f"in {session.workdir}")
    for name in ["chime.control", "chime.events"]:
        if os.path.exists(name):
            mode = os.stat(name).st_mode
            session.check(f"{name} is a socket", stat.S_ISSOCK(mode), f"mode {oct(mode)}")
            session.check(
                f"{name} has mode 0600",
                stat.S_IMODE(mode) == 0o600,
                f"mode is {oct(stat.S_IMODE(mode))}",
            )

    second = fixture.run([session.daemons.chimed], env=session.env, timeout=10)
    session.check("second chimed exits non-zero", second.returncode not in (0, None), "", second)
    session.check(
        "second chimed names the first's pid",
        str(daemon.pid) in second.stderr,
        f"expected pid {daemon.pid} in the message",
        second,
    )
    status = session.ctl("status")
    session.check(
        "first chimed still replies",
        status.returncode == 0 and f"pid {daemon.pid}" in status.stdout,
        "",
        status,
    )
    return True


# Jobs that run every second, and the status of the run each must produce.
EVERY_SECOND_JOBS = {
    "echo": (["--every", "1s", "--", "echo", "hello"], "succeeded"),
    "date": (["--every", "1s", "--", "date", "-u", "+%Y-%m-%d"], "succeeded"),
    "exit3": (["--every", "1s", "--", "sh", "-c", "exit 3"], "failed"),
    "stderr": (["--every", "1s", "--shell", "echo to-stderr >&2"], "succeeded"),
    "slow": (["--every", "1s", "--timeout", "1s", "--", "sleep", "5"], "timed_out"),
}


def runs_with_status(runs, status):
    return [run for run in runs if run["status"] == status]


def check_history_shape(session, name, runs):
    for run in runs:
        missing = [field for field in RUN_FIELDS if field not in run]
        if not session.check(
            f"history {name}: runs have every field", not missing, f"run {run} lacks {missing}"
        ):
            return
    ids = [run["id"] for run in runs]
    session.check(
        f"history {name}: newest run first", ids == sorted(ids, reverse=True), f"ids {ids}"
    )
    scheduled = [parse_instant(run["scheduled"]) for run in runs]
    session.check(
        f"history {name}: scheduled times descend",
        scheduled == sorted(scheduled, reverse=True),
        f"scheduled {[run['scheduled'] for run in runs]}",
    )
    for run in runs:
        if run["started"] and run["finished"]:
            started = parse_instant(run["started"])
            session.check(
                f"history {name}: run {run['id']} starts when scheduled or later",
                parse_instant(run["scheduled"]) <= started,
                json.dumps(run),
            )
            session.check(
                f"history {name}: run {run['id']} finishes after it starts",
                started <= parse_instant(run["finished"]),
                json.dumps(run),
            )


def every_job_has_run(session):
    if len(runs_with_status(session.history("echo"), "succeeded")) < 2:
        return False
    for name, (_, status) in EVERY_SECOND_JOBS.items():
        if not runs_with_status(session.history(name), status):
            return False
    return True


def check_runs(session):
    for name, (args, _) in EVERY_SECOND_JOBS.items():
        result = session.ctl_ok(f"add {name}", "add", "--name", name, *args)
        session.check(
            f"add {name}: says added",
            result.stdout.startswith(f"added {name}, next run "),
            "",
            result,
        )

    # Two succeeded runs of "echo" show the order; one run of each other kind.
    seen = fixture.wait_until(lambda: every_job_has_run(session), EVENT_TIMEOUT_SECONDS, 0.2)
    histories = {name: session.history(name) for name in EVERY_SECOND_JOBS}
    statuses = {name: [run["status"] for run in runs] for name, runs in histories.items()}
    session.check("every job runs within seconds", seen, f"statuses seen: {json.dumps(statuses)}")
    for name, runs in histories.items():
        check_history_shape(session, name, runs)

    succeeded = runs_with_status(histories["echo"], "succeeded")
    session.check("echo has two succeeded runs", len(succeeded) >= 2, json.dumps(histories["echo"]))
    for run in succeeded[:2]:
        session.check("echo run exits 0", run["exit_code"] == 0, json.dumps(run))
        session.check("echo run output is hello", run["output"] == "hello\n", json.dumps(run))

    date_runs = runs_with_status(histories["date"], "succeeded")
    if session.check("date has a succeeded run", date_runs, json.dumps(histories["date"])):
        run = date_runs[0]
        session.check(
            "date run prints its start day",
            run["output"] == run["started"][:10] + "\n",
            json.dumps(run),
        )

    failed = runs_with_status(histories["exit3"], "failed")
    if session.check("exit3 has a failed run", failed, json.dumps(histories["exit3"])):
        session.check("exit3 run has exit code 3", failed[0]["exit_code"] == 3, json.dumps(failed))

    stderr_runs = runs_with_status(histories["stderr"], "succeeded")
    if session.check("stderr has a succeeded run", stderr_runs, json.dumps(histories["stderr"])):
        session.check(
            "stderr run output contains stderr",
            stderr_runs[0]["output"] == "to-stderr\n",
            json.dumps(stderr_runs[0]),
        )

    timed_out = runs_with_status(histories["slow"], "timed_out")
    if session.check("slow has a timed_out run", timed_out, json.dumps(histories["slow"])):
        run = timed_out[0]
        seconds = (parse_instant(run["finished"]) - parse_instant(run["started"])).total_seconds()
        session.check(
            "slow run ends at its timeout",
            1 <= seconds < 4,
            f"ran {seconds} s, expected 1 s and not the 5 s of sleep: {json.dumps(run)}",
        )

    check_list(session, list(EVERY_SECOND_JOBS))


def check_list(session, names):
    jobs = session.jobs()
    listed = sorted(job.get("name") for job in jobs)
    session.check(
        "list --json has every job",
        listed == sorted(names),
        f"expected {sorted(names)}, got {listed}",
    )
    for job in jobs:
        name = job.get("name")
        missing = [key for key in ["name", "trigger", "next_run", "paused"] if key not in job]
        session.check(f"list --json {name}: has the fields", not missing, f"missing {missing}")
        session.check(f"list --json {name}: not paused", job.get("paused") is False, "")
        session.check(
            f"list --json {name}: every PT1S",
            job.get("trigger", {}).get("every") == "PT1S",
            json.dumps(job.get("trigger")),
        )
        session.check(
            f"list --json {name}: has a next run",
            isinstance(job.get("next_run"), str),
            json.dumps(job.get("next_run")),
        )

    table = session.ctl_ok("list", "list")
    lines = table.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip()) if lines else []
    expected_header = ["NAME", "SCHEDULE", "NEXT RUN", "LAST STATUS", "PAUSED"]
    session.check("list: header line", header == expected_header, f"header {header}", table)
    session.check("list: one row per job", len(lines) == 1 + len(names), "", table)
    row_names = sorted(line.split()[0] for line in lines[1:] if line.split())
    session.check("list: rows name the jobs", row_names == sorted(names), "", table)


def check_rejected(session, case, result, fragments):
    session.check(f"{case}: exit status 2", result.returncode == 2, "", result)
    session.check(f"{case}: nothing on stdout", result.stdout == "", "", result)
    for fragment in fragments:
        session.check(f"{case}: message names {fragment}", fragment in result.stderr, "", result)


def check_bad_input(session):
    before = definitions(session.jobs())
    cases = [
        ("bad cron", ["--cron", "61 * * * *", "--", "true"], ["61 * * * *"]),
        ("unknown zone", ["--cron", "0 * * * *", "--tz", "Mars/Base", "--", "true"], ["Mars/Base"]),
        ("bad duration", ["--every", "5x", "--", "true"], ['"5x"']),
        ("missing command", ["--every", "1m"], ["command"]),
    ]
    for case, args, fragments in cases:
        result = session.ctl("add", "--name", "bad-input", *args)
        check_rejected(session, f"add with {case}", result, fragments)
    duplicate = session.ctl("add", "--name", "echo", "--every", "1m", "--", "true")
    check_rejected(session, "add with a duplicate name", duplicate, ['"echo"', "already exists"])

    after = definitions(session.jobs())
    session.check(
        "list unchanged after rejected input",
        after == before,
        f"before: {json.dumps(before)}\n  after: {json.dumps(after)}",
    )


def job_named(session, name):
    return next((job for job in session.jobs() if job["name"] == name), None)


def check_pause(session):
    """Pauses "echo"; returns the time the pause took effect."""
    pause = session.ctl_ok("pause echo", "pause", "echo")
    paused_at = time.time()
    session.check("pause echo: says paused", pause.stdout == "paused echo\n", "", pause)
    job = job_named(session, "echo") or {}
    session.check("pause: list shows paused", job.get("paused") is True, json.dumps(job))
    session.check("pause: no next run", job.get("next_run") is None, json.dumps(job))
    show_output = session.ctl_ok("show echo", "show", "echo")
    session.check(
        "pause: show says paused yes",
        re.search(r"^paused:\s+yes$", show_output.stdout, re.M),
        "",
        show_output,
    )
    return paused_at


def check_run_now(session):
    session.ctl_ok("add once", "add", "--name", "once", "--every", "1d", "--", "echo", "ran now")
    run_now = session.ctl_ok("run-now once", "run-now", "once")
    session.check("run-now once: says started", run_now.stdout == "started once\n", "", run_now)
    run = session.wait_for_run("once", lambda r: r["status"] == "succeeded")
    session.check("run-now: a run succeeds", run is not None, json.dumps(session.history("once")))
    if run:
        session.check("run-now: the run's output", run["output"] == "ran now\n", json.dumps(run))
    runs = session.history("once")
    session.check("run-now: only that run", len(runs) == 1, json.dumps(runs))


def check_edit(session):
    session.ctl_ok("add editme", "add", "--name", "editme", "--every", "1s", "--", "echo", "before")
    before = session.wait_for_run("editme", lambda r: r["output"] == "before\n")
    session.check("editme runs its command", before is not None, "no run printed before")

    edited_at = time.time()
    session.ctl_ok("edit editme", "edit", "editme", "--every", "2s", "--shell", "echo after")
    job = session.ctl_json("show editme", "show", "editme", "--json") or {}
    trigger = job.get("trigger", {})
    task = job.get("task", {})
    session.check("edit: the trigger changes", trigger.get("every") == "PT2S", json.dumps(trigger))
    session.check(
        "edit: the command changes", task.get("command") == "echo after", json.dumps(task)
    )
    session.check("edit: the old argv is gone", "argv" not in task, json.dumps(task))
    after = session.wait_for_run(
        "editme", lambda r: r["output"] == "after\n" and run_started_after(r, edited_at)
    )
    session.check(
        "edit: next run uses the command", after is not None, json.dumps(session.history("editme"))
    )

    session.ctl_ok("edit --name", "edit", "editme", "--name", "renamed")
    names = [job["name"] for job in session.jobs()]
    session.check("rename: the new name is listed", "renamed" in names, f"names {names}")
    session.check("rename: the old name is gone", "editme" not in names, f"names {names}")
    runs = session.history("renamed")
    session.check(
        "rename: history stays with the job",
        any(run["output"] == "after\n" for run in runs),
        json.dumps(runs),
    )


def check_resume(session, paused_at):
    # The paused job must have had at least two fire times to skip.
    time.sleep(max(0.0, paused_at + 2.2 - time.time()))
    runs_while_paused = [
        run for run in session.history("echo") if run_started_after(run, paused_at + 0.05)
    ]
    session.check(
        "pause: no run while paused", not runs_while_paused, json.dumps(runs_while_paused)
    )

    resumed_at = time.time()
    resume = session.ctl_ok("resume echo", "resume", "echo")
    session.check("resume echo: says resumed", resume.stdout == "resumed echo\n", "", resume)
    job = job_named(session, "echo") or {}
    session.check("resume: list shows not paused", job.get("paused") is False, json.dumps(job))
    session.check("resume: has a next run", isinstance(job.get("next_run"), str), json.dumps(job))
    show_output = session.ctl_ok("show echo", "show", "echo")
    session.check(
        "resume: show says paused no",
        re.search(r"^paused:\s+no$", show_output.stdout, re.M),
        "",
        show_output,
    )
    run = session.wait_for_run(
        "echo", lambda r: r["status"] == "succeeded" and run_started_after(r, resumed_at)
    )
    session.check(
        "resume: echo runs again", run is not None, json.dumps(session.history("echo")[:3])
    )


def check_remove(session):
    remove = session.ctl_ok("remove renamed", "remove", "renamed")
    session.check("remove: says removed", remove.stdout == "removed renamed\n", "", remove)
    session.check("remove: the job is not listed", job_named(session, "renamed") is None, "")
    for command in ["show", "history"]:
        result = session.ctl(command, "renamed")
        session.check(f"{command} of removed job: exit 2", result.returncode == 2, "", result)
        session.check(
            f"{command} of removed job: names it", '"renamed"' in result.stderr, "", result
        )


def check_lifecycle(session):
    # "echo" stays paused while run-now and edit are checked.
    paused_at = check_pause(session)
    check_run_now(session)
    check_edit(session)
    check_resume(session, paused_at)
    check_remove(session)


def check_durations(session):
    for text, seconds in [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("PT30S", 30)]:
        name = f"every-{text}"
        result = session.ctl("add", "--name", name, "--every", text, "--", "true")
        if not session.check(f"--every {text} is accepted", result.returncode == 0, "", result):
            continue
        job = session.ctl_json(f"show {name}", "show", name, "--json") or {}
        every = job.get("trigger", {}).get("every")
        session.check(
            f"--every {text} is {seconds} s",
            iso_duration_seconds(every) == seconds,
            f"stored every {every!r}",
        )


def check_export_import(session):
    exported_path = os.path.join(session.workdir, "jobs.json")
    session.ctl_ok("export FILE", "export", exported_path)
    with open(exported_path, encoding="utf-8") as f:
        exported = json.load(f).get("jobs", [])
    names = sorted(job["name"] for job in session.jobs())
    session.check(
        "export contains every job",
        sorted(job.get("name") for job in exported) == names,
        f"listed {names}",
    )

    for name in names:
        session.ctl_ok(f"remove {name}", "remove", name)
    session.check("remove all: list --json is empty", session.jobs() == [], "")
    empty = session.ctl_ok("list", "list")
    session.check("remove all: list says no jobs", empty.stdout.startswith("no jobs"), "", empty)

    imported = session.ctl_ok("import FILE", "import", exported_path)
    session.check(
        "import: says how many", imported.stdout == f"imported {len(names)} jobs\n", "", imported
    )
    restored = definitions(session.jobs())
    session.check(
        "import restores the same jobs",
        restored == definitions(exported),
        f"exported: {json.dumps(definitions(exported))}\n  restored: {json.dumps(restored)}",
    )


def kill_left_commands(session, pid, when):
    """Prints the commands still running in chimed's session, then kills their groups."""
    left = fixture.session_processes(pid)
    commands = [command for _, _, command in left]
    print(f"NOTE {when}: {len(left)} commands of chimed were still running: {commands}")
    fixture.kill_session(pid)
    cleaned = fixture.wait_until(lambda: not fixture.session_processes(pid), 5)
    session.check(f"{when}: no command is left", cleaned, str(fixture.session_processes(pid)))
    return left


def check_runs_after_restart(session, before, killed_at, sleeper_run):
    interrupted = 0
    for name, runs in before.items():
        now = {run["id"]: run for run in session.history(name)}
        for run in runs:
            label = f"restart: run {run['id']} of {name}"
            current = now.get(run["id"])
            if not session.check(f"{label} is kept", current is not None, json.dumps(run)):
                continue
            if run["status"] != "running":
                session.check(
                    f"{label} is unchanged",
                    current == run,
                    f"before {json.dumps(run)}\n  after {json.dumps(current)}",
                )
                continue
            # A run that was going when history was read may still have
            # ended before the kill. One that had not is interrupted.
            ended_before_kill = (
                current["status"] != "interrupted"
                and current["finished"] is not None
                and parse_instant(current["finished"]).timestamp() <= killed_at
            )
            session.check(
                f"{label} is interrupted",
                current["status"] == "interrupted" or ended_before_kill,
                json.dumps(current),
            )
            interrupted += current["status"] == "interrupted"
    print(f"NOTE {interrupted} runs were recorded interrupted after the SIGKILL")

    sleeper = {run["id"]: run for run in session.history("sleeper")}
    session.check(
        "restart: sleeper run is interrupted",
        sleeper.get(sleeper_run["id"], {}).get("status") == "interrupted",
        json.dumps(sleeper.get(sleeper_run["id"])),
    )


def check_crash(session):
    """SIGKILL while a run is going, then restart: jobs and runs survive."""
    session.ctl_ok("add sleeper", "add", "--name", "sleeper", "--every", "1s", "--", "sleep", "3")
    going = session.wait_for_run("sleeper", lambda r: r["status"] == "running")
    if not session.check("sleeper has a running run", going is not None, "none seen"):
        return False
    names = sorted(job["name"] for job in session.jobs())
    before = {name: session.history(name) for name in names}
    killed_at = time.time()
    session.daemon.send_signal(signal.SIGKILL)
    session.daemon.wait(timeout=10)

    # Commands lead process groups of their own, so a SIGKILL of chimed
    # does not reach them. They are killed here by group.
    kill_left_commands(session, session.daemon.pid, "after SIGKILL")

    stale = session.ctl("status", "--wait", "1s")
    session.check("status after SIGKILL: exit 1", stale.returncode == 1, "", stale)
    session.check("status after SIGKILL: no reply", "did not reply" in stale.stderr, "", stale)

    session.start_daemon("--stop-grace", f"{STOP_GRACE_SECONDS}s")
    if not session.wait_ready("restart after SIGKILL"):
        return False
    after_names = sorted(job["name"] for job in session.jobs())
    session.check(
        "restart: every job is kept", after_names == names, f"before {names}, after {after_names}"
    )
    check_runs_after_restart(session, before, killed_at, going)
    return True


def running_sleeper_and_stubborn(session):
    """Returns the running run of each of the two jobs, or None unless both run."""
    going = {}
    for name in ["sleeper", "stubborn"]:
        run = next((r for r in session.history(name) if r["status"] == "running"), None)
        if run is None:
            return None
        going[name] = run
    return going


def check_sigterm(session):
    """SIGTERM: exit 0 within the stop grace; runs still going become interrupted."""
    # This command ignores SIGTERM, and its kill grace is longer than the
    # stop grace, so it is still going when the stop grace ends. The later
    # `chimectl stop` (default stop grace 15 s) ends it by SIGKILL in 5 s.
    session.ctl_ok(
        "add stubborn",
        "add",
        "--name",
        "stubborn",
        "--every",
        "1s",
        "--kill-grace",
        f"{STUBBORN_KILL_GRACE_SECONDS}s",
        "--shell",
        "trap '' TERM; sleep 30",
    )
    going = fixture.wait_until(
        lambda: running_sleeper_and_stubborn(session), EVENT_TIMEOUT_SECONDS, 0.1
    )
    if not session.check("sleeper and stubborn run at once", going, ""):
        return

    daemon = session.daemon
    signalled_at = time.time()
    started = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    status = session.stop_daemon(STOP_GRACE_SECONDS + EXIT_SLACK_SECONDS)
    elapsed = time.monotonic() - started
    session.check(
        f"SIGTERM: exit within the {STOP_GRACE_SECONDS} s stop grace",
        status is not None,
        f"still running {elapsed:.1f} s after SIGTERM; log:\n{fixture.tail(session.logs[-1], 15)}",
    )
    if status is None:
        daemon.kill()
        daemon.wait(timeout=10)
    else:
        session.check("SIGTERM: chimed exits 0", status == 0, f"exit status {status}")
        left = fixture.session_processes(daemon.pid)
        session.check("SIGTERM: no command is left", not left, str(left))
    fixture.kill_session(daemon.pid)

    database_uri = f"file:{os.path.join(session.workdir, 'chime.db')}?mode=ro"
    database = sqlite3.connect(database_uri, uri=True)
    try:
        for name, run in going.items():
            row = database.execute(
                "SELECT status, finished_at FROM runs WHERE id = ?", (run["id"],)
            ).fetchone()
            # The sleeper's own `sleep 3` may end before SIGTERM, the
            # stubborn command never does.
            ended_before = (
                name == "sleeper"
                and row is not None
                and row[0] != "interrupted"
                and row[1] is not None
                and row[1] / 1000 <= signalled_at
            )
            session.check(
                f"SIGTERM: {name} run is interrupted",
                row is not None and (row[0] == "interrupted" or ended_before),
                f"run {run['id']}: row {row}",
            )
        remaining = database.execute("SELECT count(*) FROM running_runs").fetchone()[0]
        session.check(
            "SIGTERM: no run left running", remaining == 0, f"{remaining} rows in running_runs"
        )
    finally:
        database.close()


def check_stop(session):
    daemon = session.start_daemon()
    if not session.wait_ready("start before chimectl stop"):
        return
    stop = session.ctl_ok("stop", "stop")
    session.check("stop: says stopping", stop.stdout == "chimed is stopping\n", "", stop)
    # The stubborn job may be running: it ends by SIGKILL after its kill grace.
    status = session.stop_daemon(STUBBORN_KILL_GRACE_SECONDS + EVENT_TIMEOUT_SECONDS)
    session.check("stop: chimed exits 0", status == 0, f"exit status {status}")
    if status is None:
        daemon.kill()
        daemon.wait(timeout=10)
        return
    for name in ["chime.control", "chime.events"]:
        session.check(f"stop: {name} is removed", not os.path.exists(name), "")
    check_not_running(session, "after chimectl stop")


def run_steps(session):
    check_not_running(session, "before chimed starts")
    if not check_files_and_lock(session):
        return
    check_runs(session)
    check_bad_input(session)
    check_lifecycle(session)
    check_durations(session)
    check_export_import(session)
    if check_crash(session):
        check_sigterm(session)
    check_stop(session)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} CHIMED CHIMECTL", file=sys.stderr)
        return 2
    chimed, chimectl = (os.path.abspath(path) for path in argv[1:])
    workdir = tempfile.mkdtemp(prefix="chimed-e2e-")
    os.chdir(workdir)

    session = Session(chimed, chimectl, workdir)
    fixture.raise_on_stop_signals()
    session.daemons.arm_watchdog(WATCHDOG_SECONDS)
    begun = time.monotonic()
    try:
        run_steps(session)
    finally:
        session.daemons.kill_all()
    print(f"took {time.monotonic() - begun:.1f} s")

    status = session.checker.finish()
    if status == 0:
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        logs = ", ".join(os.path.basename(log) for log in session.logs)
        print(f"kept {workdir} (chimed logs: {logs})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
