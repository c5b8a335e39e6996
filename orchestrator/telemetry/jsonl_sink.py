"""``JsonLinesSink``: one JSON object per line, every event, nothing lost.

The hot path appends the event to a deque. Every ``batch_size`` events the batch is handed
over in one go, and a timer thread hands over whatever waited longer than ``flush_interval``,
so a reader tailing the target sees each event within that time. ``flush()`` (called by
``execute_*`` at the end of every run, also on an exception and on Ctrl-C) hands over the rest
and returns once it is written.

Two writers, chosen with ``writer=``; the figures are benchmarks/telemetry_overhead.py's on
the project's 2-CPU machine, 5,000 no-op tasks on 2 workers (the worst case: the run is pure
dispatch and every CPU is busy):

``"inline"`` (default)
    formats the batch here (~2 µs an event, in ``"\\n".join``) and writes it to a buffered
    file. Measured +28-39% wall on no-op tasks (list.append alone: 0-2%).
``"process"``
    pickles the batch as plain tuples (0.2 µs an event) into a 1 MiB pipe; a writer process
    (``jsonl_writer.py``, a fresh ``python -I -S``) formats and writes. The loop does less,
    but on 2 CPUs the writer's CPU (~4 µs an event) is taken from the workers and the loop:
    measured +42-83% wall on no-op tasks; running the writer at SCHED_IDLE, or waking it only
    every 0.1 s, did not change that.
    It pays where cores are spare; and what reached the pipe is written even if this process
    is SIGKILLed.

With ~1 ms tasks both cost ~2-3% (at the edge of the noise). A stream without a file descriptor (a
``StringIO``, click's ``CliRunner``) is always written inline.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any, Union

from .events import Event
from .jsonl_format import format_record

__all__ = ["JsonLinesSink", "SinkError"]

_WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jsonl_writer.py")
_HEADER = struct.Struct("<I")
_ACK = struct.Struct("<QI")
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe lets the writer lag a little without stalling us


class SinkError(OSError):
    """The JSON Lines writer failed (its target, or the process itself)."""


class JsonLinesSink:
    """Writes every event as one JSON line to ``target`` (a path, ``"-"`` or a text stream).

    ``batch_size``: events per batch handed to the writer. ``flush_interval``: the longest an
    event waits before a reader of the target can see it, in seconds. Use it as a context
    manager, or call ``close()``: it stops the writer process.
    """

    def __init__(self, target: Union[str, os.PathLike[str], IO[str]], *,
                 batch_size: int = 512, flush_interval: float = 0.2,
                 writer: str = "inline") -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"JsonLinesSink.batch_size must be an integer >= 1, "
                             f"got {batch_size!r}")
        if not flush_interval > 0:
            raise ValueError(f"JsonLinesSink.flush_interval must be > 0 seconds, "
                             f"got {flush_interval!r}")
        if writer not in ("inline", "process"):
            raise ValueError(f"JsonLinesSink.writer must be 'inline' or 'process', "
                             f"got {writer!r}")
        self.target = target
        self._batch_size = batch_size
        self._interval = flush_interval
        self._pending: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()
        self._closed = False
        self.written = 0  # events handed to the writer (process) or written (inline)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stream: IO[str] | None = None
        self._owned: IO[str] | None = None
        self._tokens = 0
        fd = self._target_fd(target) if writer == "process" else None
        if fd is not None:
            self.backend = "process"
            self._start_writer(fd)
        else:
            self.backend = "inline"
            if self._stream is None:
                self._stream = self._open_stream(target)
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._timer, name="jsonl-sink-timer", daemon=True)
        self._thread.start()

    # -- the hot path --------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        pending = self._pending
        pending.append(event)
        if len(pending) >= self._batch_size:
            self._ship()

    # -- public ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand over everything received so far and wait until it is written and flushed.

        Raises ``SinkError`` when the writer could not write (its message says why).
        """
        self._ship()
        with self._lock:
            if self._proc is not None:
                self._sync()
            elif self._stream is not None:
                try:
                    self._stream.flush()
                except ValueError:  # closed under us
                    pass
                except OSError as exc:
                    raise SinkError(f"JSON Lines sink for {self.target!r}: cannot write the "
                                    f"event log: {exc}") from None

    def close(self) -> None:
        """Flush, then stop the writer process (and close the file it owns)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            self._thread.join(5)
            with self._lock:
                self._stop_writer()
                if self._owned is not None:
                    try:
                        self._owned.close()
                    except OSError:  # what it could not write, flush() above reported
                        pass

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonLinesSink({self.target!r}, backend={self.backend!r})"

    # -- choosing the backend --------------------------------------------------------------

    def _target_fd(self, target: Union[str, os.PathLike[str], IO[str]]) -> int | None:
        """An fd the writer process can write to, or None (then: inline, into ``_stream``)."""
        if isinstance(target, (str, os.PathLike)):
            if str(target) == "-":
                return self._target_fd(sys.stdout)
            return os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fd = target.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self._stream = target
            return None
        target.flush()  # what was written to it before us comes first
        return os.dup(fd)

    def _open_stream(self, target: Union[str, os.PathLike[str], IO[str]]) -> IO[str]:
        if isinstance(target, (str, os.PathLike)):
            if str(target) == "-":
                return sys.stdout
            # backslashreplace: a lone surrogate becomes \udc80, still a valid JSON escape.
            self._owned = open(target, "a", encoding="utf-8",  # noqa: SIM115
                               errors="backslashreplace", buffering=1 << 16)
            return self._owned
        return target

    # -- the writer process ----------------------------------------------------------------

    def _start_writer(self, out_fd: int) -> None:
        data_r, data_w = os.pipe()
        ack_r, ack_w = os.pipe()
        try:
            try:
                import fcntl  # POSIX only; the inline writer needs none of this

                fcntl.fcntl(data_w, _F_SETPIPE_SZ, 1 << 20)
            except (ImportError, OSError):
                pass
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WRITER, str(data_r), str(out_fd), str(ack_w),
                 json.dumps([p for p in sys.path if p])],
                pass_fds=(data_r, out_fd, ack_w), stdin=subprocess.DEVNULL,
                start_new_session=True)
        except BaseException:
            for fd in (data_w, ack_r):
                os.close(fd)
            raise
        finally:
            for fd in (data_r, ack_w, out_fd):
                os.close(fd)
        self._data_w = data_w
        self._ack_r = ack_r


    def _send(self, obj: Any) -> None:
        payload = pickle.dumps(obj, 5)
        view = memoryview(_HEADER.pack(len(payload)) + payload)
        while view:
            try:
                n = os.write(self._data_w, view)
            except BrokenPipeError:
                raise SinkError(self._death_note()) from None
            view = view[n:]

    def _sync(self) -> None:
        """Wait until the writer has written everything sent before. Holds ``_lock``."""
        self._tokens += 1
        token = self._tokens
        self._send(token)
        got = b""
        while len(got) < _ACK.size:
            ready, _, _ = select.select([self._ack_r], [], [], 1.0)
            if not ready:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise SinkError(self._death_note())
                continue
            chunk = os.read(self._ack_r, 4096)
            if not chunk:
                raise SinkError(self._death_note())
            got += chunk
        answered, length = _ACK.unpack_from(got)
        while len(got) < _ACK.size + length:
            got += os.read(self._ack_r, 4096)
        error = got[_ACK.size:_ACK.size + length].decode("utf-8", "replace")
        if answered != token:
            raise SinkError(f"JSON Lines writer answered sync {answered}, expected {token}")
        if error:
            raise SinkError(f"JSON Lines sink for {self.target!r}: {error}")

    def _death_note(self) -> str:
        code = self._proc.poll() if self._proc is not None else None
        return (f"the JSON Lines writer process for {self.target!r} died (exit code {code}); "
                f"events handed to it after its last flush may be lost")

    def _stop_writer(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            self._send(None)
        except SinkError:
            pass
        os.close(self._data_w)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(self._ack_r)

    # -- batches -----------------------------------------------------------------------------

    def _ship(self) -> None:
        """Hand every waiting event over (in order: under the lock)."""
        with self._lock:
            pending = self._pending
            n = len(pending)
            if not n:
                return
            pop = pending.popleft
            batch = [pop() for _ in range(n)]
            if self._proc is not None:
                # Plain tuples pickle 7x faster than NamedTuples (0.2 µs vs 1.5 µs an event).
                self._send(list(map(tuple, batch)))
            elif self._stream is not None and not self._closed:
                # Formatting here holds the GIL ~2 µs an event; done in whole batches.
                try:
                    self._stream.write("\n".join(map(format_record, batch)) + "\n")
                except ValueError:  # the stream was closed under us
                    return
                except OSError as exc:
                    raise SinkError(f"JSON Lines sink for {self.target!r}: cannot write the "
                                    f"event log: {exc}") from None
            else:
                raise SinkError(f"{self!r} is closed: {n} event(s) given to it after close() "
                                f"were not written")
            self.written += n

    def _timer(self) -> None:
        """Ship what waited longer than ``flush_interval``, so a reader sees it promptly."""
        interval = self._interval
        while not self._closed:
            self._wake.wait(interval)
            if self._closed:
                return
            if self._pending:
                try:
                    self.flush() if self._stream is not None else self._ship()
                except Exception:  # the next flush() (end of run) reports it
                    time.sleep(interval)

