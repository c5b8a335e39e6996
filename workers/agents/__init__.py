"""Reference agents for examples, the CLI demo, benchmarks and tests.

Each is an ordinary function, importable as ``"workers.agents:<name>"``. The fault agents
(``crash``, ``hang``, ``ignore_sigterm``, ...) exist so the fault-tolerance claims can be shown on
real processes. The demo workloads of the examples live beside them and load on demand:
``analysis`` (the standard library's sources), ``montecarlo``, and ``model_stub`` (a stand-in for
a paid model call).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from ..context import current_task

__all__ = [
    "burn_cpu", "sleep", "echo", "add", "fail", "flaky", "crash", "hang", "busy_hang",
    "hang_in_c", "ignore_sigterm", "spawn_children", "double_fork", "allocate", "big_value",
    "return_unpicklable", "return_worker_only_class", "raise_unpicklable", "raise_holding_lock",
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
    or ``"memory"`` (an allocation that fails: MemoryError)."""
    sys.stdout.flush()
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif how == "exit":
        os._exit(code)
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "memory":
        bytearray(1 << 50)  # a petabyte: the allocation fails, Python raises MemoryError
    raise ValueError(f"crash(how=...) must be 'segfault', 'exit', 'kill' or 'memory', got {how!r}")


def _report_ready(ready: str | None, text: str = "") -> None:
    """Tell a watcher (a FIFO or a file at ``ready``) that the agent is set up: one line."""
    if ready is not None:
        with open(ready, "w") as f:
            f.write(f"{text or os.getpid()}\n")


def hang(seconds: float = 3600.0, ready: str | None = None) -> None:
    """Sleep far past any sensible timeout."""
    _report_ready(ready)
    time.sleep(seconds)


def busy_hang(seconds: float = 3600.0, ready: str | None = None) -> None:
    """Spin on the CPU far past any sensible timeout."""
    _report_ready(ready)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def hang_in_c(ready: str | None = None) -> None:
    """Hang inside one C call that holds the GIL and never checks for signals (a regular
    expression with catastrophic backtracking): no Python code runs here until it is killed."""
    import re

    _report_ready(ready)
    re.match(r"(a+)+$", "a" * 64 + "b")


def ignore_sigterm(seconds: float = 3600.0, ready: str | None = None) -> None:
    """Ignore SIGTERM, then hang: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _report_ready(ready)
    time.sleep(seconds)


# A child that starts its own subtree (``depth`` levels), prints every pid of it on one line
# once all of them are up (and ignore SIGTERM, when asked), then sleeps.
_CHILD = """
import os, signal, subprocess, sys, time
depth, ignore, seconds, code = int(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4]
if ignore:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pids = [str(os.getpid())]
if depth > 1:
    p = subprocess.Popen([sys.executable, "-c", code, str(depth - 1), sys.argv[2], sys.argv[3],
                          code], stdout=subprocess.PIPE)
    pids += p.stdout.readline().decode().split()
print(" ".join(pids), flush=True)
time.sleep(seconds)
"""


def _subtree(depth: int, ignore: bool, seconds: float) -> tuple[subprocess.Popen[bytes], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(depth), "1" if ignore else "0", str(seconds), _CHILD],
        stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, [int(p) for p in proc.stdout.readline().split()]


def _mp_child(conn: Any, depth: int, ignore: bool, seconds: float) -> None:
    if ignore:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = [os.getpid()]
    if depth > 1:
        pids += _subtree(depth - 1, ignore, seconds)[1]
    conn.send(pids)
    time.sleep(seconds)


def spawn_children(count: int = 2, seconds: float = 3600.0, hang_after: bool = True, *,
                   how: str = "subprocess", depth: int = 1, ignore_sigterm: bool = False,
                   ready: str | None = None) -> list[int]:
    """Start ``count`` child processes (``how``: ``"subprocess"`` or ``"multiprocessing"``,
    forked), each with ``depth - 1`` levels of descendants below it, that sleep ``seconds``
    (ignoring SIGTERM if asked). Once all are up, report their pids on ``ready``; then hang
    (or return the pids)."""
    pids: list[int] = []
    keep: list[Any] = []
    for _ in range(count):
        if how == "subprocess":
            proc, tree = _subtree(depth, ignore_sigterm, seconds)
            keep.append(proc)
        elif how == "multiprocessing":
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            recv, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_mp_child, args=(send, depth, ignore_sigterm, seconds))
            child.start()
            tree = recv.recv()
            keep.append(child)
        else:
            raise ValueError(f"how must be 'subprocess' or 'multiprocessing', got {how!r}")
        pids += tree
    _report_ready(ready, " ".join(map(str, pids)))
    if hang_after:
        time.sleep(seconds)
    return pids


_DOUBLE_FORK = """
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()  # a new session: out of the worker's process group too
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # as a daemon does: let go of the caller's pipes
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        time.sleep(float(sys.argv[1]))
    os._exit(0)
os.close(w)
print(os.read(r, 64).decode(), flush=True)
"""


def double_fork(seconds: float = 3600.0, ready: str | None = None) -> int:
    """Start a daemon the classic way (fork, setsid, fork, the middle one exits): it leaves
    this process's tree and group. Report its pid on ``ready``, then hang."""
    out = subprocess.run([sys.executable, "-c", _DOUBLE_FORK, str(seconds)],
                         stdout=subprocess.PIPE, check=True).stdout
    pid = int(out.split()[0])
    _report_ready(ready, str(pid))
    time.sleep(seconds)
    return pid


def allocate(megabytes: float, hold: float = 0.0) -> int:
    """Touch ``megabytes`` of memory, keep it ``hold`` seconds; returns the size in bytes."""
    block = bytearray(int(megabytes * 1024 * 1024))
    for i in range(0, len(block), 4096):
        block[i] = 1
    if hold:
        time.sleep(hold)
    return len(block)


def big_value(megabytes: float) -> bytes:
    """Return ``megabytes`` of (touched, non-zero) bytes."""
    return b"\x01" * int(megabytes * 1024 * 1024)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def return_unpicklable() -> Any:
    """Return an object holding a lock (cannot be pickled)."""
    return _Holder()


def return_worker_only_class() -> Any:
    """Return an instance of a class whose module exists only in this worker: it pickles here
    (by reference) but the parent cannot import it to unpickle it."""
    import types

    module = types.ModuleType("_orchestrator_worker_only")

    class OnlyInWorker:
        pass

    OnlyInWorker.__module__ = module.__name__
    OnlyInWorker.__qualname__ = "OnlyInWorker"
    module.OnlyInWorker = OnlyInWorker  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return OnlyInWorker()


class NeedsArgsError(Exception):
    """Cannot be unpickled: its __init__ needs two arguments but pickling records only one."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


def raise_unpicklable() -> None:
    raise NeedsArgsError(42, "required constructor arguments")


class LockedError(Exception):
    """Cannot be pickled: it holds a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_holding_lock(message: str = "an error that holds a lock") -> None:
    raise LockedError(message)
