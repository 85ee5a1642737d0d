#!/usr/bin/env python3
"""Runs the Python package's pytest suite for `meson test` and prints a doctest-style summary line
("[doctest] test cases: N | P passed | F failed | S skipped"), which scripts/test-summary.sh counts like
the C++ suites'. The extension module is taken from $WGFLOW_PYTHON_BUILD, the package from
$WGFLOW_PYTHON_SOURCE (the source tree: no install needed)."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree (pytest honours it too)
import pytest  # noqa: E402


class Counter:
    """Counts test outcomes (a case that fails in setup or teardown counts as failed)."""

    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            if report.passed:
                self.passed += 1
            elif report.failed:
                self.failed += 1
            elif report.skipped:
                self.skipped += 1
        elif report.failed:
            self.failed += 1
        elif report.skipped and report.when == "setup":
            self.skipped += 1


def main():
    tests = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    paths = [os.environ.get("WGFLOW_PYTHON_BUILD", ""), os.environ.get("WGFLOW_PYTHON_SOURCE", "")]
    sys.path[:0] = [p for p in paths if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([p for p in paths if p] + [os.environ.get("PYTHONPATH", "")])
    counter = Counter()
    status = pytest.main(["-q", "-p", "no:cacheprovider", tests, *sys.argv[2:]], plugins=[counter])
    total = counter.passed + counter.failed + counter.skipped
    print(f"[doctest] test cases: {total} | {counter.passed} passed | {counter.failed} failed | "
          f"{counter.skipped} skipped")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
