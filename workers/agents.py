"""Reference agents for examples, the CLI demo, benchmarks and tests.

Each is an ordinary function, importable as ``"workers.agents:<name>"``. The fault agents
(``crash``, ``hang``, ``ignore_sigterm``, ...) exist so the fault-tolerance claims can be shown on
real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .context import current_task

__all__ = [
    "burn_cpu", "sleep", "echo", "add", "fail", "flaky", "crash", "hang", "busy_hang",
    "ignore_sigterm", "spawn_children", "allocate", "return_unpicklable", "raise_unpicklable",
    "noop",
]


def noop() -> None:
    """Do nothing: measures pure dispatch cost."""
    return None


def burn_cpu(seconds: float) -> int:
    """Keep one core busy for ``seconds`` of CPU time; returns the loop count.

    Counting CPU time (not wall time) keeps the amount of work fixed when cores are shared,
    which is what a speedup measurement needs.
    """
    end = time.process_time() + seconds
    n = 0
    x = 0
    while time.process_time() < end:
        for i in range(2000):
            x = (x * 31 + i) % 1_000_003
        n += 1
    return n


def sleep(seconds: float) -> float:
    """Wait ``seconds`` without using the CPU (stands in for I/O or a model call)."""
    time.sleep(seconds)
    return seconds


def echo(value: Any) -> Any:
    return value


def add(*values: Any) -> Any:
    """Sum the arguments (numbers, or lists of numbers): a tiny merge step."""
    total: Any = 0
    for v in values:
        total += sum(v) if isinstance(v, (list, tuple)) else v
    return total


def fail(message: str = "agent failed") -> None:
    raise RuntimeError(message)


def flaky(failures: int, value: Any = "ok") -> Any:
    """Fail the first ``failures`` attempts, then return ``value``."""
    attempt = current_task().attempt
    if attempt <= failures:
        raise RuntimeError(f"flaky: attempt {attempt} of {failures} planned failures")
    return value


def crash(how: str = "exit", code: int = 3) -> None:
    """Kill this worker: ``"segfault"``, ``"exit"`` (``os._exit(code)``), ``"kill"`` (SIGKILL),
    or ``"memory"`` (raise MemoryError)."""
    sys.stdout.flush()
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif how == "exit":
        os._exit(code)
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "memory":
        raise MemoryError("agent asked for more memory than there is")
    raise ValueError(f"crash(how=...) must be 'segfault', 'exit', 'kill' or 'memory', got {how!r}")


def hang(seconds: float = 3600.0) -> None:
    """Sleep far past any sensible timeout."""
    time.sleep(seconds)


def busy_hang(seconds: float = 3600.0) -> None:
    """Spin on the CPU far past any sensible timeout."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def ignore_sigterm(seconds: float = 3600.0) -> None:
    """Ignore SIGTERM, then hang: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)


def spawn_children(count: int = 2, seconds: float = 3600.0, hang_after: bool = True) -> list[int]:
    """Start ``count`` child processes that sleep; then hang (or return their pids)."""
    procs = [
        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
        for _ in range(count)
    ]
    pids = [p.pid for p in procs]
    if hang_after:
        time.sleep(seconds)
    return pids


def allocate(megabytes: float, hold: float = 0.0) -> int:
    """Touch ``megabytes`` of memory, keep it ``hold`` seconds; returns the size in bytes."""
    block = bytearray(int(megabytes * 1024 * 1024))
    for i in range(0, len(block), 4096):
        block[i] = 1
    if hold:
        time.sleep(hold)
    return len(block)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def return_unpicklable() -> Any:
    """Return an object holding a lock (cannot be pickled)."""
    return _Holder()


class NeedsArgsError(Exception):
    """Cannot be unpickled: its __init__ needs two arguments but pickling records only one."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


def raise_unpicklable() -> None:
    raise NeedsArgsError(42, "required constructor arguments")
