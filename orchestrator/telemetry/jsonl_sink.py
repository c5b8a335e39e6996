"""``JsonLinesSink``: one JSON object per line, every event, and the loop never waits on it.

The hot path appends the event to a deque. Every ``batch_size`` events the batch is formatted
here, in one go, and queued for the sink's drain thread (``jsonl_drain.py``), which does the
``write()``: a pipe nobody reads, a paused terminal or a full disk blocks that thread, never
the scheduler's loop. Every ``flush_interval`` the drain also ships what waited for less than a
batch, so a reader tailing the target sees each event within about that time. ``flush()``
(called at the end of every run, also on an exception and on Ctrl-C) returns once everything
received is written.

Nothing is lost silently:

* A reader that falls behind: the batches wait in memory, all of them. When more than
  ``warn_backlog`` bytes wait (64 MiB by default, ~250,000 events) the run emits a
  ``sink.lagging`` event and a ``SinkWarning``, again each time the backlog doubles; the
  events are kept (dropping them would make the log a lie; memory is what a slow reader costs).
* A write that fails (a full disk, a closed pipe): nothing more is written; ``flush()`` and
  ``close()`` raise ``SinkError`` with the reason and how many events are missing.
* A character the target's encoding cannot hold (a lone surrogate from undecodable bytes, on
  any stream) is written as a JSON ``\\uXXXX`` escape, which reads back as the same string.

``mode="w"`` (the default) starts the file anew: one sink, one log, so reading it back gives
this run (or these runs) and nothing older. ``mode="a"`` appends, for a long-lived log of many
runs (``read_events`` splits them by ``run_id``); it starts on a fresh line when the file
ends inside one (a log cut short by a full disk or a kill).

Where the formatting happens is a measured choice, with ``writer=``; the figures are
benchmarks/telemetry_overhead.py's on the project's 2-CPU machine, 5,000 no-op tasks on 2
workers (pure dispatch: every CPU is busy, the worst case):

``"inline"`` (default)
    formats the batch in this process (~2 µs an event, in ``"\\n".join``), on the loop: a
    thread formatting it would hold the GIL the loop needs. Only the write happens on the
    drain thread, which holds no GIL while blocked in it.
``"process"``
    pickles the batch as plain tuples (0.2 µs an event) into a 1 MiB pipe (without blocking:
    the drain takes over when it is full); a writer process (``jsonl_writer.py``) formats
    and writes. The loop does less, but on 2 CPUs the writer's CPU (~4 µs an event) is taken
    from the workers and the loop. It pays where cores are spare, and what reached the pipe
    is written even if this process is SIGKILLed.

A stream without a file descriptor (a ``StringIO``, click's ``CliRunner``) is always written
inline.
"""

from __future__ import annotations

import collections
import io
import os
import sys
import threading
import warnings
from typing import IO, Any, Callable, Union

from .delivery import SinkWarning, lagging_message
from .events import Event
from .jsonl_drain import Drain, Target
from .jsonl_format import format_record
from .jsonl_targets import FileTarget, ProcessTarget, StreamTarget, frame, open_log

__all__ = ["JsonLinesSink", "SinkError"]

Report = Callable[[dict[str, Any]], None]


class SinkError(OSError):
    """The JSON Lines sink could not write every event (its message says why and how many)."""


