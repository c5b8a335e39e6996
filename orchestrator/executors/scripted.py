"""ScriptedExecutor: an Executor whose every outcome a test decides, and a scheduler stepper.

``ScriptedExecutor`` models ``workers`` worker slots. Attempts start as soon as a slot is free;
the test decides every outcome and the order::

    clock = FakeClock()
    ex = ScriptedExecutor(workers=2)
    sched = Scheduler(graph, policy, ex, clock)
    sched.start(); run_until_quiet(sched, ex)
    ex.finish("a", value=1); run_until_quiet(sched, ex)
    clock.advance(5.0); run_until_quiet(sched, ex)   # a deadline passes -> "b" is killed
    assert ex.kills == [("b", False)]

A kill is carried out at once by default (``AttemptLost``); set ``obey_kills=False`` to let the
test decide when the process dies (``ex.die("b")``), e.g. to test SIGTERM->SIGKILL escalation.
``run_until_quiet`` steps a scheduler until the executor has nothing more to report. The public
kit is ``orchestrator.testing``.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Protocol, Sequence

from workers.capture import capture

from ..clock import Clock, MonotonicClock
from ..model.results import TaskError
from .base import (
    Attempt,
    AttemptFinished,
    AttemptLost,
    AttemptRequeued,
    AttemptStarted,
    ExecutorEvent,
    WorkerExited,
    WorkerStarted,
    error_from_tuple,
)
from .pickling import SerializationError

__all__ = ["ScriptedExecutor", "task_error", "run_until_quiet"]


def task_error(message: str = "boom", type_name: str = "RuntimeError",
               kind: str = "exception") -> TaskError:
    """A ``TaskError`` as a worker would report for ``raise RuntimeError(message)``."""
    chain = (f"builtins.{type_name}", "builtins.Exception", "builtins.BaseException")
    return TaskError(kind=kind, type=type_name, message=message,  # type: ignore[arg-type]
                     traceback=f"Traceback (most recent call last):\n{type_name}: {message}\n",
                     type_chain=chain)


class ScriptedExecutor:
    """An Executor whose attempts finish only when the test says so."""

    def __init__(self, workers: int = 2, *, obey_kills: bool = True) -> None:
        self._capacity = workers
        self.obey_kills = obey_kills
        self.clock: Clock = MonotonicClock()
        self._queues: list[Deque[Attempt]] = [collections.deque() for _ in range(workers)]
        self._events: list[ExecutorEvent] = []
        self.submitted: list[str] = []  # task ids in dispatch order
        self.started: list[str] = []  # task ids in start order
        self.kills: list[tuple[str, bool]] = []  # (task id, force)
        self.max_running = 0
        self.unpicklable: set[str] = set()  # task ids whose prepare() fails
        self.memory_bytes: dict[str, float] = {}  # task id -> what memory() reports
        self._next_pid = 1000
        self._pids = [self._new_pid() for _ in range(workers)]
        self._started_at = [0.0] * workers

    def _new_pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._capacity

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None,
             max_worker_memory_mb: float | None = None) -> None:
        self.clock = clock
        if size != self._capacity:
            self._capacity = size
            self._queues = [collections.deque() for _ in range(size)]
            self._pids = [self._new_pid() for _ in range(size)]
            self._started_at = [0.0] * size

    def prepare(self, attempt: Attempt) -> None:
        if attempt.task_id in self.unpicklable:
            raise SerializationError(f"task {attempt.task_id!r}: cannot pickle args[0]", "args[0]")

    def idle(self) -> int:
        return sum(1 for q in self._queues if not q)

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        empty = [i for i, q in enumerate(self._queues) if not q]
        if empty:
            index = empty[0]
        elif queue:
            # As LocalPool: the shortest queue, then the attempt that has run longest.
            index = min(range(self._capacity),
                        key=lambda i: (len(self._queues[i]), self._started_at[i]))
        else:
            return False
        self._queues[index].append(attempt)
        self.submitted.append(attempt.task_id)
        if len(self._queues[index]) == 1:
            self._start(index)
        return True

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        index = self._index_of_ticket(ticket)
        if index is None:
            return []
        attempt = self._queues[index][0]
        self.kills.append((attempt.task_id, force))
        if self.obey_kills:
            self._lose(index, killed=True, signal="SIGKILL" if force else "SIGTERM")
        return [self._pids[index]]

    def revoke(self, ticket: int) -> bool:
        """Withdraw an attempt queued behind a busy worker (a running one cannot be)."""
        for queue in self._queues:
            for attempt in list(queue)[1:]:
                if attempt.ticket == ticket:
                    queue.remove(attempt)
                    return True
        return False

    def memory(self, ticket: int) -> int | None:
        index = self._index_of_ticket(ticket)
        if index is None:
            return None
        return int(self.memory_bytes.get(self._queues[index][0].task_id, 0))

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def wakeup(self) -> None:
        return None

    def begin_run(self) -> None:
        return None

    def end_run(self) -> None:
        return None

    def close(self, *, kill: bool = False) -> None:
        return None

    # -- what a test does --------------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """Whether nothing has happened since the last ``wait`` (it would return no event)."""
        return not self._events

    def running(self) -> list[str]:
        """Task ids currently running, by worker."""
        return [q[0].task_id for q in self._queues if q]

    def queued(self) -> list[str]:
        """Task ids sent to a busy worker and not started."""
        return [a.task_id for q in self._queues for a in list(q)[1:]]

    def attempt_of(self, task_id: str) -> Attempt:
        index = self._index_of(task_id)
        return self._queues[index][0]

    def finish(self, task_id: str, value: Any = None, *, duration: float | None = None,
               reports: dict[str, Any] | None = None, cpu_time: float = 0.0,
               peak_rss: int = 0) -> None:
        index = self._index_of(task_id)
        attempt = self._queues[index].popleft()
        self._events.append(AttemptFinished(attempt.ticket, self._pids[index], self.clock.now(),
                                            True, value, None, duration, cpu_time, peak_rss,
                                            reports or {}))
        self._start_next(index)

    def fail(self, task_id: str, error: TaskError | BaseException | str = "boom", *,
             duration: float | None = None, reports: dict[str, Any] | None = None) -> None:
        if isinstance(error, str):
            error = task_error(error)
        elif isinstance(error, BaseException):
            error = error_from_tuple(capture(error))
        index = self._index_of(task_id)
        attempt = self._queues[index].popleft()
        self._events.append(AttemptFinished(attempt.ticket, self._pids[index], self.clock.now(),
                                            False, None, error, duration,
                                            reports=reports or {}))
        self._start_next(index)

    def crash(self, task_id: str, *, exit_code: int | None = None,
              signal: str | None = "SIGSEGV") -> None:
        """The worker running ``task_id`` dies by itself."""
        self._lose(self._index_of(task_id), killed=False, signal=signal, exit_code=exit_code)

    def die(self, task_id: str) -> None:
        """The worker running ``task_id`` dies after a kill (with ``obey_kills=False``)."""
        self._lose(self._index_of(task_id), killed=True, signal="SIGKILL")

    # -- internals ---------------------------------------------------------------------------

    def _index_of(self, task_id: str) -> int:
        for i, q in enumerate(self._queues):
            if q and q[0].task_id == task_id:
                return i
        raise AssertionError(f"task {task_id!r} is not running (running: {self.running()})")

    def _index_of_ticket(self, ticket: int) -> int | None:
        for i, q in enumerate(self._queues):
            if q and q[0].ticket == ticket:
                return i
        return None

    def _start(self, index: int) -> None:
        attempt = self._queues[index][0]
        self._started_at[index] = self.clock.now()
        self.started.append(attempt.task_id)
        self._events.append(AttemptStarted(attempt.ticket, self._pids[index], self.clock.now()))
        self.max_running = max(self.max_running, len(self.running()))

    def _start_next(self, index: int) -> None:
        if self._queues[index]:
            self._start(index)

    def _lose(self, index: int, *, killed: bool, signal: str | None,
              exit_code: int | None = None) -> None:
        queue = self._queues[index]
        attempt = queue.popleft()
        pid = self._pids[index]
        now = self.clock.now()
        self._events.append(WorkerExited(pid, index, now, exit_code, signal,
                                         "killed" if killed else "crashed"))
        self._events.append(AttemptLost(attempt.ticket, pid, now, exit_code, signal, killed))
        for rest in queue:
            self._events.append(AttemptRequeued(rest.ticket))
        queue.clear()
        self._pids[index] = self._new_pid()
        self._events.append(WorkerStarted(self._pids[index], index, now, 0.0))


class _Record(Protocol):
    @property
    def id(self) -> str: ...


class _Steppable(Protocol):
    def step(self, timeout: float | None = 0.0) -> Sequence[_Record]: ...


def run_until_quiet(scheduler: _Steppable, executor: ScriptedExecutor, *,
                    max_steps: int = 1000) -> list[str]:
    """Step ``scheduler`` until ``executor`` has nothing more to report; returns the ids of the
    tasks that reached a terminal state, in order.

    A step handles an outcome and dispatches more work or kills, and the executor reports those
    starts and deaths to the next step; so afterwards the executor's ``running()`` and the
    scheduler's states agree. Raises ``RuntimeError`` after ``max_steps`` steps that each left
    something to report (the two keep answering each other).
    """
    ids: list[str] = []
    for _ in range(max_steps):
        ids += [rec.id for rec in scheduler.step()]
        if executor.quiet:
            return ids
    raise RuntimeError(f"the scheduler and the executor still exchange events after "
                       f"{max_steps} steps")
