"""Run a command-line program and record checks on its result.

Shared by the chimectl tests. Each failed check prints the command that ran,
its exit status and both outputs, so a failure can be repeated by hand.
"""

import shlex
import subprocess
import sys

# A single `chimectl next` run takes milliseconds; this only stops a hang.
TIMEOUT_SECONDS = 60


class Result:
    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def lines(self):
        return self.stdout.splitlines()

    def describe(self):
        return (
            f"  ran: {shlex.join(self.argv)}\n"
            f"  exit status: {self.returncode}\n"
            f"  stdout: {self.stdout!r}\n"
            f"  stderr: {self.stderr!r}"
        )


def run(argv, env=None):
    try:
        completed = subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env
        )
    except subprocess.TimeoutExpired as e:
        return Result(argv, None, e.stdout or "", f"timed out after {TIMEOUT_SECONDS} s")
    return Result(argv, completed.returncode, completed.stdout, completed.stderr)


class Checker:
    """Counts checks and prints each failure with the run it concerns."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, result, detail=""):
        if condition:
            self.passed += 1
            return True
        self.failed += 1
        print(f"FAIL {name}")
        if detail:
            print(f"  {detail}")
        print(result.describe())
        return False

    def check_lines(self, name, result, expected):
        """Checks exit status 0 and that stdout is exactly `expected`, a line each.

        Returns False when either fails; the output is not compared after a
        wrong exit status, whose report already shows it.
        """
        if not self.check(
            f"{name}: exit status", result.returncode == 0, result, "expected exit status 0"
        ):
            return False
        actual = result.lines()
        detail = "expected lines:\n" + "".join(f"    {line}\n" for line in expected)
        detail += "  actual lines:\n" + "".join(f"    {line}\n" for line in actual)
        return self.check(f"{name}: output", actual == expected, result, detail.rstrip())

    def check_usage_error(self, name, result, *fragments):
        """Checks exit status 2 and one stderr line "chimectl: ..." containing each fragment."""
        self.check(f"{name}: exit status", result.returncode == 2, result, "expected exit status 2")
        self.check(f"{name}: no output", result.stdout == "", result, "expected empty stdout")
        error_lines = result.stderr.splitlines()
        self.check(
            f"{name}: one error line",
            len(error_lines) == 1 and error_lines[0].startswith("chimectl: "),
            result,
            'expected exactly one stderr line starting with "chimectl: "',
        )
        for fragment in fragments:
            self.check(
                f"{name}: message names {fragment!r}",
                fragment.lower() in result.stderr.lower(),
                result,
                f"expected stderr to contain {fragment!r}",
            )

    def finish(self):
        """Prints "N passed, M failed" and returns the process exit status."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def usage_exit(script, message):
    print(f"{script}: {message}", file=sys.stderr)
    sys.exit(2)
