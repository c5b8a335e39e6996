"""Where events go: a callback, a list in memory, a JSON Lines file. Several at once.

Any callable taking an ``Event`` is a sink; ``execute_*(on_event=...)`` takes one or a list.
At the end of a run (normally, on an exception, on Ctrl-C) every sink that has a ``flush()`` is
flushed, so nothing seen is lost.

``JsonLinesSink`` keeps serialisation off the scheduler's hot path: the hot path only appends the
event to a deque (thread-safe, no lock); a writer thread wakes every ``flush_interval`` seconds
(or when ``batch_size`` events wait), formats them and writes them in one go.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from typing import IO, Any, Callable, Iterable, Sequence, Union

from .events import Event

__all__ = ["MemorySink", "CallbackSink", "JsonLinesSink", "format_event", "combine_handlers"]

_encode_str = json.encoder.encode_basestring


class MemorySink:
    """Keeps every event in ``events`` (tests, notebooks, post-run analysis)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def types(self, task_id: str | None = None) -> list[str]:
        """Event types in order, optionally only those of one task."""
        return [e.type for e in self.events if task_id is None or e.task_id == task_id]

    def of_type(self, *types: str) -> list[Event]:
        return [e for e in self.events if e.type in types]

    def clear(self) -> None:
        self.events.clear()


class CallbackSink:
    """Calls ``fn(event)`` for the events whose type is in ``types`` (all when None)."""

    def __init__(self, fn: Callable[[Event], Any], types: Iterable[str] | None = None) -> None:
        self.fn = fn
        self.types = frozenset(types) if types is not None else None

    def __call__(self, event: Event) -> None:
        if self.types is None or event.type in self.types:
            self.fn(event)


class JsonLinesSink:
    """Writes one JSON object per line to ``target``: a path, ``"-"`` for stdout, or a text
    stream. Append mode for paths, so several runs can share a log."""

    def __init__(self, target: Union[str, os.PathLike[str], IO[str]], *,
                 batch_size: int = 2048, flush_interval: float = 0.25) -> None:
        self._owned = False
        if isinstance(target, (str, os.PathLike)):
            if str(target) == "-":
                self._stream: IO[str] = sys.stdout
            else:
                self._stream = open(target, "a", encoding="utf-8")  # noqa: SIM115
                self._owned = True
        else:
            self._stream = target
        self._pending: collections.deque[Event] = collections.deque()
        self._batch_size = batch_size
        self._interval = flush_interval
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.written = 0
        self._thread = threading.Thread(target=self._writer, name="jsonl-sink", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        pending = self._pending
        pending.append(event)
        if len(pending) == self._batch_size:
            self._wake.set()

    def flush(self) -> None:
        """Write everything received so far, and flush the stream."""
        self._drain()
        with self._write_lock:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(5)
        self.flush()
        if self._owned:
            self._stream.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self) -> None:
        pending = self._pending
        with self._write_lock:
            lines = []
            while pending:
                lines.append(format_event(pending.popleft()))
            if lines:
                try:
                    self._stream.write("\n".join(lines) + "\n")
                except ValueError:  # the stream was closed under us
                    return
                self.written += len(lines)

    def _writer(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()
            try:
                with self._write_lock:
                    self._stream.flush()
            except (OSError, ValueError):
                pass


_iso_cache: list[Any] = [None, ""]


def _iso(ts: float) -> str:
    # Formatting a timestamp costs more than the rest of the line: reuse the seconds part.
    sec, micros = divmod(round(ts * 1e6), 1_000_000)
    if _iso_cache[0] != sec:
        _iso_cache[0] = sec
        _iso_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_iso_cache[1]}.{micros:06d}Z"


def format_event(e: Event) -> str:
    """One compact JSON line for ``e``; equal to ``json.dumps(e.to_dict())`` once parsed."""
    parts = [
        f'{{"schema":{e.schema},"type":"{e.type}","ts":"{_iso(e.ts)}","seq":{e.seq},'
        f'"run_id":{_encode_str(e.run_id)},"elapsed":{round(e.elapsed, 6)!r}'
    ]
    if e.task_id is not None:
        parts.append(f',"task_id":{_encode_str(e.task_id)}')
    if e.attempt is not None:
        parts.append(f',"attempt":{e.attempt}')
    if e.pid is not None:
        parts.append(f',"pid":{e.pid}')
    if e.duration is not None:
        parts.append(f',"duration":{round(e.duration, 6)!r}')
    if e.error is not None:
        parts.append(',"error":' + json.dumps(e.error.to_dict(), default=str))
    if e.reason is not None:
        parts.append(f',"reason":{_encode_str(e.reason)}')
    if e.data:
        parts.append(',"data":' + json.dumps(dict(e.data), default=str))
    parts.append("}")
    return "".join(parts)


def combine_handlers(
    handlers: Callable[[Event], Any] | Sequence[Callable[[Event], Any]] | None,
) -> Callable[[Event], None] | None:
    """One callable that feeds every handler (None when there are none)."""
    if handlers is None:
        return None
    if callable(handlers):
        return handlers
    items = list(handlers)
    for h in items:
        if not callable(h):
            raise TypeError(f"on_event must be callable or a list of callables, got {h!r}")
    if not items:
        return None
    if len(items) == 1:
        return items[0]

    def fan_out(event: Event) -> None:
        # One broken handler must not cost the others their events: drop only it, say so once.
        for h in list(items):
            try:
                h(event)
            except Exception as exc:
                import warnings

                items.remove(h)
                warnings.warn(f"on_event handler {h!r} raised {type(exc).__name__}: {exc} (on a "
                              f"{event.type!r} event); it will not be called again in run "
                              f"{event.run_id}", RuntimeWarning, stacklevel=2)

    return fan_out


def flush_handlers(
    handlers: Callable[[Event], Any] | Sequence[Callable[[Event], Any]] | None,
) -> None:
    """Call ``flush()`` on every handler that has one; errors are reported, not raised."""
    if handlers is None:
        return
    items = [handlers] if callable(handlers) else list(handlers)
    for h in items:
        flush = getattr(h, "flush", None)
        if callable(flush):
            try:
                flush()
            except Exception as exc:  # a sink that cannot flush must not hide the run's result
                import warnings

                warnings.warn(f"event sink {h!r} failed to flush: {exc}", RuntimeWarning,
                              stacklevel=2)
