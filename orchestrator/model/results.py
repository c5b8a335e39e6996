"""What a run gives back: one TaskResult per task and an OrchestrationResult for the run.

A task's failure is a value (``TaskResult.error``, a picklable ``TaskError``), not an exception.
``TaskError.kind`` keeps apart "the callable raised" (``exception``), "it ran too long"
(``timeout``), "its worker died" (``crash``), "it used too much memory" (``memory``), "its
arguments or result could not cross the process boundary" (``pickling``), "the run stopped it"
(``cancelled``) and "an upstream task failed" (``upstream``).
"""

from __future__ import annotations

import enum
import pickle
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping

from .errors import TaskFailedError
from .resources import ResourceUsage

__all__ = [
    "TaskStatus",
    "ErrorKind",
    "TaskError",
    "TaskResult",
    "RunMetrics",
    "OrchestrationResult",
]


class TaskStatus(str, enum.Enum):
    """The terminal status of a task."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


ErrorKind = Literal["exception", "timeout", "crash", "memory", "pickling", "cancelled", "upstream"]


class RemoteTraceback(Exception):
    """Carries the worker's traceback text as the ``__cause__`` of a rebuilt exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


@dataclass(frozen=True)
class TaskError:
    """Why a task did not succeed. Picklable and JSON-friendly (``to_dict``)."""

    kind: ErrorKind
    type: str
    message: str
    traceback: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    upstream: str | None = None
    type_chain: tuple[str, ...] = ()
    # The pickled exception object when it could cross the boundary; see ``exception()``.
    exception_bytes: bytes | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def exception(self) -> BaseException:
        """The worker's exception, rebuilt, with its traceback text as ``__cause__``.

        When the original cannot be unpickled here, a ``TaskFailedError`` with the same words.
        """
        exc: BaseException | None = None
        if self.exception_bytes is not None:
            try:
                exc = pickle.loads(self.exception_bytes)
            except Exception:
                exc = None
        if exc is None:
            exc = TaskFailedError(str(self))
        if self.traceback:
            exc.__cause__ = RemoteTraceback(self.traceback)
        return exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "type": self.type, "message": self.message}
        for name in ("traceback", "exit_code", "signal", "upstream"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task.

    Times are seconds since the run started (monotonic clock). ``duration`` is the run time of
    the last attempt; ``busy_time`` sums every attempt. ``retry_delays`` lists the delay used
    before each retry. ``cpu_time`` (summed) and ``peak_rss`` (bytes, the largest) are measured
    in the worker over every attempt that finished (a killed attempt cannot report; an attempt
    shorter than 1 ms reports no peak, since reading it costs more than such a task);
    ``reports`` holds what its attempts reported through ``workers.current_task().report()``:
    numbers summed over the attempts that finished (a failed try's cost was still spent), other
    values as the latest attempt gave them. ``worker_pid`` is the process that ran the last
    attempt; ``worker`` the address of the cluster worker it ran on (``None`` on this machine).
    """

    id: str
    status: TaskStatus
    value: Any = None
    error: TaskError | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None
    worker_pid: int | None = None
    retry_delays: tuple[float, ...] = ()
    busy_time: float = 0.0
    cpu_time: float | None = None
    peak_rss: int | None = None
    reports: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    worker: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is TaskStatus.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "value": self.value,
            "error": self.error.to_dict() if self.error else None,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "worker_pid": self.worker_pid,
            "worker": self.worker,
            "retry_delays": list(self.retry_delays),
            "busy_time": self.busy_time,
            "cpu_time": self.cpu_time,
            "peak_rss": self.peak_rss,
            "reports": dict(self.reports),
        }


@dataclass(frozen=True)
class RunMetrics:
    """Figures derived from the task results (never measured twice).

    ``serial_time`` sums every attempt's run time (busy time).
    ``parallelism`` = serial_time / wall_time: busy over wall, how many tasks ran at once on
    average. It is not the gain over a serial run: on a loaded machine each task runs slower in
    parallel, so busy time grows (1.99x busy/wall against a real gain of 1.41-1.49x, issue 11).
    ``speedup_vs_serial``: the same figure under its old name (an alias, kept for schema 1.2).
    ``efficiency`` = parallelism / workers used.
    ``utilization`` = busy worker-seconds / (workers x wall time).
    ``critical_path`` = the longest dependency chain in measured durations (seconds).
    ``resources``: name -> ``ResourceUsage`` (peak, time-weighted mean, total wait) for each
    named resource the run's tasks held or waited for; empty when none did.
    """

    wall_time: float
    serial_time: float
    parallelism: float
    efficiency: float
    utilization: float
    workers: int
    tasks: int
    attempts: int
    retries: int
    counts: Mapping[str, int]
    critical_path: float
    cpu_time: float
    cost_estimate: float | None = None
    resources: Mapping[str, ResourceUsage] = field(default_factory=dict)

    @property
    def speedup_vs_serial(self) -> float:
        """``parallelism`` under its old name (busy/wall, not a measured gain): deprecated."""
        return self.parallelism

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "wall_time": self.wall_time,
            "serial_time": self.serial_time,
            "parallelism": self.parallelism,
            "speedup_vs_serial": self.parallelism,  # the old name, for one minor version
            "efficiency": self.efficiency,
            "utilization": self.utilization,
            "workers": self.workers,
            "tasks": self.tasks,
            "attempts": self.attempts,
            "retries": self.retries,
            "counts": dict(self.counts),
            "critical_path": self.critical_path,
            "cpu_time": self.cpu_time,
            "cost_estimate": self.cost_estimate,
        }
        if self.resources:
            out["resources"] = {name: u.to_dict() for name, u in self.resources.items()}
        return out


@dataclass(frozen=True)
class OrchestrationResult:
    """The outcome of a run: ``tasks`` maps id -> TaskResult in graph order."""

    run_id: str
    tasks: Mapping[str, TaskResult]
    metrics: RunMetrics
    started_at: float  # wall clock, seconds since the epoch
    interrupted: bool = False
    gates: tuple[Any, ...] = ()
    merged: Any = None

    @property
    def ok(self) -> bool:
        """Every task succeeded (and every gate passed)."""
        return (
            not self.interrupted
            and all(r.status is TaskStatus.SUCCEEDED for r in self.tasks.values())
            and all(getattr(g, "passed", True) for g in self.gates)
        )

    @property
    def values(self) -> dict[str, Any]:
        """id -> value for every task that succeeded."""
        return {tid: r.value for tid, r in self.tasks.items() if r.ok}

    @property
    def failed(self) -> list[TaskResult]:
        """Results of tasks that did not succeed, in graph order."""
        return [r for r in self.tasks.values() if not r.ok]

    def __getitem__(self, task_id: str) -> TaskResult:
        return self.tasks[task_id]

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def raise_for_failures(self) -> None:
        """Raise ``TaskFailedError`` naming every task that did not succeed.

        Its ``__cause__`` is the first failure's exception, rebuilt with the worker's traceback.
        """
        failed = self.failed
        if not failed:
            return
        lines = [f"{len(failed)} of {len(self.tasks)} tasks did not succeed:"]
        for r in failed[:10]:
            lines.append(f"  {r.id}: {r.status.value}" + (f" ({r.error})" if r.error else ""))
        if len(failed) > 10:
            lines.append(f"  ... and {len(failed) - 10} more")
        err = TaskFailedError("\n".join(lines), failed)
        first = next((r.error for r in failed if r.error and r.error.kind == "exception"), None)
        if first is not None:
            raise err from first.exception()
        raise err
