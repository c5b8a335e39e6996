"""The report's view of one run, as plain frozen data: what the page draws, with no HTML.

``model.build_view`` builds a ``RunView`` from a run's events; ``dag.build_graph`` lays out its
tasks; ``payload.payload`` writes both as the JSON the page embeds. Times are seconds since the
run started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..model.results import RunMetrics, TaskError
from .series import Series

__all__ = ["AttemptView", "TaskView", "LaneView", "GateView", "RunHeader", "RunView",
           "OUTCOMES", "UNFINISHED"]

UNFINISHED = "unfinished"  # a task or attempt the log ends before it ended
OUTCOMES = ("succeeded", "failed", "timed_out", "crashed", "cancelled", UNFINISHED)


@dataclass(frozen=True)
class AttemptView:
    """One attempt: ``ready`` (queued from then), ``waiting`` (first waited for a resource),
    ``start``, ``end`` (None: the log ends while it ran); all seconds since the run started."""

    task: str
    attempt: int
    lane: str
    start: float
    end: float | None
    outcome: str
    ready: float | None = None
    waiting: float | None = None
    error: TaskError | None = None
    kill: str | None = None  # why the scheduler killed it (``task.kill``'s reason)
    resources: Mapping[str, float] = field(default_factory=dict)

    @property
    def queued(self) -> float:
        """Seconds from ready (or, failing that, waiting) until it started."""
        since = self.ready if self.ready is not None else self.waiting
        return self.start - since if since is not None else 0.0


@dataclass(frozen=True)
class TaskView:
    """One task: ``status`` is a ``TaskStatus`` value, or ``unfinished``."""

    id: str
    status: str
    attempts: int = 0
    busy_time: float = 0.0
    duration: float | None = None  # the last attempt's run time
    queued: float = 0.0  # summed over attempts: ready (or waiting) until started
    started_at: float | None = None
    finished_at: float | None = None
    error: TaskError | None = None
    deps: tuple[str, ...] = ()
    reused: bool = False


@dataclass(frozen=True)
class LaneView:
    """One worker: ``key`` is its pid, or ``address/pid`` on a cluster."""

    key: str
    pid: int | None
    worker: str | None
    deaths: tuple[tuple[float, str], ...] = ()  # (elapsed, worker.died reason)


@dataclass(frozen=True)
class GateView:
    name: str
    passed: bool
    message: str
    error: str | None = None  # the traceback text when the gate raised
    attempts: int | None = None  # for a gate run in a worker


@dataclass(frozen=True)
class RunHeader:
    """``status``: ok, failed (a task did not succeed), rejected (a gate), interrupted or
    unfinished (no ``run.finished``). ``metrics`` is None for an unfinished run."""

    run_id: str
    started: str  # ISO 8601 UTC
    status: str
    end: float  # the time axis ends here: the wall time, or the last event if later
    metrics: RunMetrics | None
    counts: Mapping[str, int]
    max_concurrency: int | None
    timeouts: int  # attempts that timed out
    crashes: int  # attempts whose worker died
    kills: int  # attempts the scheduler killed
    reused: int  # tasks taken from a result store
    worker_deaths: int


@dataclass(frozen=True)
class RunView:
    header: RunHeader
    lanes: tuple[LaneView, ...]
    attempts: tuple[AttemptView, ...]
    tasks: Mapping[str, TaskView]  # in the order the log first names them
    gates: tuple[GateView, ...]
    running: Series  # running attempts over time
    resources: Mapping[str, Series]  # each resource's use over time, where events give it
    capacity: Mapping[str, float]  # each resource's capacity, where the policy gives it
    mapped: Mapping[str, tuple[str, ...]]  # mapped task id -> its children's ids
