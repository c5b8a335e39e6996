"""The parent's side of ``workers.protocol``: what it sends to a worker and to the reaper, what it
receives, and the table of task functions a run defines in its workers.

A function crosses once per worker and run: DEFINE gives it a small key, and every RUN names the
key. An import path is sent as the path (each worker imports it); any other callable is pickled
by value (cloudpickle) when the run first meets it.
"""

from __future__ import annotations

import io
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
    that worker has been given.

    Reading is buffered: one ``read`` takes every frame the pipe holds (``Connection.recv_bytes``
    made two reads a frame, length then body, through ``io.BytesIO``: a tenth of the parent's
    time per task). So a frame may wait here, not in the pipe, and ``pending`` says so; the
    pool's loop reads until nothing is left. A frame larger than one read is read on into a
    ``BytesIO``, as ``Connection`` reads one (the value is in memory once).
    """

    __slots__ = ("conn", "defined", "_buf", "_out")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.defined: set[int] = set()
        self._buf = bytearray()
        self._out = bytearray()  # framed, not yet written (``flush``)

    def send_run(self, attempt: Attempt, fn: Function) -> bool:
        """Send ``attempt`` (after its function, the first time this worker needs it) at the
        next ``flush``; False when the worker is dying (its sentinel will say so).

        Small frames wait here, so a step's attempts for one worker cost one write (a write
        per frame was a tenth of the parent's time per no-op task, and woke the worker for
        each); a large one goes at once, after them, and is not copied."""
        key, kind, payload = fn
        try:
            if key not in self.defined:
                self._put(encode_define(key, kind, payload))
                self.defined.add(key)
            header, extra = encode_run(attempt.ticket, key, attempt.task_id, attempt.attempt,
                                       attempt.timeout, attempt.prepared, attempt.output)
            self._put(header)
            if extra is not None:
                self._put(extra)
        except (OSError, ValueError):
            return False
        return True

    def flush(self) -> bool:
        """Write the frames waiting here; False when the worker is dying (they are dropped)."""
        out = self._out
        if not out:
            return True
        try:
            fd = self.conn.fileno()
            written = os.write(fd, out)
            while written < len(out):  # a partial write: the pipe was full
                written += os.write(fd, out[written:])
        except (OSError, ValueError):
            return False
        finally:
            out.clear()
        return True

    def _put(self, frame: bytes) -> None:
        if len(frame) <= _HOLD:
            self._out += _LENGTH.pack(len(frame))
            self._out += frame
            return
        if not self.flush():
            raise OSError("the worker's pipe is closed")
        self.conn.send_bytes(frame)

    def send_reset(self) -> None:
        """Make the worker forget its functions (a new run begins), if it has any."""
        if self.defined:
            self._send(RESET_FRAME)
            self.defined.clear()

    def send_exit(self) -> None:
        """Ask the worker to exit once it has run what was sent."""
        self._send(EXIT_FRAME)

    def receive(self) -> Message | None:
        """The worker's next message (waiting for the rest of one begun); None once the pipe is
        closed (the worker is gone). Call it when ``pending``."""
        try:
            return receive(self)
        except (EOFError, OSError):
            return None

    def pending(self) -> bool:
        """Whether something (a message, or the end) can be read now."""
        if self.buffered():
            return True
        try:
            return bool(self.conn.poll(0))
        except OSError:
            return False

    def buffered(self) -> bool:
        """Whether a whole frame waits in the buffer (no read needed)."""
        buf = self._buf
        have = len(buf)
        if have < 4:
            return False
        length: int = _LENGTH.unpack_from(buf)[0]
        if length >= 0:  # the usual 4-byte length (``_size`` has the 2 GiB form)
            return have >= 4 + length
        size = _size(buf)
        return size is not None and have >= size[0] + size[1]

    def recv_bytes(self) -> bytes:
        """The next frame, as ``Connection.recv_bytes`` gives it (``FrameSource``)."""
        buf = self._buf
        if len(buf) >= 4:  # the usual case first: a whole small frame is here
            length: int = _LENGTH.unpack_from(buf)[0]
            if 0 <= length <= len(buf) - 4:
                frame = bytes(buf[4:4 + length])
                del buf[:4 + length]
                return frame
        while True:
            size = _size(buf)
            if size is not None:
                head, length = size
                if len(buf) >= head + length:
                    frame = bytes(buf[head:head + length])
                    del buf[:head + length]
                    return frame
                if length > _CHUNK:
                    return self._large(head, length)
            self._fill()

    def fileno(self) -> int:
        return int(self.conn.fileno())  # raises once closed: its number may be another's now

    def close(self) -> None:
        self._buf.clear()
        self._out.clear()
        try:
            self.conn.close()
        except OSError:
            pass

    def _fill(self) -> None:
        chunk = os.read(self.conn.fileno(), _CHUNK)
        if not chunk:
            raise EOFError("the worker's pipe is closed")
        self._buf += chunk

    def _large(self, head: int, size: int) -> bytes:
        """A frame of ``size`` bytes after a ``head``-byte length, most of it still in the
        pipe. Read as ``Connection`` reads one (into a ``BytesIO``, whose ``getvalue`` hands
        over its buffer): the value is in memory once, not twice."""
        out = io.BytesIO()
        out.write(self._buf[head:])
        self._buf.clear()
        left, fd = size - out.tell(), self.conn.fileno()
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError("the worker's pipe closed within a message")
            out.write(chunk)
            left -= len(chunk)
        return out.getvalue()

    def _send(self, frame: bytes) -> None:
        try:
            if self.flush():
                self.conn.send_bytes(frame)
        except OSError:
            pass  # the worker is dying: its sentinel will say so


_CHUNK = 1 << 16  # what one read takes: dozens of small frames
_HOLD = 16 * 1024  # frames up to this size wait for ``flush``; larger ones go at once
_LENGTH = struct.Struct("!i")  # ``Connection.send_bytes``'s length prefix (under 2 GiB)


def _size(buf: bytearray) -> tuple[int, int] | None:
    """(length of the length prefix, body size) of the first frame, as ``Connection.send_bytes``
    frames them (4 bytes big-endian, or -1 and then 8 bytes for 2 GiB and up); None if the
    prefix is not all there."""
    if len(buf) < 4:
        return None
    size: int = _LENGTH.unpack_from(buf)[0]
    if size != -1:
        return 4, size
    if len(buf) < 12:
        return None
    return 12, int.from_bytes(buf[4:12], "big")


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
