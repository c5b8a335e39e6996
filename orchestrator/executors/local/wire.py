"""The parent's side of ``workers.protocol``: what it sends to a worker and to the reaper, what it
receives, and the table of task functions a run defines in its workers.

A function crosses once per worker and run: DEFINE gives it a small key, and every RUN names the
key. An import path is sent as the path (each worker imports it); any other callable is pickled
by value (cloudpickle) when the run first meets it.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable, Tuple

from workers.protocol import (
    EXIT_FRAME,
    FN_PATH,
    FN_PICKLED,
    GOODBYE_FRAME,
    RESET_FRAME,
    Message,
    encode_define,
    encode_run,
    encode_unwatch,
    encode_watch,
    receive,
)

from ..base import Attempt
from ..pickling import dumps_function

__all__ = ["Wire", "ReaperWire", "FunctionTable", "Function"]

# (key, kind, payload): what DEFINE sends
Function = Tuple[int, int, Any]


class FunctionTable:
    """The task functions of one run, by identity: an import path, or the callable's ``id``."""

    def __init__(self) -> None:
        self._entries: dict[Any, Function] = {}
        self._alive: list[Callable[..., Any]] = []  # so a callable's id() stays its own

    def add(self, task_id: str, fn: Any) -> None:
        """Give ``fn`` a key (pickling it if it is not a path) unless it has one. Mutates."""
        ident = fn if isinstance(fn, str) else id(fn)
        if ident in self._entries:
            return
        if isinstance(fn, str):
            self._entries[ident] = (len(self._entries), FN_PATH, fn)
        else:
            self._entries[ident] = (len(self._entries), FN_PICKLED, dumps_function(task_id, fn))
            self._alive.append(fn)

    def __getitem__(self, fn: Any) -> Function:
        return self._entries[fn if isinstance(fn, str) else id(fn)]

    def clear(self) -> None:
        self._entries.clear()
        self._alive.clear()


class Wire:
    """One worker's private pipe, spoken from the parent's side; it remembers which functions
    that worker has been given."""

    __slots__ = ("conn", "defined")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.defined: set[int] = set()

    def send_run(self, attempt: Attempt, fn: Function) -> bool:
        """Send ``attempt`` (after its function, the first time this worker needs it); False
        when the worker is dying (its sentinel will say so)."""
        key, kind, payload = fn
        send = self.conn.send_bytes
        try:
            if key not in self.defined:
                send(encode_define(key, kind, payload))
                self.defined.add(key)
            header, extra = encode_run(attempt.ticket, key, attempt.task_id, attempt.attempt,
                                       attempt.timeout, attempt.prepared, attempt.output)
            send(header)
            if extra is not None:
                send(extra)
        except (OSError, ValueError):
            return False
        return True

    def send_reset(self) -> None:
        """Make the worker forget its functions (a new run begins), if it has any."""
        if self.defined:
            self._send(RESET_FRAME)
            self.defined.clear()

    def send_exit(self) -> None:
        """Ask the worker to exit once it has run what was sent."""
        self._send(EXIT_FRAME)

    def receive(self) -> Message | None:
        """The worker's next message; None once the pipe is closed (the worker is gone)."""
        try:
            return receive(self.conn)
        except (EOFError, OSError):
            return None

    def pending(self) -> bool:
        """Whether something (a message, or the end) can be read now."""
        try:
            return bool(self.conn.poll(0))
        except OSError:
            return False

    def fileno(self) -> int:
        return int(self.conn.fileno())

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def _send(self, frame: bytes) -> None:
        try:
            self.conn.send_bytes(frame)
        except OSError:
            pass  # the worker is dying: its sentinel will say so


class ReaperWire:
    """The pipe to the pool's reaper (``workers.reaper``): which workers to kill if we die.

    Writes never block: a reaper that is stopped (SIGSTOP) or starved must not stop the parent
    (a blocking pipe filled after ~1,400 worker deaths and froze the loop in ``send``). What the
    pipe cannot take yet waits here as one order per pid (the last one given), so a frozen
    reaper costs a few bytes per worker, and goes out on the next ``flush``. Frames are written
    as ``Connection.send_bytes`` frames them, so the reaper reads them with ``recv_bytes``.
    """

    __slots__ = ("conn", "_fd", "_out", "_orders")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._fd: int = conn.fileno()
        os.set_blocking(self._fd, False)
        self._out = bytearray()  # framed orders, partly written
        self._orders: dict[int, bool] = {}  # pid -> watch (True) or unwatch, not yet framed

    def fileno(self) -> int:
        return self._fd

    @property
    def pending(self) -> bool:
        """Whether orders are waiting for the reaper to read."""
        return bool(self._out or self._orders)

    def watch(self, pid: int) -> None:
        self._orders[pid] = True
        self.flush()

    def unwatch(self, pid: int) -> None:
        self._orders[pid] = False  # never dropped: an earlier WATCH of this pid may be out
        self.flush()

    def flush(self) -> bool:
        """Write what the pipe takes now; True when nothing is left waiting."""
        while True:
            if not self._out:
                if not self._orders:
                    return True
                for pid, watch in self._orders.items():
                    frame = encode_watch(pid) if watch else encode_unwatch(pid)
                    self._out += struct.pack("!i", len(frame)) + frame
                self._orders.clear()
            try:
                written = os.write(self._fd, self._out)
            except BlockingIOError:
                return False
            except OSError:  # the reaper is gone: its keeper restarts it and says it all again
                self._out.clear()
                return True
            del self._out[:written]

    def goodbye(self) -> bool:
        """The pool closes normally: the reaper exits and leaves the workers alone. False when
        the reaper could not take it (stopped): it must then be killed."""
        self._orders.clear()
        self._out += struct.pack("!i", len(GOODBYE_FRAME)) + GOODBYE_FRAME
        done = self.flush()
        self.close()
        return done

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
