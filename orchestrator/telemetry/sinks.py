"""Where events go: a callback, a list in memory, a JSON Lines file. Several at once.

Any callable taking an ``Event`` is a sink; ``execute_*(on_event=...)`` takes one or a list.
At the end of a run (normally, on an exception, on Ctrl-C) every sink that has a ``flush()`` is
flushed, so nothing seen is lost.

``JsonLinesSink`` (``jsonl_sink.py``) keeps serialisation off the scheduler's hot path: the hot
path only appends the event to a deque, and whole batches are formatted and written in this
process (by default) or, with ``writer="process"``, pickled to a writer process.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from .events import Event
from .jsonl_format import format_record
from .jsonl_sink import JsonLinesSink, SinkError

__all__ = [
    "MemorySink", "CallbackSink", "JsonLinesSink", "SinkError", "format_event", "combine_handlers",
    "flush_handlers",
]


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


def format_event(e: Event) -> str:
    """One compact JSON line for ``e`` (no newline); ``json.loads`` of it equals ``e.to_dict()``."""
    return format_record(e)


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
