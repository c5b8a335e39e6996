"""RunEvents: one run's event stream, shared by the scheduler and the gates that judge the run.

It numbers the events (``seq``), stamps them (``ts`` from the wall clock, ``elapsed`` from the
run's start on its clock) and hands each to the handler. A handler that raises is warned about
once and called no more, for the rest of the run, whoever emits.
"""

from __future__ import annotations

import itertools
import uuid
import warnings
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..model.results import TaskError
from ..telemetry.events import SCHEMA_VERSION, Event, EventHandler
from .wording import callback_dropped

if TYPE_CHECKING:
    from .records import TaskRecord

__all__ = ["RunEvents"]

# tuple.__new__ skips the NamedTuple's Python-level __new__: 0.16 us instead of 1.1 us, which is
# most of what an event costs the loop (benchmarks/telemetry_overhead.py).
_new_event = tuple.__new__


class RunEvents:
    """Emits one run's events to ``handler`` (``None``: the run emits nothing)."""

    __slots__ = ("handler", "run_id", "_clock", "_origin", "_seq")

    def __init__(self, handler: EventHandler | None, clock: Clock,
                 run_id: str | None = None) -> None:
        self.handler = handler
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self._clock = clock
        self._origin = 0.0
        self._seq = itertools.count(1)

    def begin(self, origin: float) -> None:
        """The run started at ``origin`` on its clock: ``elapsed`` counts from there. Mutates."""
        self._origin = origin

    def run_event(self, type_: str, *, pid: int | None = None, duration: float | None = None,
                  reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Emit an event about the run (no task)."""
        handler = self.handler
        if handler is None:
            return
        clock = self._clock
        event = _new_event(Event, (type_, next(self._seq), clock.wall(), self.run_id,
                                   clock.now() - self._origin, None, None, pid, duration, None,
                                   reason, data, SCHEMA_VERSION))
        try:
            handler(event)
        except Exception as exc:
            self._drop(exc, type_)

    def task_event(self, type_: str, rec: TaskRecord, *, pid: int | None = None,
                   duration: float | None = None, error: TaskError | None = None,
                   reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Emit an event about ``rec``'s task, at its current attempt."""
        handler = self.handler
        if handler is None:
            return
        clock = self._clock
        event = _new_event(Event, (type_, next(self._seq), clock.wall(), self.run_id,
                                   clock.now() - self._origin, rec.spec.id, rec.attempt or None,
                                   pid, duration, error, reason, data, SCHEMA_VERSION))
        try:
            handler(event)
        except Exception as exc:
            self._drop(exc, type_)

    def _drop(self, exc: Exception, type_: str) -> None:
        """The handler raised: a broken callback must not wedge the run, so warn once and call
        it no more. Mutates."""
        self.handler = None
        warnings.warn(callback_dropped(exc, type_, self.run_id), RuntimeWarning, stacklevel=3)