class JsonLinesSink:
    """Writes every event as one JSON line to ``target`` (a path, ``"-"`` or a text stream).

    ``mode``: ``"w"`` a new file, ``"a"`` append (paths only). ``batch_size``: events per
    batch. ``flush_interval``: about the longest an event waits before a reader of the target
    can see it, in seconds. ``warn_backlog``: bytes waiting for a slow reader above which the
    run is warned. Use it as a context manager, or call ``close()``.
    """

    nonblocking = True  # its call only appends (and formats a batch): a run calls it inline

    def __init__(self, target: Union[str, os.PathLike[str], IO[str]], *, mode: str = "w",
                 batch_size: int = 512, flush_interval: float = 0.2, writer: str = "inline",
                 warn_backlog: int = 64 * 2**20) -> None:
        _check(mode, batch_size, flush_interval, writer, warn_backlog)
        self.target = target
        self.warn_backlog = warn_backlog
        self.peak_backlog = 0  # the most bytes that waited for the reader at once
        self._batch_size = batch_size
        self._alert_at = warn_backlog
        self._pending: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()  # one batch at a time, so they are queued in order
        self._closed = False
        self._shipped = 0  # events taken from the deque
        self._after_close = 0
        self._skipped = 0  # events that could not be formatted
        self._skip_note = ""
        self._reporters: list[Report] = []
        out = _open(target, mode, writer)
        process = isinstance(out, ProcessTarget)
        self.backend = "process" if process else "inline"
        self._proc = out.proc if isinstance(out, ProcessTarget) else None
        self._encode: Callable[[list[Event]], Union[str, bytes]] = _frame if process else _lines
        self._drain = Drain(out, self._ship, flush_interval, "jsonl-sink-drain")

    # -- the hot path --------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        pending = self._pending
        pending.append(event)
        if len(pending) >= self._batch_size:
            backlog = self._ship()
            if backlog > self._alert_at:
                self._lagging(backlog)

    # -- public ------------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Events written so far (handed to the writer process, with ``writer="process"``)."""
        return self._drain.written - self._drain.target.unwritten

    def flush(self) -> None:
        """Hand over everything received so far and wait until it is written.

        Raises ``SinkError`` when an event given to the sink is not in the log (its message
        says why and how many).
        """
        self._ship()
        if not self._closed:
            self._drain.wait()
        self._alert_at = self.warn_backlog  # the next run is warned anew
        problem = self._problem()
        if problem is not None:
            raise SinkError(problem)

    def close(self) -> None:
        """Flush, then stop the drain thread (and the writer process, and close the file the
        sink opened). Raises ``SinkError`` as ``flush()`` does. Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
        except SinkError:
            self._stop()
            raise
        except BaseException:
            # Ctrl-C while a reader that reads nothing held the flush: the drain may be stuck
            # in write(), so leave it (a daemon thread) rather than wait for it again.
            self._closed = True
            raise
        self._stop()

    def _stop(self) -> None:
        self._closed = True
        self._drain.close()
        self._drain.target.close()

    def watch_backlog(self, report: Report) -> Callable[[], None]:
        """Call ``report(data)`` when the backlog passes ``warn_backlog`` (and each time it
        doubles), on the thread that called the sink; returns the function that stops it.
        A run watches its sinks; with nobody watching, the sink warns itself."""
        self._reporters.append(report)

        def unwatch() -> None:
            if report in self._reporters:
                self._reporters.remove(report)

        return unwatch

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonLinesSink({self.target!r}, backend={self.backend!r})"

    # -- batches -----------------------------------------------------------------------------

    def _ship(self) -> int:
        """Format what waits and queue it for the drain (any thread; in order, under the
        lock). Returns the backlog, in bytes. Mutates."""
        with self._lock:
            pending = self._pending
            n = len(pending)
            if not n:
                return 0
            pop = pending.popleft
            batch = [pop() for _ in range(n)]
            self._shipped += n
            drain = self._drain
            if self._closed:
                self._after_close += n
                return 0
            if drain.error is not None:
                drain.discard(n)  # the target failed: counted, not formatted
                return 0
            try:
                chunk = self._encode(batch)
            except Exception:  # one event that cannot be formatted must not cost the others
                chunk, batch = self._encode_each(batch)
                if not batch:
                    return 0
            backlog = drain.put(chunk, len(batch))
            if backlog > self.peak_backlog:
                self.peak_backlog = backlog
            return backlog

    def _encode_each(self, batch: list[Event]) -> tuple[Union[str, bytes], list[Event]]:
        """The batch without the events that cannot be formatted (counted, the first named).
        Holds the lock. Mutates."""
        kept = []
        for event in batch:
            try:
                self._encode([event])
            except Exception as exc:
                self._skipped += 1
                self._skip_note = self._skip_note or (
                    f"cannot format event seq {event.seq} ({event.type}): "
                    f"{type(exc).__name__}: {exc}")
            else:
                kept.append(event)
        return (self._encode(kept) if kept else ""), kept

    def _lagging(self, backlog: int) -> None:
        self._alert_at = backlog * 2
        data = {"sink": repr(self), "backlog_bytes": backlog,
                "backlog_events": self._drain.backlog_events, "limit_bytes": self.warn_backlog}
        if not self._reporters:
            warnings.warn(lagging_message(data), SinkWarning, stacklevel=3)
        for report in list(self._reporters):
            report(data)

    def _problem(self) -> str | None:
        """What is missing from the log and why, or None."""
        if self._after_close:
            return (f"{self!r} is closed: {self._after_close} event(s) given to it after "
                    f"close() were not written")
        drain = self._drain
        missing = drain.unwritten + drain.target.unwritten + self._skipped
        if not missing and drain.error is None:
            return None
        why = drain.error or self._skip_note
        return (f"JSON Lines sink for {self.target!r}: {why}; {missing:,} of "
                f"{self._shipped:,} events were not written")


def _check(mode: str, batch_size: int, flush_interval: float, writer: str,
           warn_backlog: int) -> None:
    if mode not in ("w", "a"):
        raise ValueError(f"JsonLinesSink.mode must be 'w' (a new file) or 'a' (append), "
                         f"got {mode!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"JsonLinesSink.batch_size must be an integer >= 1, got {batch_size!r}")
    if not flush_interval > 0:
        raise ValueError(f"JsonLinesSink.flush_interval must be > 0 seconds, "
                         f"got {flush_interval!r}")
    if writer not in ("inline", "process"):
        raise ValueError(f"JsonLinesSink.writer must be 'inline' or 'process', got {writer!r}")
    if not isinstance(warn_backlog, int) or warn_backlog < 1:
        raise ValueError(f"JsonLinesSink.warn_backlog must be an integer >= 1 (bytes), "
                         f"got {warn_backlog!r}")


def _open(target: Union[str, os.PathLike[str], IO[str]], mode: str, writer: str) -> Target:
    """The target to write to: the writer process when asked for and the target has a file
    descriptor, else the file (opened here) or the stream."""
    if isinstance(target, (str, os.PathLike)):
        if str(target) == "-":
            return _open(sys.stdout, mode, writer)
        if writer == "process":
            return ProcessTarget(open_log(target, mode))
        return FileTarget(target, mode)
    if writer == "process":
        try:
            fd = target.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return StreamTarget(target)
        target.flush()  # what was written to it before us comes first
        return ProcessTarget(os.dup(fd))
    return StreamTarget(target)


def _lines(batch: list[Event]) -> str:
    # Formatting here holds the GIL ~2 µs an event; done in whole batches.
    return "\n".join(map(format_record, batch)) + "\n"


def _frame(batch: list[Event]) -> bytes:
    # Plain tuples pickle 7x faster than NamedTuples (0.2 µs vs 1.5 µs an event).
    return frame(list(map(tuple, batch)))

