"""The scheduler's vocabulary: task states, stop reasons and kill reasons, each with its table.

    pending -> ready -> dispatched -> running -> (retry_wait -> ready)* -> terminal
    pending -> expanded -> terminal            (a mapped task: it runs its children instead)
    terminal = succeeded | failed | timed_out | cancelled | skipped

``dispatched`` means "sent to a worker that has not started it yet" (prefetch); when that worker
dies the task goes back to ``ready`` without being charged an attempt.

A run stops for one ``StopReason``; it kills each running attempt for one ``KillReason``. What a
reason implies is read from its table here, never decided again where it is used.
"""

from __future__ import annotations

import enum
from typing import Final, Mapping

from ..model.results import TaskStatus

__all__ = [
    "TaskState", "TERMINAL", "ALLOWED", "InvalidTransition", "StopReason", "KillReason",
    "LOST_ENDS",
]


class TaskState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    EXPANDED = "expanded"
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

# The whole diagram, in one place. SUCCEEDED from READY: a result reused from a run store.
# FAILED from READY: its arguments could not be serialised.
# FAILED/TIMED_OUT from RETRY_WAIT, or from READY for a retry still waiting for a worker: the
# run's deadline passed before the retry started, so the last failure stands. EXPANDED: a
# mapped task whose children run; it ends with its group's status (scheduler/expansion.py).
ALLOWED: Final[Mapping[TaskState, frozenset[TaskState]]] = {
    S.PENDING: frozenset({S.READY, S.EXPANDED, S.SKIPPED, S.CANCELLED}),
    S.READY: frozenset({S.DISPATCHED, S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.RUNNING, S.READY, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED, S.RETRY_WAIT}),
    S.RETRY_WAIT: frozenset({S.READY, S.FAILED, S.TIMED_OUT, S.CANCELLED}),
    S.EXPANDED: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.TIMED_OUT: frozenset(),
    S.CANCELLED: frozenset(),
    S.SKIPPED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the scheduler: it tried a move the diagram does not allow."""


class StopReason(enum.Enum):
    """Why the whole run stops (before every task has run)."""

    CASCADE = "cascade"  # a task failed and cancellation is "cascading"
    RUN_TIMEOUT = "run_timeout"  # the run's global_timeout expired
    INTERRUPT = "interrupt"  # Ctrl-C, SIGTERM, an async cancel, a closed stream, an error
    POOL_SHUTDOWN = "pool_shutdown"  # shutdown_shared_pool() while the run held the pool

    __hash__ = object.__hash__

    @property
    def kill(self) -> KillReason:
        """What each attempt still running is killed for."""
        return _KILL_FOR_STOP[self]

    @property
    def last_failure_stands(self) -> bool:
        """Whether a task that already ran and waits for its retry ends with its last failure
        (True), rather than cancelled: it did run, so "cancelled before it started" is wrong."""
        return self is StopReason.RUN_TIMEOUT


class KillReason(enum.Enum):
    """Why the scheduler kills one running attempt. The value is the ``task.kill`` event's
    ``reason``."""

    TIMEOUT = "timeout"  # the attempt passed its timeout
    MEMORY_LIMIT = "memory_limit"  # its worker passed max_memory_mb
    RUN_TIMEOUT = "run_timeout"  # the run stops: StopReason.RUN_TIMEOUT
    CASCADE = "cascade"  # the run stops: StopReason.CASCADE
    INTERRUPT = "interrupt"  # the run stops: StopReason.INTERRUPT
    POOL_SHUTDOWN = "pool_shutdown"  # the run stops: StopReason.POOL_SHUTDOWN (schema 1.2)
    REQUESTED = "requested"  # this one task was asked to stop (ProcessPool.kill)

    __hash__ = object.__hash__


_KILL_FOR_STOP: Final[Mapping[StopReason, KillReason]] = {
    StopReason.CASCADE: KillReason.CASCADE,
    StopReason.RUN_TIMEOUT: KillReason.RUN_TIMEOUT,
    StopReason.INTERRUPT: KillReason.INTERRUPT,
    StopReason.POOL_SHUTDOWN: KillReason.POOL_SHUTDOWN,
}

# How a task ends when the process running its attempt died, by what the attempt was killed
# for (None: nobody killed it, it crashed). FAILED and TIMED_OUT are retried first when the
# task's retry policy allows and the run is not stopping; CANCELLED never is.
LOST_ENDS: Final[Mapping[KillReason | None, TaskState]] = {
    None: S.FAILED,
    KillReason.TIMEOUT: S.TIMED_OUT,
    KillReason.MEMORY_LIMIT: S.FAILED,
    KillReason.RUN_TIMEOUT: S.TIMED_OUT,
    KillReason.CASCADE: S.CANCELLED,
    KillReason.INTERRUPT: S.CANCELLED,
    KillReason.POOL_SHUTDOWN: S.CANCELLED,
    KillReason.REQUESTED: S.CANCELLED,
}
