"""What the store gives back (``RunInfo``, ``StoredTask``), and how they map to table rows.

Rows and records meet only here: ``TASK_COLUMNS`` is the one list of a task row's columns, in
the order ``task_row`` writes them and ``stored_task`` reads them. Errors, reports, tags and
retry delays are JSON (readable with the ``sqlite3`` shell); a report value that JSON cannot
hold is kept as its ``repr``. An exception object itself is not stored, only its type, message
and traceback text: a failed task always runs again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..model.results import TaskError, TaskResult, TaskStatus
from .keys import Fingerprint, Key, NotCacheable

__all__ = ["RunInfo", "StoredTask", "RUN_STATUSES", "TASK_COLUMNS", "task_row", "stored_task",
           "run_info", "RUN_COLUMNS"]

# A run's status as written: "running" from its start until it finishes with one of the rest.
# Listings show "incomplete" for a "running" run whose process is gone (killed, power cut).
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")


@dataclass(frozen=True)
class RunInfo:
    """One run in the store. ``started``/``finished``: wall clock, seconds since the epoch.
    ``counts``: tasks by status (as the run reported them when it finished; as stored so far
    while it runs or when it never finished)."""

    id: str
    name: str
    status: str
    started: float
    finished: float | None
    counts: Mapping[str, int] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    resumed_from: str | None = None
    note: str | None = None
    pid: int | None = None
    host: str | None = None

    def describe(self) -> str:
        """One line for a list of candidates: ``3f2a9c1d (nightly, 2024-05-01 12:00:03,
        failed: 10 succeeded, 2 failed)``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        return f"{self.id} ({self.name}, {when}, {self.status}" + (
            f": {counts})" if counts else ")")


@dataclass(frozen=True)
class StoredTask:
    """One finished task of a stored run (its value is read with ``RunStore.load``).

    ``reused_from``: the run whose result this one reused (None: it ran in ``run_id``).
    ``not_stored``: why a succeeded task's value is not in the store (it runs again on resume).
    """

    run_id: str
    task_id: str
    status: TaskStatus
    key: Key
    attempts: int
    started_at: float | None
    finished_at: float | None
    duration: float | None
    busy_time: float
    cpu_time: float | None
    peak_rss: int | None
    worker_pid: int | None
    retry_delays: tuple[float, ...]
    error: TaskError | None
    reports: Mapping[str, Any]
    tags: Mapping[str, Any]
    reused_from: str | None
    not_stored: str | None
    value_key: int | None = field(default=None, repr=False)

    @property
    def stored(self) -> bool:
        """Whether its value can be read back (only a succeeded task has one)."""
        return self.value_key is not None

    @property
    def origin(self) -> str:
        """The run in which this result was computed."""
        return self.reused_from or self.run_id

    def result(self, value: Any = None) -> TaskResult:
        """As a ``TaskResult`` (``value`` is what ``RunStore.load`` read)."""
        return TaskResult(
            id=self.task_id, status=self.status, value=value, error=self.error,
            attempts=self.attempts, started_at=self.started_at, finished_at=self.finished_at,
            duration=self.duration, worker_pid=self.worker_pid, retry_delays=self.retry_delays,
            busy_time=self.busy_time, cpu_time=self.cpu_time, peak_rss=self.peak_rss,
            reports=dict(self.reports), tags=dict(self.tags), reused_from=self.reused_from)


TASK_COLUMNS = (
    "id", "status", "fingerprint", "not_cacheable", "attempts", "started_at", "finished_at",
    "duration", "busy_time", "cpu_time", "peak_rss", "worker_pid", "retry_delays", "error",
    "reports", "tags", "value", "not_stored", "reused_from",
)


def _json(obj: Any) -> str | None:
    if not obj:  # None, or an empty dict or list: no column value
        return None
    return json.dumps(obj, default=repr, separators=(",", ":"))


def _error_json(error: TaskError | None) -> str | None:
    if error is None:
        return None
    out = error.to_dict()
    if error.type_chain:
        out["type_chain"] = list(error.type_chain)
    return _json(out)


def _error(text: str | None) -> TaskError | None:
    if text is None:
        return None
    d = json.loads(text)
    return TaskError(kind=d["kind"], type=d["type"], message=d["message"],
                     traceback=d.get("traceback"), exit_code=d.get("exit_code"),
                     signal=d.get("signal"), upstream=d.get("upstream"),
                     type_chain=tuple(d.get("type_chain", ())))


def task_row(run_key: int, result: TaskResult, key: Key, value_key: int | None,
             not_stored: str | None, reused_from: str | None) -> tuple[Any, ...]:
    """The values of ``TASK_COLUMNS`` (after ``run``) for one task."""
    fingerprint = key.digest if isinstance(key, Fingerprint) else None
    reason = key.reason if isinstance(key, NotCacheable) else None
    # TaskStatus is a str enum: sqlite3 binds it as its text (``.value`` costs 1.4 us a row).
    return (run_key, result.id, result.status, fingerprint, reason, result.attempts,
            result.started_at, result.finished_at, result.duration, result.busy_time,
            result.cpu_time, result.peak_rss, result.worker_pid, _json(list(result.retry_delays)),
            _error_json(result.error), _json(dict(result.reports)), _json(dict(result.tags)),
            value_key, not_stored, reused_from)


def stored_task(run_id: str, row: Sequence[Any]) -> StoredTask:
    """A row selected as ``TASK_COLUMNS`` as a ``StoredTask``."""
    (tid, status, fingerprint, reason, attempts, started_at, finished_at, duration, busy_time,
     cpu_time, peak_rss, worker_pid, delays, error, reports, tags, value_key, not_stored,
     reused_from) = row
    key: Key = Fingerprint(fingerprint) if fingerprint is not None else NotCacheable(
        reason or "no fingerprint was recorded")
    return StoredTask(
        run_id=run_id, task_id=tid, status=TaskStatus(status), key=key, attempts=attempts,
        started_at=started_at, finished_at=finished_at, duration=duration, busy_time=busy_time,
        cpu_time=cpu_time, peak_rss=peak_rss, worker_pid=worker_pid,
        retry_delays=tuple(json.loads(delays)) if delays else (), error=_error(error),
        reports=json.loads(reports) if reports else {}, tags=json.loads(tags) if tags else {},
        reused_from=reused_from, not_stored=not_stored, value_key=value_key)


RUN_COLUMNS = ("key", "id", "name", "status", "started", "finished", "counts", "policy",
               "resumed_from", "note", "pid", "host", "pid_started")


def run_info(row: Sequence[Any], status: str, counts: Mapping[str, int] | None) -> RunInfo:
    """A row selected as ``RUN_COLUMNS`` (``status`` and ``counts`` as the store derived
    them)."""
    (_, rid, name, _, started, finished, stored_counts, policy, resumed_from, note, pid,
     host, _) = row
    if counts is None:
        counts = json.loads(stored_counts) if stored_counts else {}
    return RunInfo(id=rid, name=name, status=status, started=started, finished=finished,
                   counts=counts, policy=json.loads(policy), resumed_from=resumed_from,
                   note=note, pid=pid, host=host)
