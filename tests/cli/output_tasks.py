"""Tasks for tests/cli/test_task_output.py (importable by the CLI's workers through PYTHONPATH)."""

from __future__ import annotations

import os
import sys
import time


def print_then_wait(ready: str, seen: str) -> str:
    print("before the wait", flush=True)
    with open(ready, "w"):
        pass
    deadline = time.monotonic() + 120
    while not os.path.exists(seen) and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting on the test's file, not for time to pass
    print("after the wait", file=sys.stderr)
    return "done" if os.path.exists(seen) else "gave up"


def both() -> None:
    print("one")
    print("two")
    print("three", file=sys.stderr)
