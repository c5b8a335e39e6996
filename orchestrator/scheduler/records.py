"""TaskRecord: what the scheduler knows about one task, and the one way its state changes."""

from __future__ import annotations

from typing import Any

from ..model.resources import Request
from ..model.results import TaskError, TaskResult
from ..model.spec import TaskSpec
from .state import ALLOWED, InvalidTransition, KillReason, TaskState

__all__ = ["TaskRecord"]


class TaskRecord:
    """Per-task bookkeeping, owned by the scheduler.

    Invariant after construction: ``spec``, ``seq``, ``rank``, ``group``; ``dependents`` only
    grows, when a task admitted during the run depends on this one.
    Changed by the scheduler only: everything else, ``state`` only through ``move``.
    """

    __slots__ = (
        "spec", "seq", "rank", "dependents", "state", "waiting", "attempt", "value", "error",
        "started_at", "finished_at", "duration", "busy_time", "worker_pid", "worker",
        "retry_delays",
        "kill_reason", "cpu_time", "peak_rss", "rss_seen", "reports", "last_failure",
        "request", "key", "reused_from", "group", "children", "children_left",
        "stdout_tail", "stderr_tail", "result",
    )

    def __init__(self, spec: TaskSpec, seq: int, rank: float, dependents: tuple[str, ...]) -> None:
        self.spec = spec
        self.seq = seq  # submission order: the ready queue's last tie-break
        self.rank = rank  # the longest path from here to a sink (critical path)
        self.dependents = dependents
        self.state = TaskState.PENDING
        self.waiting = 0  # dependencies not yet finished
        self.attempt = 0  # attempts started so far
        self.value: Any = None
        self.error: TaskError | None = None
        self.started_at: float | None = None  # run time the current (or last) attempt started
        self.finished_at: float | None = None
        self.duration: float | None = None  # of the last attempt
        self.busy_time = 0.0  # every attempt's run time
        self.worker_pid: int | None = None
        self.worker: str | None = None  # the cluster worker's address (None on this machine)
        self.retry_delays: tuple[float, ...] = ()  # a tuple: one GC-tracked object less
        self.kill_reason: KillReason | None = None  # why the running attempt is being killed
        self.cpu_time: float | None = None
        self.peak_rss: int | None = None  # as the worker measured it, over every attempt
        self.rss_seen: int | None = None  # the largest the memory checks saw, for the error
        self.reports: dict[str, Any] = {}
        self.last_failure: TaskState | None = None  # how it ends if its retry never runs
        # The resources each attempt holds, as (name, amount) sorted: the admission's key.
        self.request: Request = tuple(spec.resources.items())
        self.key: Any = None  # with a run store: its fingerprint, or why it has none
        self.reused_from: str | None = None  # the run whose stored result it took
        self.group: TaskRecord | None = None  # the mapped task this is a child of
        self.children: list[TaskRecord] | None = None  # a mapped task's, once expanded
        self.children_left = 0  # of those, not yet terminal
        self.stdout_tail: str | None = None  # of the last attempt that finished
        self.stderr_tail: str | None = None
        self.result: TaskResult | None = None  # once terminal (built once: facts.task_result)

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
