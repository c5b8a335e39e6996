"""How events reach their sinks without the scheduler's loop ever waiting on one.

A sink that declares ``nonblocking = True`` (``MemorySink``, ``JsonLinesSink``, whose call only
appends, the CLI's progress tracker) promises that a call returns at once: a run calls it on
its loop. So is a list's or a deque's ``append``. Every other callable (``print``, a user's
function, an exporter) is user code that may block: a run hands its events to a
``Delivery``, one thread per run that calls them in order, and the run returns only once that
thread has delivered every event (``close()``).

A sink that buffers may fall behind its reader. It says so through ``watch_backlog(report)``:
the run subscribes when it starts and turns each report into a ``sink.lagging`` event and a
``SinkWarning`` (``lagging_message``).
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Sequence

from .events import Event

__all__ = ["SinkWarning", "Delivery", "delivers_inline", "handler_list", "lagging_message"]

Handler = Callable[[Event], Any]


class SinkWarning(RuntimeWarning):
    """An event sink fell behind its reader, or could not write everything it was given."""


def handler_list(on_event: Handler | Sequence[Handler] | None) -> list[Handler]:
    """``on_event`` (one callable, a list of them, or None) as a list; raises ``TypeError``
    naming what is not callable."""
    if on_event is None:
        return []
    if callable(on_event):
        return [on_event]
    items = list(on_event)
    for h in items:
        if not callable(h):
            raise TypeError(f"on_event must be callable or a list of callables, got {h!r}")
    return items


def delivers_inline(handler: Handler) -> bool:
    """Whether a run may call ``handler`` on its loop: it declares ``nonblocking = True``, or
    it is the ``append`` of a list or a deque."""
    if getattr(handler, "nonblocking", False) is True:
        return True
    owner = getattr(handler, "__self__", None)
    return type(owner) in (list, collections.deque) and \
        getattr(handler, "__name__", None) == "append"


def lagging_message(data: dict[str, Any]) -> str:
    """The warning for a ``sink.lagging`` event's ``data``."""
    return (f"event sink {data['sink']} is behind its reader by "
            f"{data['backlog_bytes'] / 2**20:.1f} MiB ({data['backlog_events']:,} events, "
            f"warning at {data['limit_bytes'] / 2**20:.1f} MiB); they are kept in memory until "
            f"it catches up: nothing is dropped, but memory grows")


class _Marker:
    """Put behind the events to wait for: set once the thread reaches it."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()


class Delivery:
    """Calls ``handlers`` with every event ``put``, in order, on a thread of its own.

    ``put`` only appends to a deque (and wakes the thread when it sleeps), so the caller never
    waits on a handler. A handler that raises is dropped and ``on_error(handler, exc, event)``
    is called (on this thread); the others still get every event.

    The thread lingers ``LINGER`` seconds after it delivered what was there before it sleeps:
    a run emits events in bursts (three per task), and waking the thread for each burst cost
    the loop a GIL hand-off each time (5,000 no-op tasks with a counting callback: +53% parent
    CPU, against +12-24% for calling it on the loop; lingering 20 ms: +20%). The thread looks
    for more at least that often.
    """

    LINGER = 0.02

    def __init__(self, handlers: Sequence[Handler],
                 on_error: Callable[[Handler, BaseException, Event], None], name: str) -> None:
        self._handlers = list(handlers)
        self._on_error = on_error
        self._queue: collections.deque[Event | _Marker] = collections.deque()
        self._wake = threading.Event()
        self._idle = True  # the thread sleeps, or is about to (or not started): wake it
        self._closing = False
        self._name = name
        self._thread: threading.Thread | None = None  # started by the first event
        self._starting = threading.Lock()

    def put(self, event: Event | _Marker) -> None:
        """Queue ``event`` for the handlers; never blocks."""
        self._queue.append(event)
        if self._idle:
            if self._thread is None:
                self._start()
            self._wake.set()

    def wait(self) -> None:
        """Return once every event put before this call was delivered."""
        if self._thread is None or self._closing:
            return
        marker = _Marker()
        self._queue.append(marker)
        self._wake.set()  # cuts a linger short
        marker.reached.wait()

    def close(self) -> None:
        """Deliver what was put, then stop the thread. Idempotent."""
        self.wait()
        self._closing = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join()

    def _start(self) -> None:
        with self._starting:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._idle = True
            # Checked after saying "idle": an event put before this saw _idle False and did
            # not wake us, so it must be seen here.
            if not queue:
                if self._closing:
                    return
                self._wake.wait()
            self._wake.clear()
            self._idle = False
            while queue:
                while queue:
                    item = queue.popleft()
                    if type(item) is _Marker:
                        item.reached.set()
                    else:
                        self._deliver(item)  # type: ignore[arg-type]
                if self._wake.wait(self.LINGER):  # more of the burst comes without a wake-up
                    self._wake.clear()

    def _deliver(self, event: Event) -> None:
        for h in self._handlers:
            try:
                h(event)
            except BaseException as exc:  # user code, on our thread: SystemExit included
                self._handlers = [o for o in self._handlers if o is not h]
                self._on_error(h, exc, event)
