"""Where events go: a callback, a list in memory, a JSON Lines file. Several at once.

Any callable taking an ``Event`` is a sink; ``execute_*(on_event=...)`` takes one or a list.
No sink can delay the scheduler's loop (``delivery.py``): sinks that declare
``nonblocking = True`` (``MemorySink``, ``JsonLinesSink``) are called on it, any other callable
on the run's delivery thread. At the end of a run (normally, on an exception, on Ctrl-C) every
event has been delivered and every sink that has a ``flush()`` is flushed, so nothing seen is
lost; a sink that cannot flush is reported with a ``SinkWarning``.

``JsonLinesSink`` (``jsonl_sink.py``) formats batches on the loop and writes them from a
thread of its own, so a slow reader or a full disk never holds the run.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .delivery import SinkWarning
from .events import Event
from .jsonl_format import format_record
from .jsonl_sink import JsonLinesSink, SinkError

__all__ = [
    "MemorySink", "CallbackSink", "JsonLinesSink", "SinkError", "SinkWarning", "format_event",
]


class MemorySink:
    """Keeps every event in ``events`` (tests, notebooks, post-run analysis)."""

    nonblocking = True  # a list append: a run calls it on its loop

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
    """Calls ``fn(event)`` for the events whose type is in ``types`` (all when None); ``fn``
    is user code, so a run calls it on its delivery thread."""

    def __init__(self, fn: Callable[[Event], Any], types: Iterable[str] | None = None) -> None:
        self.fn = fn
        self.types = frozenset(types) if types is not None else None

    def __call__(self, event: Event) -> None:
        if self.types is None or event.type in self.types:
            self.fn(event)


def format_event(e: Event) -> str:
    """One compact JSON line for ``e`` (no newline); ``json.loads`` of it equals ``e.to_dict()``."""
    return format_record(e)
