"""RunEvents: one run's event stream, shared by the scheduler and the gates that judge the run.

It numbers the events (``seq``), stamps them (``ts`` from the wall clock, ``elapsed`` from the
run's start on its clock) and delivers each to every sink, in order. With ``off_loop=True`` (a
session: every public entry point) no sink can delay the loop: sinks that declare themselves
non-blocking are called on it, every other callable on the run's delivery thread
(``telemetry/delivery.py``), and ``close()`` returns once each has had every event. Without it
(a scheduler stepped by hand: tests, simulations on a fake clock) every sink is called on the
loop, so each step's events are seen before the step returns.

A sink that raises is warned about once and called no more, for the rest of the run, whoever
emits; the other sinks still get every event. A sink that falls behind its reader reports it
(``watch_backlog``): that becomes a ``sink.lagging`` event, emitted right after the event
being delivered, and a ``SinkWarning``.
"""

from __future__ import annotations

import itertools
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..clock import Clock
from ..model.results import TaskError
from ..telemetry.delivery import (
    Delivery,
    SinkWarning,
    delivers_inline,
    handler_list,
    lagging_message,
)
from ..telemetry.events import SCHEMA_VERSION, Event, EventHandler, EventType
from .wording import callback_dropped

if TYPE_CHECKING:
    from .records import TaskRecord

__all__ = ["RunEvents"]

# tuple.__new__ skips the NamedTuple's Python-level __new__: 0.16 us instead of 1.1 us, which is
# most of what an event costs the loop (benchmarks/telemetry_overhead.py).
_new_event = tuple.__new__


class RunEvents:
    """Emits one run's events to ``sinks`` (one callable, a list, or ``None``: no events)."""

    __slots__ = ("handler", "run_id", "_clock", "_origin", "_seq", "_sinks", "_inline",
                 "_delivery", "_alerts", "_unwatch", "_closed", "_held")

    def __init__(self, sinks: EventHandler | Sequence[EventHandler] | None, clock: Clock,
                 run_id: str | None = None, *, off_loop: bool = False) -> None:
        self._sinks = handler_list(sinks)
        self._inline = [h for h in self._sinks if not off_loop or delivers_inline(h)]
        others = [h for h in self._sinks if off_loop and not delivers_inline(h)]
        self._alerts: list[dict[str, Any]] = []
        self._unwatch: list[Callable[[], None]] = []
        self._closed = False
        self._held: list[Event] | None = None  # events kept back until a store commit
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self._delivery = Delivery(others, self._dropped_off_loop,
                                  f"events-{self.run_id}") if others else None
        self._clock = clock
        self._origin = 0.0
        self._seq = itertools.count(1)
        # What the loop calls with each event; None when nothing listens (events are not built).
        self.handler: EventHandler | None = self._route()

    def begin(self, origin: float) -> None:
        """The run started at ``origin`` on its clock: ``elapsed`` counts from there, and the
        sinks that can lag are watched. Mutates."""
        self._origin = origin
        for sink in self._sinks:
            watch = getattr(sink, "watch_backlog", None)
            if callable(watch):
                self._unwatch.append(watch(self._alerts.append))

    def close(self) -> None:
        """The run is over: wait until every event was delivered, stop the delivery thread,
        then flush every sink that has ``flush()`` (a failure is a ``SinkWarning``, so it
        cannot hide the run's result). Idempotent. Mutates."""
        if self._closed:
            return
        self.release()
        self._closed = True
        for unwatch in self._unwatch:
            unwatch()
        if self._delivery is not None:
            self._delivery.close()
        for sink in self._sinks:
            flush = getattr(sink, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception as exc:
                    warnings.warn(f"event sink {sink!r} failed to flush: {exc}", SinkWarning,
                                  stacklevel=2)

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
        if self._held is not None:
            self._held.append(event)
            return
        try:
            handler(event)
        except Exception as exc:
            self._drop(handler, exc, type_)
        if self._alerts:
            self._report_lagging()

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
        if self._held is not None:
            self._held.append(event)
            return
        try:
            handler(event)
        except Exception as exc:
            self._drop(handler, exc, type_)
        if self._alerts:
            self._report_lagging()

    def hold(self) -> None:
        """Keep every event from now on back (numbered and stamped as usual) until
        ``release``: with a run store, nobody sees a task end before its outcome is on disk.
        Mutates."""
        if self._held is None and self.handler is not None:
            self._held = []

    def release(self) -> None:
        """Deliver what ``hold`` kept back, in order. Mutates."""
        held, self._held = self._held, None
        handler = self.handler
        if not held or handler is None:
            return
        for event in held:
            try:
                handler(event)
            except Exception as exc:
                self._drop(handler, exc, event.type)
                handler = self.handler
                if handler is None:
                    return
        if self._alerts:
            self._report_lagging()

    # -- delivery ----------------------------------------------------------------------------

    def _route(self) -> EventHandler | None:
        """The one callable the loop calls: the only sink itself when there is one (the
        cheapest), else a fan-out."""
        targets: list[EventHandler] = list(self._inline)
        if self._delivery is not None:
            targets.append(self._delivery.put)
        if not targets:
            return None
        return targets[0] if len(targets) == 1 else self._fan_out

    def _fan_out(self, event: Event) -> None:
        for h in self._inline:
            try:
                h(event)
            except Exception as exc:
                self._drop(h, exc, event.type)
        if self._delivery is not None:
            self._delivery.put(event)

    def _drop(self, sink: EventHandler, exc: Exception, type_: str) -> None:
        """A sink called on the loop raised: a broken callback must not wedge the run, so warn
        once and call it no more. Mutates."""
        self._inline = [h for h in self._inline if h is not sink]
        self.handler = self._route()
        warnings.warn(callback_dropped(exc, type_, self.run_id), RuntimeWarning, stacklevel=4)

    def _dropped_off_loop(self, sink: EventHandler, exc: BaseException, event: Event) -> None:
        """A sink on the delivery thread raised (the thread dropped it already): say so once."""
        warnings.warn(callback_dropped(exc, event.type, self.run_id), RuntimeWarning,
                      stacklevel=2)

    def _report_lagging(self) -> None:
        """Emit what lagging sinks reported while the last event was delivered. Mutates."""
        alerts = self._alerts[:]
        del self._alerts[:]
        for data in alerts:
            self.run_event(EventType.SINK_LAGGING, data=data)
            warnings.warn(lagging_message(data), SinkWarning, stacklevel=4)

