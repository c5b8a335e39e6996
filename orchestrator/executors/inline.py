"""InlineExecutor: runs attempts in this process, one at a time, for debugging."""

from __future__ import annotations

import collections
from typing import Deque

from ..clock import Clock
from .base import (
    Attempt,
    AttemptFinished,
    AttemptLost,
    AttemptStarted,
    ExecutorEvent,
    error_from_tuple,
)

__all__ = ["InlineExecutor"]


class InlineExecutor:
    """Runs each attempt in this process, one at a time, inside ``wait``.

    For debugging (breakpoints and prints work) and for tests of task code. It cannot stop a
    running attempt, so timeouts are not enforced.
    """

    def __init__(self, max_workers: int = 1) -> None:
        self._capacity = max_workers
        self._queue: Deque[Attempt] = collections.deque()
        self._clock: Clock | None = None
        self._events: list[ExecutorEvent] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None,
             max_worker_memory_mb: float | None = None) -> None:
        self._clock = clock
        self._capacity = size

    def prepare(self, attempt: Attempt) -> None:
        return None

    def idle(self) -> int:
        return max(0, self._capacity - len(self._queue))

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        if len(self._queue) >= self._capacity and not queue:
            return False
        self._queue.append(attempt)
        return True

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        for attempt in self._queue:
            if attempt.ticket == ticket:
                self._queue.remove(attempt)
                assert self._clock is not None
                self._events.append(AttemptLost(ticket, None, self._clock.now(), None, None, True))
                break
        return []

    def revoke(self, ticket: int) -> bool:
        for attempt in self._queue:
            if attempt.ticket == ticket:
                self._queue.remove(attempt)
                return True
        return False

    def memory(self, ticket: int) -> int | None:
        return None

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        if events or not self._queue:
            return events
        from workers import context
        from workers.capture import capture
        from workers.resolve import resolve

        assert self._clock is not None
        attempt = self._queue.popleft()
        start = self._clock.now()
        events.append(AttemptStarted(attempt.ticket, None, start))
        ctx = context.TaskContext(attempt.task_id, attempt.attempt,
                                  None if attempt.timeout is None else start + attempt.timeout)
        context._set(ctx)
        try:
            fn = resolve(attempt.fn) if isinstance(attempt.fn, str) else attempt.fn
            value = fn(*attempt.args, **attempt.kwargs)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            end = self._clock.now()
            events.append(AttemptFinished(attempt.ticket, None, end, False,
                                          error=error_from_tuple(capture(exc)),
                                          duration=end - start, reports=dict(ctx.reports)))
        else:
            end = self._clock.now()
            events.append(AttemptFinished(attempt.ticket, None, end, True, value=value,
                                          duration=end - start, reports=dict(ctx.reports)))
        finally:
            context._set(None)
        return events

    def wakeup(self) -> None:
        return None

    def begin_run(self) -> None:
        return None

    def end_run(self) -> None:
        self._queue.clear()
        self._events.clear()

    def close(self, *, kill: bool = False) -> None:
        self.end_run()
