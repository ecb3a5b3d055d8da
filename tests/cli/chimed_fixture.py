"""Start chimed daemons for the command-line tests and clean up after them.

Shared by chimed_e2e.py and chimectl_import_crontabs.py. Each chimed starts
as the leader of a new session. Its commands lead process groups of their
own but stay in that session, so the session id finds every process a chimed
left behind, even after the daemon itself was killed. Linux keeps a pid from
being reused while any process still has it as its session id, so killing by
session never reaches a process these tests did not start.
"""

import os
import shlex
import signal
import subprocess
import sys
import threading
import time

# A chimectl request takes milliseconds. This limit only stops a hang, and
# it is longer than chimectl's own 5 s wait for a reply.
COMMAND_TIMEOUT_SECONDS = 15


class Result:
    """The exit status and outputs of one finished command."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def describe(self):
        return (
            f"  ran: {shlex.join(self.argv)}\n"
            f"  exit status: {self.returncode}\n"
            f"  stdout: {self.stdout[:2000]!r}\n"
            f"  stderr: {self.stderr[:2000]!r}"
        )


def run(argv, env=None, timeout=COMMAND_TIMEOUT_SECONDS):
    try:
        completed = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        return Result(argv, None, stdout, f"timed out after {timeout} s")
    return Result(argv, completed.returncode, completed.stdout, completed.stderr)


class Checker:
    """Counts checks and prints each failure with what it concerns."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail="", result=None):
        if condition:
            self.passed += 1
            return True
        self.failed += 1
        print(f"FAIL {name}")
        if detail:
            print(f"  {detail}")
        if result is not None:
            print(result.describe())
        sys.stdout.flush()
        return False

    def finish(self):
        """Prints "N passed, M failed" and returns the process exit status."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def wait_until(probe, timeout, interval=0.05):
    """Calls `probe` until it returns a true value or `timeout` seconds pass.

    Returns the last value `probe` returned, so a caller can show what it saw
    when the wait failed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def session_processes(session_id):
    """Returns (pid, process group id, command line) of each live process in a session."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # the process ended while it was being read
        # The command name in brackets may hold blanks, so the fields after
        # it are counted from the last ')': state, ppid, pgrp, session.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        if int(fields[3]) == session_id:
            found.append((int(entry), int(fields[2]), cmdline))
    return found


def kill_session(session_id):
    """Sends SIGKILL to every process group in a session; returns what was found."""
    found = session_processes(session_id)
    for pgid in sorted({pgid for _, pgid, _ in found}):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


class Daemons:
    """Every chimed a test starts, so that all of them can be killed at the end."""

    def __init__(self, chimed):
        self.chimed = chimed
        self.started = []
        self.lock = threading.Lock()

    def start(self, args, cwd, log_path, env=None):
        log = open(log_path, "ab")
        try:
            process = subprocess.Popen(
                [self.chimed, *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        with self.lock:
            self.started.append(process)
        return process

    def kill(self, process):
        """Kills one started chimed, if it still runs, and everything left in its session."""
        if process.poll() is None:
            process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        kill_session(process.pid)
        with self.lock:
            if process in self.started:
                self.started.remove(process)

    def kill_all(self):
        """Kills every started chimed and everything left in its session."""
        with self.lock:
            started = list(self.started)
        for process in started:
            self.kill(process)

    def arm_watchdog(self, seconds):
        """Kills everything and exits with status 1 if the test runs longer than `seconds`."""

        def expire():
            print(f"FAIL the test did not finish within {seconds} s; killing what it started")
            sys.stdout.flush()
            self.kill_all()
            os._exit(1)

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        return timer


def raise_on_stop_signals():
    """Turns SIGTERM and SIGHUP into SystemExit so that `finally` blocks clean up."""

    def stop(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)


def tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})\n"
