"""Agents for the liveness tests (run inside worker processes: keep this free of pytest).

Each one reports on a beacon (a FIFO path, ``ready``) once it is set up, with the pids the test
needs, so the test acts on what the agent says instead of on sleeps.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

_LEAK: list[bytes] = []


def _report(ready: str, *pids: int) -> None:
    with open(ready, "w") as f:
        f.write(" ".join(str(p) for p in pids or (os.getpid(),)) + "\n")


def clean_on_sigterm(how: str, ready: str) -> str:
    """The "clean shutdown" pattern: a SIGTERM handler that sets a flag (``how="flag"``: the task
    then returns) or raises ``SystemExit`` (``how="exit"``). It finishes well within the grace."""
    stop = []

    def handler(signum: int, frame: Any) -> None:
        if how == "exit":
            raise SystemExit(0)
        stop.append(signum)

    signal.signal(signal.SIGTERM, handler)
    _report(ready)
    while not stop:
        time.sleep(0.01)
    return "stopped cleanly"


def _fork_sleeper(setsid: bool, left_group: int | None = None) -> int:
    """Fork a child that sleeps for an hour (with ``setsid``: in a session and group of its own,
    then it writes a byte to the fd ``left_group``); returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            if setsid:
                os.setsid()
            if left_group is not None:
                os.write(left_group, b"x")
            time.sleep(3600)
        finally:
            os._exit(0)
    return pid


def fork_then_hang(ready: str, setsid: bool = False) -> None:
    """Fork a child that sleeps (holding every fd the worker had, its sentinel's write end among
    them; with ``setsid`` it leaves the worker's session and group too), then hang."""
    pid = _fork_sleeper(setsid)
    _report(ready, os.getpid(), pid)
    time.sleep(3600)


def fork_on_sigterm(ready: str, child_file: str) -> None:
    """Hang; on SIGTERM (the kill's first step, after it listed this worker's tree) fork a child
    that leaves the group (``setsid``) and sleeps, write its pid to ``child_file``, and exit."""

    def handler(signum: int, frame: Any) -> None:
        r, w = os.pipe()
        pid = _fork_sleeper(True, left_group=w)
        os.read(r, 1)  # the child has left the group
        with open(child_file, "w") as f:
            f.write(str(pid))
        os._exit(0)

    signal.signal(signal.SIGTERM, handler)
    _report(ready)
    time.sleep(3600)


def leak(megabytes: float) -> int:
    """Keep ``megabytes`` more memory for the life of the worker (loky's leak test); returns
    the worker's pid."""
    _LEAK.append(b"x" * int(megabytes * 2**20))
    return os.getpid()


def big_result_after_report(ready: str, megabytes: int) -> bytes:
    """Report, then return ``megabytes`` of bytes (the test kills the worker while it sends)."""
    value = b"\0" * (megabytes * 2**20)
    _report(ready)
    return value


def pid() -> int:
    return os.getpid()


def exit_interpreter() -> None:
    sys.exit(0)


def chaos(kind: str, value: int) -> int:
    """One task of the chaos run: its fault comes from inside (``kind``)."""
    if kind == "raise":
        raise RuntimeError(f"chaos {value}")
    if kind == "crash":
        os._exit(3)
    if kind == "polite":  # a SIGTERM handler that lets the task return in the kill's grace
        stop: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
        while not stop:
            time.sleep(0.005)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return value
    if kind == "fork":  # a forked child holds the worker's fds; then the task hangs
        _fork_sleeper(True)
        time.sleep(3600)
    if kind == "hang":
        time.sleep(3600)
    return value
