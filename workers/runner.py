"""The worker's main loop: receive an attempt, run it, send back the value or the error.

One worker runs one task at a time and talks to the parent over its own private pipe, so the
parent always knows which process runs which task and can kill exactly that one. On start the
worker:

* leaves the parent's session (``setsid``), so a terminal's Ctrl-C reaches only the parent, which
  decides what dies, and the worker's process group holds the task's whole tree;
* becomes a child subreaper (Linux), so a double-forked grandchild that leaves the tree is
  re-parented to the worker and is still found and killed with it;
* watches a lifeline pipe on a daemon thread: when the parent dies (even by SIGKILL) the pipe
  reads EOF and the worker kills its own tree and exits at once, even in the middle of a task.

A task's processes end with the task: descendants still running when it returns are killed
before the next task (one ``waitpid`` tells whether there are any).

Results and errors are serialised here, before sending, so a value or exception that cannot be
pickled becomes a plain error record for its own task instead of breaking the channel.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from . import context
from .capture import capture, plain_error, safe_str
from .protocol import (
    DEFINE,
    DONE,
    EXIT,
    FN_PATH,
    INLINE_LIMIT,
    PICKLE_PROTOCOL,
    RAW,
    READY,
    RESET,
    RUN,
    ErrorTuple,
)
from .resolve import resolve

__all__ = ["main"]

_PR_SET_CHILD_SUBREAPER = 36


def main(conn: Connection, lifeline: Connection | None, cwd: str | None = None) -> None:
    """Entry point of a worker process (the target the pool starts)."""
    _prepare_process(cwd)
    if lifeline is not None:
        threading.Thread(
            target=_watch_parent, args=(lifeline.fileno(),), name="lifeline", daemon=True
        ).start()
    Worker(conn).serve()


class Worker:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.functions: dict[Any, Callable[..., Any] | _Lazy | _Unpickle] = {}
        self.memory = _PeakMemory()

    def serve(self) -> None:
        conn = self.conn
        conn.send_bytes(pickle.dumps((READY, os.getpid()), PICKLE_PROTOCOL))
        while True:
            try:
                msg = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return  # the parent went away
            tag = msg[0]
            if tag == RUN:
                args = msg[6] if msg[6] is not None else conn.recv_bytes()
                self.run(msg[1], msg[2], msg[3], msg[4], msg[5], args)
            elif tag == DEFINE:
                self.define(msg[1], msg[2], msg[3])
            elif tag == RESET:
                self.functions.clear()
            elif tag == EXIT:
                return

    def define(self, key: Any, kind: int, payload: Any) -> None:
        if kind == FN_PATH:
            self.functions[key] = _Lazy(payload)
        else:
            self.functions[key] = _Unpickle(payload)

    def run(self, ticket: int, fn_key: Any, task_id: str, attempt: int, timeout: float | None,
            args_bytes: bytes) -> None:
        self.memory.reset()
        # process_time has nanosecond resolution (os.times counts 10 ms clock ticks); children
        # the task waited for count too (their CPU is added to ours when they are reaped).
        cpu0 = time.process_time() + _children_cpu()
        t0 = time.perf_counter()
        ctx = context.TaskContext(task_id, attempt, None if timeout is None else time.monotonic()
                                  + timeout)
        context._set(ctx)
        ok = False
        value: Any = None
        error: ErrorTuple | None = None
        try:
            try:
                fn = self.functions[fn_key]
                if isinstance(fn, (_Lazy, _Unpickle)):
                    fn = self.functions[fn_key] = fn.load()
            except BaseException as exc:
                error = capture(exc)
            else:
                try:
                    args, kwargs = pickle.loads(args_bytes)
                except BaseException as exc:
                    error = _pickling_error(task_id, "its arguments could not be unpickled in the "
                                            "worker", exc)
                else:
                    del args_bytes
                    try:
                        value = fn(*args, **kwargs)
                        ok = True
                    except BaseException as exc:  # SystemExit too: a task must not end the worker
                        error = capture(exc)
                    del args, kwargs
        finally:
            context._set(None)
        run_s = time.perf_counter() - t0
        cpu_s = time.process_time() + _children_cpu() - cpu0
        payload: bytes | None = None
        raw = False
        if ok:
            if type(value) is bytes and len(value) > INLINE_LIMIT:
                payload, raw = value, True  # sent as is: a pickle of it would be a second copy
            else:
                try:
                    payload = _dumps(value)
                except BaseException as exc:
                    ok = False
                    what = f"it returned a {type(value).__qualname__} that cannot be pickled"
                    error = _pickling_error(task_id, what, exc)
            del value
        if _reap_zombies():
            _kill_leftovers()  # before the result: when the parent has it, they are gone
        # Reading the peak costs ~8 us (the kernel renders /proc/self/status): more than a
        # sub-millisecond task itself, and on a busy machine it halved no-op throughput.
        peak = self.memory.peak() if run_s >= PEAK_RSS_MIN_RUN_S else None
        self._send_done(ticket, ok, payload, raw, error, run_s, cpu_s, peak, ctx.reports)

    def _send_done(self, ticket: int, ok: bool, payload: bytes | None, raw: bool,
                   error: ErrorTuple | None, run_s: float, cpu_s: float, peak: int | None,
                   reports: dict[str, Any]) -> None:
        big = payload is not None and len(payload) > INLINE_LIMIT
        value = RAW if raw else None if big else payload
        header = (DONE, ticket, ok, value, error, run_s, cpu_s, peak, reports)
        try:
            data = pickle.dumps(header, PICKLE_PROTOCOL)
        except BaseException as exc:  # unpicklable reports: keep the result, say what was lost
            lost = {"reports_error": f"reports could not be pickled: {safe_str(exc)}"}
            data = pickle.dumps(header[:8] + (lost,), PICKLE_PROTOCOL)
        self.conn.send_bytes(data)
        if big:
            assert payload is not None
            self.conn.send_bytes(payload)


class _Lazy:
    """An import path, resolved on first use (so a bad path fails only its own tasks)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Callable[..., Any]:
        return resolve(self.path)


