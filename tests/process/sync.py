"""Synchronisation for tests on real processes: no sleeps, no luck.

* ``Beacon``: a FIFO that an agent writes one line to once it is set up (``ready=beacon.path``),
  e.g. after it installed a SIGTERM handler or started its children (the line carries their
  pids). The test blocks on ``beacon.read(n)`` instead of sleeping "long enough".
* ``Gate``: a file the test holds an exclusive ``flock`` on; ``wait_gate`` (run as a task) blocks
  until the test releases it. Bystander tasks wait there, so they are certainly still running
  when the fault under test happens, and they finish only when the test says so.
* ``JumpClock``: the real monotonic clock plus an offset the test can jump forward. A task's
  timeout is set far away (only a deadlock reaches it); the test jumps the clock once the agent
  is ready and wakes the pool, so the deadline fires exactly then, whatever the machine's load.
* ``wait_gone``: wait (bounded) until processes are gone, treating zombies as gone and reaping
  the ones re-parented to the test process.

This module is imported inside worker processes too (``wait_gate``): keep it free of pytest.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import select
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import psutil

_names = itertools.count()


class Beacon:
    """A named pipe agents report readiness through, one line per report (< PIPE_BUF: atomic)."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / f"beacon-{os.getpid()}-{next(_names)}")
        os.mkfifo(self.path)
        self._r = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        # Our own idle writer: the read end never sees EOF between two agents' reports.
        self._w = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        self._buffer = b""
        self.lines: list[str] = []

    def read(self, count: int = 1, timeout: float = 60.0) -> list[str]:
        """Block until ``count`` more lines arrived; ``timeout`` is a deadlock guard only."""
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while len(got) < count:
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                got.append(line.decode())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"beacon: {len(got)} of {count} reports after {timeout}s")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                try:
                    self._buffer += os.read(self._r, 65536)
                except BlockingIOError:
                    pass
        self.lines.extend(got)
        return got

    def pids(self, count: int = 1, timeout: float = 60.0) -> list[list[int]]:
        """Read ``count`` reports made of space-separated pids."""
        return [[int(x) for x in line.split()] for line in self.read(count, timeout)]

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


def on_ready(beacon: Beacon, action: Callable[[list[str]], Any], count: int = 1,
             timeout: float = 60.0) -> threading.Thread:
    """Run ``action(lines)`` on a thread once ``count`` reports arrived."""

    def run() -> None:
        try:
            lines = beacon.read(count, timeout)
        except TimeoutError:
            return
        action(lines)

    thread = threading.Thread(target=run, name="beacon-watch", daemon=True)
    thread.start()
    return thread


class Gate:
    """Closed on creation; ``release()`` lets every ``wait_gate`` task through (and later ones)."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / f"gate-{os.getpid()}-{next(_names)}")
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        os.close(self._fd)


def wait_gate(path: str, value: Any = None) -> Any:
    """A task: block until the test releases the gate at ``path``, then return ``value``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)
    return value


class JumpClock:
    """Monotonic time that the test can move forward at once (never backwards)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


def is_gone(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:  # a zombie re-parented to us (the test process is a subreaper): collect it
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


def wait_gone(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """Wait until every pid is gone; returns the ones still alive after ``timeout``."""
    left = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in left if not is_gone(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)  # bounded patience for processes already dying (loky's tests do this)


def alive(pids: Iterable[int]) -> list[int]:
    return [p for p in pids if not is_gone(p)]


def report_and_wait(ready: str, gate: str) -> int:
    """A task: report this worker's pid, then wait for the gate; returns the pid."""
    with open(ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    wait_gate(gate)
    return os.getpid()


def fail_after_gate(gate: str, message: str) -> None:
    """A task: wait for the gate, then raise ``RuntimeError(message)``."""
    wait_gate(gate)
    raise RuntimeError(message)


def exit_after_gate(gate: str, code: int = 3) -> None:
    """A task: wait for the gate, then end the worker with ``os._exit(code)``."""
    wait_gate(gate)
    os._exit(code)


def leave_thread_running() -> int:
    """A task: start a non-daemon thread that never ends (an interpreter waits for such threads
    before it exits); returns the worker's pid."""
    threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
    return os.getpid()


def element_after_gate(element: Any, ready: str, gate: str) -> Any:
    """A task: report that it runs (its element), wait for the gate, return its element."""
    with open(ready, "w") as f:
        f.write(f"{element}\n")
    wait_gate(gate)
    return element
