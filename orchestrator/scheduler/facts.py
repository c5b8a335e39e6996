"""What a record becomes: its ``TaskResult``, the facts its terminal event carries, the reports
it keeps over attempts; and the run-level facts ``run.started`` and ``run.finished`` report.

Pure functions of their arguments (``merge_reports`` mutates the dict it is given).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from ..model.policy import OrchestrationPolicy
from ..model.results import TaskResult
from .records import TaskRecord
from .state import TERMINAL

__all__ = [
    "merge_reports", "task_result", "results_in_order", "deps_of", "task_facts", "policy_summary",
    "state_counts",
]


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


def task_result(rec: TaskRecord, children: tuple[TaskResult, ...] | None = None) -> TaskResult:
    """``rec`` as a ``TaskResult``. A terminal record (no longer changed) keeps the one it
    gave first: the store, a stream's hand-out and the final result each ask for it."""
    if children is None and rec.result is not None:
        return rec.result
    result = _build(rec, children)
    if children is None and rec.state in TERMINAL:
        rec.result = result
    return result


def _build(rec: TaskRecord, children: tuple[TaskResult, ...] | None) -> TaskResult:
    return TaskResult(
        id=rec.id, status=rec.state.status(), value=rec.value, error=rec.error,
        attempts=rec.attempt, started_at=rec.started_at, finished_at=rec.finished_at,
        duration=rec.duration, worker_pid=rec.worker_pid, worker=rec.worker,
        retry_delays=tuple(rec.retry_delays), busy_time=rec.busy_time,
        cpu_time=rec.cpu_time, peak_rss=rec.peak_rss, reports=rec.reports,
        tags=rec.spec.tags, reused_from=rec.reused_from, children=children,
        stdout_tail=rec.stdout_tail, stderr_tail=rec.stderr_tail,
    )


def results_in_order(order: Iterable[str], records: Mapping[str, TaskRecord],
                     ) -> dict[str, TaskResult]:
    """id -> TaskResult for the ids in ``order`` that have a record, each mapped task's
    children (recursively) just before it, in index order; then the tasks admitted during the
    run (``add_tasks``), in the order they came."""
    out: dict[str, TaskResult] = {}
    for tid in order:
        rec = records.get(tid)
        if rec is not None:
            _add_result(out, rec)
    if len(out) < len(records):
        for tid, rec in records.items():
            if tid not in out and rec.group is None:
                _add_result(out, rec)
    return out


def _add_result(out: dict[str, TaskResult], rec: TaskRecord) -> None:
    kids = rec.children
    if kids is None:
        out[rec.id] = task_result(rec)
        return
    for child in kids:
        _add_result(out, child)
    out[rec.id] = task_result(rec, tuple(out[c.id] for c in kids))


def deps_of(rec: TaskRecord) -> tuple[str, ...]:
    """What ``rec`` waited for, for the critical path: its dependencies, and a mapped task's
    children too (it ends when they have; the log's reader adds them the same way)."""
    kids = rec.children
    if not kids:
        return rec.spec.all_deps
    return rec.spec.all_deps + tuple(c.id for c in kids)


def task_facts(rec: TaskRecord, deps: Sequence[str]) -> dict[str, Any]:
    """What a terminal event carries so a log alone rebuilds the task's metrics."""
    facts: dict[str, Any] = {"busy_time": rec.busy_time}
    if rec.worker is not None:
        facts["worker"] = rec.worker
    if rec.cpu_time is not None:
        facts["cpu_time"] = rec.cpu_time
    if rec.peak_rss is not None:
        facts["peak_rss"] = rec.peak_rss
    if rec.reports:
        facts["reports"] = rec.reports
    if rec.stdout_tail is not None:
        facts["stdout_tail"] = rec.stdout_tail
    if rec.stderr_tail is not None:
        facts["stderr_tail"] = rec.stderr_tail
    if deps:
        facts["deps"] = list(deps)
    if rec.children is not None:
        facts["children"] = [c.id for c in rec.children]
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


def state_counts(records: Iterable[TaskRecord]) -> dict[str, int]:
    """state value -> how many records are in it (``run.finished``'s ``counts``)."""
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.state.value] = counts.get(rec.state.value, 0) + 1
    return counts