class _Unpickle:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def load(self) -> Callable[..., Any]:
        fn = pickle.loads(self.payload)
        if not callable(fn):
            raise TypeError(f"task function unpickled to a non-callable {type(fn).__qualname__}")
        return fn  # type: ignore[no-any-return]


def _dumps(value: Any) -> bytes:
    try:
        return pickle.dumps(value, PICKLE_PROTOCOL)
    except Exception:
        # Lambdas, closures and classes defined on the fly: cloudpickle handles them by value.
        import cloudpickle

        return cloudpickle.dumps(value, PICKLE_PROTOCOL)  # type: ignore[no-any-return]


def _pickling_error(task_id: str, what: str, exc: BaseException) -> ErrorTuple:
    return plain_error(
        "pickling", type(exc).__qualname__, f"task {task_id!r}: {what}: {safe_str(exc)}"
    )


# Attempts shorter than this report no peak memory (``peak_rss`` is None).
PEAK_RSS_MIN_RUN_S = 0.001


class _PeakMemory:
    """Peak resident memory of this process during one attempt (Linux: VmHWM, reset per task)."""

    def __init__(self) -> None:
        try:
            self._clear = os.open("/proc/self/clear_refs", os.O_WRONLY)
            self._status = os.open("/proc/self/status", os.O_RDONLY)
        except OSError:
            self._clear = self._status = -1

    def reset(self) -> None:
        if self._clear >= 0:
            try:
                os.write(self._clear, b"5")  # "5": reset the peak RSS counter (Linux >= 4.0)
            except OSError:
                self._clear = -1

    def peak(self) -> int | None:
        if self._status >= 0:
            try:
                text = os.pread(self._status, 8192, 0)
                start = text.index(b"VmHWM:") + 6
                return int(text[start:text.index(b"kB", start)]) * 1024
            except (OSError, ValueError):
                return None
        try:
            import resource

            scale = 1 if sys.platform == "darwin" else 1024
            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
        except Exception:
            return None


def _prepare_process(cwd: str | None) -> None:
    # The parent decides what dies; a terminal's Ctrl-C must not reach the worker directly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:
            pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except Exception:
            pass
    # The pool starts workers as daemons (so the parent never waits for them at exit), but a
    # daemonic process may not start multiprocessing children, which tasks may want to do: the
    # lifeline and kill_tree already make sure those children die with the worker.
    import multiprocessing

    multiprocessing.current_process().daemon = False
    # "pkg.mod:func" paths are resolved against the directory the user ran from.
    path = cwd or os.getcwd()
    if path not in sys.path:
        sys.path.insert(0, path)


try:
    import resource
except ImportError:  # pragma: no cover - Windows: no waited-for children's CPU
    resource = None  # type: ignore[assignment]


def _children_cpu() -> float:
    if resource is None:  # pragma: no cover
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_zombies() -> bool:
    """Collect exited children (orphans re-parented to this subreaper too), between tasks.

    Returns whether a child is still running: one ``waitpid`` answers both, so the common case
    (no children at all) costs a single system call."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        except OSError:
            return False
        if pid == 0:
            return True


def _kill_leftovers() -> None:
    """A task's processes end with the task: SIGKILL every descendant still running after it
    returned (a subreaper's tree holds even double-forked daemons), then collect them."""
    import psutil

    from .tree import signal_all

    procs = psutil.Process().children(recursive=True)
    signal_all(procs)
    psutil.wait_procs(procs, timeout=1.0)
    _reap_zombies()


def _watch_parent(fd: int) -> None:
    """Block on the lifeline; the parent never writes, so EOF means it is gone."""
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    _kill_own_tree()


def _kill_own_tree() -> None:
    try:
        import psutil

        from .tree import signal_all

        signal_all(psutil.Process().children(recursive=True))
    except Exception:  # dying anyway: the group kill below still takes what stayed in it
        pass
    if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
        try:
            os.killpg(0, signal.SIGKILL)  # the group: us and whatever stayed in it
        except OSError:
            pass
    os._exit(70)
