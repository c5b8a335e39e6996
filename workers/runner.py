"""The worker's main loop: receive an attempt, run it, send back the value or the error.

One worker runs one task at a time and talks to the parent over its own private pipe, so the
parent always knows which process runs which task and can kill exactly that one. How the process
keeps itself and its children in order is ``workers.process``; the messages are
``workers.protocol``.

Results and errors are serialised here, before sending, so a value or exception that cannot be
pickled becomes a plain error record for its own task instead of breaking the channel.
"""

from __future__ import annotations

import gc
import os
import pickle
import time
from typing import TYPE_CHECKING, Any, Callable

from . import context
from .capture import capture, dumps_value, plain_error, safe_str
from .fence import Fence
from .hygiene import Baseline, plain_multiprocessing
from .output import Output
from .process import kill_leftovers, prepare_process, reap_children, watch_parent
from .protocol import (
    DEFINE,
    EXIT,
    FN_PATH,
    INLINE_LIMIT,
    PICKLED,
    RAW,
    RESET,
    RUN,
    ErrorTuple,
    encode_done,
    encode_ready,
    receive,
)
from .resolve import resolve
from .usage import PEAK_RSS_MIN_RUN_S, PeakMemory, cpu_time

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

__all__ = ["main"]


def main(conn: Connection, lifeline: Connection | None, cwd: str | None = None,
         fence: Connection | None = None) -> None:
    """Entry point of a worker process (the target the pool starts). ``fence``: the page of
    its ``Fence`` (``workers.fence``), handed over as a ``Connection`` so that the pool's
    process context passes it as it passes the pipes; None: every attempt sent runs."""
    prepare_process(cwd)
    plain_multiprocessing()
    if lifeline is not None:
        watch_parent(lifeline.fileno())
    output = Output()
    output.install()
    Worker(conn, output, _adopt(fence)).serve()


def _adopt(handle: Connection | None) -> Fence | None:
    if handle is None:
        return None
    fd = os.dup(handle.fileno())
    handle.close()
    return Fence(fd)


class Worker:
    """One worker's state: its pipe to the parent, the functions it was given, its memory probe,
    its captured output and the clean state every task starts from."""

    def __init__(self, conn: Connection, output: Output, fence: Fence | None = None) -> None:
        self.conn = conn
        self.fence = fence
        self.functions: dict[Any, Callable[..., Any] | _Lazy | _Unpickle] = {}
        self.memory = PeakMemory()
        self.output = output
        self.baseline: Baseline | None = None

    def serve(self) -> None:
        """Answer the parent's messages until EXIT or until the parent is gone."""
        conn = self.conn
        self.baseline = Baseline()
        # What start-up imported lives as long as the worker: out of the collector's sight, a
        # no-op task's few allocations no longer trigger scans of every module's objects.
        gc.collect()
        gc.freeze()
        conn.send_bytes(encode_ready(os.getpid()))
        fence = self.fence
        frames = 0  # RUN frames read: the fence's numbers
        while True:
            try:
                msg = receive(conn)
            except (EOFError, OSError):
                return  # the parent went away
            tag = msg[0]
            if tag == RUN:
                frames += 1
                if fence is None or fence.claim(frames):  # else the parent took it back
                    self.run(*msg[1:])
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
            output_dir: str | None, args_bytes: bytes) -> None:
        """Run one attempt, end what it left running, put back what it changed, send its DONE;
        exit after it when the task left a thread running (the worker is not clean)."""
        self.memory.reset()
        self.output.begin(task_id, attempt, output_dir)
        cpu0 = cpu_time()
        t0 = time.perf_counter()
        ctx = context.TaskContext(task_id, attempt, None if timeout is None else time.monotonic()
                                  + timeout)
        context._set(ctx)
        try:
            ok, value, error = self._call(fn_key, task_id, args_bytes)
        finally:
            context._set(None)
        run_s = time.perf_counter() - t0
        cpu_s = cpu_time() - cpu0
        assert self.baseline is not None
        clean = self.baseline.restore()
        form, payload = PICKLED, None
        if ok:
            if type(value) is bytes and len(value) > INLINE_LIMIT:
                form, payload = RAW, value  # sent as is: a pickle of it would be a second copy
            else:
                try:
                    payload = _dumps(value)
                except BaseException as exc:
                    ok = False
                    what = f"it returned a {type(value).__qualname__} that cannot be pickled"
                    error = _pickling_error(task_id, what, exc)
            del value
        if reap_children():
            kill_leftovers()  # before the result: when the parent has it, they are gone
        tails = self.output.end()
        # Reading the peak costs ~8 us (the kernel renders /proc/self/status): more than a
        # sub-millisecond task itself, and on a busy machine it halved no-op throughput.
        peak = self.memory.peak() if run_s >= PEAK_RSS_MIN_RUN_S else None
        header, extra = encode_done(ticket, ok, form, payload, error, run_s, cpu_s, peak,
                                    _reports(ctx.reports), tails, not clean)
        self.conn.send_bytes(header)
        if extra is not None:
            self.conn.send_bytes(extra)
        if not clean:
            # A thread the task started still runs: nothing can undo it, so this worker leaves
            # (the parent replaces it, uncharged). Not a return: the thread might hold exit.
            if reap_children():
                kill_leftovers()
            os._exit(0)

    def _call(self, fn_key: Any, task_id: str,
              args_bytes: bytes) -> tuple[bool, Any, ErrorTuple | None]:
        """Resolve the function, unpickle the arguments and call; ``(ok, value, error)``."""
        try:
            fn = self.functions[fn_key]
            if isinstance(fn, (_Lazy, _Unpickle)):
                fn = self.functions[fn_key] = fn.load()
        except BaseException as exc:
            return False, None, capture(exc)
        try:
            args, kwargs = pickle.loads(args_bytes)
        except BaseException as exc:
            what = "its arguments could not be unpickled in the worker"
            return False, None, _pickling_error(task_id, what, exc)
        try:
            return True, fn(*args, **kwargs), None
        except BaseException as exc:  # SystemExit too: a task must not end the worker
            return False, None, capture(exc)


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
    return dumps_value(value)


def _reports(reports: dict[str, Any]) -> dict[str, bytes] | None:
    """The reports, each figure pickled apart here: the DONE header always unpickles in the
    parent, and a figure that cannot be pickled here or unpickled there is the only one lost
    (``reports_error`` says which, on the result)."""
    if not reports:
        return None
    out: dict[str, bytes] = {}
    lost: list[str] = []
    for name, value in reports.items():
        try:
            out[name] = _dumps(value)
        except BaseException as exc:  # keep the result and the other figures
            lost.append(f"{name!r} could not be pickled in the worker: {safe_str(exc)}")
    if lost:
        out["reports_error"] = _dumps("; ".join(lost))
    return out


def _pickling_error(task_id: str, what: str, exc: BaseException) -> ErrorTuple:
    return plain_error(
        "pickling", type(exc).__qualname__, f"task {task_id!r}: {what}: {safe_str(exc)}"
    )
