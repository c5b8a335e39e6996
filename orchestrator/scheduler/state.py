"""The task lifecycle: one enum, one transitions table, one way to move.

    pending -> ready -> dispatched -> running -> (retry_wait -> ready)* -> terminal
    terminal = succeeded | failed | timed_out | cancelled | skipped

``dispatched`` means "sent to a worker that has not started it yet" (prefetch); when that worker
dies the task goes back to ``ready`` without being charged an attempt.
"""

from __future__ import annotations

import enum
from typing import Any, Final, Mapping

from ..model.results import TaskError, TaskStatus
from ..model.spec import TaskSpec

__all__ = ["TaskState", "TERMINAL", "InvalidTransition", "TaskRecord"]


class TaskState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    # Members are singletons: identity hashing is correct and much cheaper than Enum's
    # name-based __hash__, which the transitions table would call several times per task.
    __hash__ = object.__hash__

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    def status(self) -> TaskStatus:
        return _STATUS[self]


S = TaskState
TERMINAL: Final = frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED, S.SKIPPED})
_STATUS: Final = {state: TaskStatus(state.value) for state in TERMINAL}

# The whole diagram, in one place. FAILED from READY: its arguments could not be serialised.
# FAILED/TIMED_OUT from RETRY_WAIT, or from READY for a retry still waiting for a worker: the
# run's deadline passed before the retry started, so the last failure stands.
ALLOWED: Final[Mapping[TaskState, frozenset[TaskState]]] = {
    S.PENDING: frozenset({S.READY, S.SKIPPED, S.CANCELLED}),
    S.READY: frozenset({S.DISPATCHED, S.FAILED, S.TIMED_OUT, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.RUNNING, S.READY, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED, S.RETRY_WAIT}),
    S.RETRY_WAIT: frozenset({S.READY, S.FAILED, S.TIMED_OUT, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.TIMED_OUT: frozenset(),
    S.CANCELLED: frozenset(),
    S.SKIPPED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the scheduler: it tried a move the diagram does not allow."""


class TaskRecord:
    """Per-task bookkeeping, owned by the scheduler.

    Invariant after construction: ``spec``, ``seq``, ``rank``, ``dependents``.
    Changed by the scheduler only: everything else, ``state`` only through ``move``.
    """

    __slots__ = (
        "spec", "seq", "rank", "dependents", "state", "waiting", "attempt", "ticket",
        "value", "error", "started_at", "finished_at", "first_started_at", "duration",
        "busy_time", "worker_pid", "retry_delays", "kill_reason", "cpu_time", "peak_rss",
        "reports", "last_failure", "payload",
    )

    def __init__(self, spec: TaskSpec, seq: int, rank: float, dependents: tuple[str, ...]) -> None:
        self.spec = spec
        self.seq = seq
        self.rank = rank
        self.dependents = dependents
        self.state = TaskState.PENDING
        self.waiting = 0  # dependencies not yet finished
        self.attempt = 0  # attempts started so far
        self.ticket: int | None = None  # the executor's handle on the current attempt
        self.value: Any = None
        self.error: TaskError | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.first_started_at: float | None = None
        self.duration: float | None = None
        self.busy_time = 0.0
        self.worker_pid: int | None = None
        self.retry_delays: list[float] = []
        self.kill_reason: str | None = None
        self.cpu_time: float | None = None
        self.peak_rss: int | None = None
        self.reports: dict[str, Any] = {}
        self.last_failure: TaskState | None = None
        self.payload: Any = None  # the executor's prepared arguments, reused on requeue

    @property
    def id(self) -> str:
        return self.spec.id

    def move(self, to: TaskState) -> None:
        """Change state, or raise ``InvalidTransition``. Mutates."""
        if to not in ALLOWED[self.state]:
            raise InvalidTransition(
                f"task {self.spec.id!r}: {self.state.value} -> {to.value} is not allowed"
            )
        self.state = to

    def __repr__(self) -> str:
        return f"<TaskRecord {self.spec.id!r} {self.state.value} attempt={self.attempt}>"
