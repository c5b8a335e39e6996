"""What the end of a task says: the error records the scheduler writes when an attempt is lost
or a task never runs, the reports a task keeps, and the ``TaskResult`` a record becomes.

Pure functions of their arguments. The words users read (and tests pin) live here in one
place, apart from the loop that decides when they apply.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..model.policy import OrchestrationPolicy
from ..model.results import TaskError, TaskResult
from .state import TaskRecord

__all__ = [
    "lost_attempt_error", "cancelled_error", "upstream_error", "merge_reports",
    "public_reports", "task_result", "task_facts", "policy_summary", "MEMORY_PEAK_KEY",
]

# The largest resident size the memory checks saw for a task, kept among its reports while it
# runs (for the error message) and never shown to users.
MEMORY_PEAK_KEY = "_memory_peak_seen"


def lost_attempt_error(rec: TaskRecord, reason: str | None, *, pid: int | None,
                       signal: str | None, exit_code: int | None, timeout: float | None,
                       global_timeout: float | None, memory_limit: float | None) -> TaskError:
    """Why the process running ``rec``'s attempt died: killed for ``reason`` (``timeout``,
    ``run_timeout``, ``memory_limit``), or by itself (``reason`` None: a crash)."""
    how = signal or (f"exit code {exit_code}" if exit_code is not None else "unknown")
    where = f"task {rec.id!r} attempt {rec.attempt}"
    worker = f"worker pid {pid}"
    if reason == "timeout":
        return TaskError(kind="timeout", type="TimeoutError",
                         message=f"{where} timed out after {timeout}s; killed {worker} ({how})")
    if reason == "run_timeout":
        return TaskError(kind="timeout", type="TimeoutError",
                         message=f"{where} was still running when the run's global_timeout of "
                                 f"{global_timeout}s expired; killed {worker} ({how})")
    if reason == "memory_limit":
        peak = (rec.reports.get(MEMORY_PEAK_KEY) or 0) / 2**20
        return TaskError(kind="memory", type="MemoryLimitExceeded",
                         message=f"{where} exceeded its memory limit of {memory_limit:g} MB "
                                 f"(peak seen {peak:.0f} MB); killed {worker} ({how})")
    return TaskError(kind="crash", type="WorkerCrashed",
                     message=f"{worker} died while running {where}: {how}",
                     exit_code=exit_code, signal=signal)


def cancelled_error(task_id: str, stopping: str | None, cause: str | None,
                    global_timeout: float | None) -> TaskError:
    """Why a task was cancelled: the run stopped for ``stopping`` (``cascade`` after task
    ``cause`` failed, ``run_timeout``, or an interrupt)."""
    if stopping == "cascade":
        message = (f"task {task_id!r} cancelled: task {cause!r} failed and cancellation is "
                   f"'cascading'")
    elif stopping == "run_timeout":
        message = (f"task {task_id!r} cancelled: the run's global_timeout of {global_timeout}s "
                   f"expired before it started")
    else:
        message = f"task {task_id!r} cancelled: the run was interrupted"
    return TaskError(kind="cancelled", type="Cancelled", message=message, upstream=cause)


def upstream_error(task_id: str, root: str, root_status: str) -> TaskError:
    """Why a task was skipped: the upstream task ``root`` ended ``root_status``."""
    return TaskError(kind="upstream", type="UpstreamFailed",
                     message=f"task {task_id!r} skipped: upstream task {root!r} {root_status}",
                     upstream=root)


def merge_reports(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Add an attempt's reports to the task's: numbers add up over attempts (what a failed
    attempt cost was still spent), other values are replaced by the latest. Mutates ``into``."""
    for name, value in new.items():
        old = into.get(name)
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and isinstance(old, (int, float)) and not isinstance(old, bool)):
            into[name] = old + value
        else:
            into[name] = value


def public_reports(reports: dict[str, Any]) -> dict[str, Any]:
    """The reports without the scheduler's own bookkeeping."""
    if MEMORY_PEAK_KEY in reports:
        return {k: v for k, v in reports.items() if k != MEMORY_PEAK_KEY}
    return reports


def task_result(rec: TaskRecord) -> TaskResult:
    return TaskResult(
        id=rec.id, status=rec.state.status(), value=rec.value, error=rec.error,
        attempts=rec.attempt, started_at=rec.started_at, finished_at=rec.finished_at,
        duration=rec.duration, worker_pid=rec.worker_pid,
        retry_delays=tuple(rec.retry_delays), busy_time=rec.busy_time,
        cpu_time=rec.cpu_time, peak_rss=rec.peak_rss, reports=public_reports(rec.reports),
        tags=rec.spec.tags,
    )


def task_facts(rec: TaskRecord, deps: Sequence[str]) -> dict[str, Any]:
    """What a terminal event carries so a log alone rebuilds the task's metrics."""
    facts: dict[str, Any] = {"busy_time": rec.busy_time}
    if rec.cpu_time is not None:
        facts["cpu_time"] = rec.cpu_time
    if rec.peak_rss is not None:
        facts["peak_rss"] = rec.peak_rss
    if rec.reports:
        facts["reports"] = public_reports(rec.reports)
    if deps:
        facts["deps"] = list(deps)
    return facts


def policy_summary(policy: OrchestrationPolicy) -> dict[str, Any]:
    """The policy fields ``run.started`` reports."""
    return {
        "max_concurrency": policy.max_concurrency,
        "task_timeout": policy.task_timeout,
        "global_timeout": policy.global_timeout,
        "cancellation": policy.cancellation,
        "on_failure": policy.on_failure,
        "max_attempts": policy.retry.max_attempts,
    }
