"""Telemetry events: immutable, typed by a dotted name, versioned (``SCHEMA_VERSION``).

Every event has ``schema``, ``type``, ``ts`` (wall clock), ``seq`` (strictly increasing within a
run), ``run_id`` and ``elapsed`` (monotonic seconds since the run started); where it applies,
``task_id``, ``attempt``, ``pid``, ``duration``, ``error``, ``reason`` and type-specific ``data``.
``to_dict()`` gives the JSON form (``ts`` as ISO 8601 UTC) documented in docs/events.md.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Mapping, NamedTuple

from ..model.results import TaskError, TaskStatus
from .jsonl_format import iso_utc

__all__ = [
    "SCHEMA_VERSION", "SCHEMA_MINOR", "EventType", "Event", "EventHandler", "TERMINAL_EVENT",
    "STATUS_OF_EVENT", "TERMINAL_EVENT_TYPES", "worker_address",
]

SCHEMA_VERSION: Final = 1  # the major version, in every event's ``schema``
# What this release added within version 1 (docs/events.md, "Versions"); ``run.started`` says it.
SCHEMA_MINOR: Final = 3


class EventType:
    """The dotted event names (plain strings, so sinks and JSON consumers compare cheaply)."""

    RUN_STARTED: Final = "run.started"
    RUN_FINISHED: Final = "run.finished"
    TASK_READY: Final = "task.ready"
    TASK_STARTED: Final = "task.started"
    TASK_RETRY_SCHEDULED: Final = "task.retry_scheduled"
    TASK_KILL: Final = "task.kill"
    TASK_SUCCEEDED: Final = "task.succeeded"
    TASK_FAILED: Final = "task.failed"
    TASK_TIMED_OUT: Final = "task.timed_out"
    TASK_CANCELLED: Final = "task.cancelled"
    TASK_SKIPPED: Final = "task.skipped"
    WORKER_STARTED: Final = "worker.started"
    WORKER_DIED: Final = "worker.died"
    GATE_PASSED: Final = "gate.passed"
    GATE_FAILED: Final = "gate.failed"
    SINK_LAGGING: Final = "sink.lagging"
    TASK_WAITING: Final = "task.waiting"  # 1.2: a ready task cannot start for a resource
    RATE_PAUSED: Final = "rate.paused"  # 1.2: a RetryAfter paused a rate-limited name

    ALL: Final = (
        RUN_STARTED, RUN_FINISHED, TASK_READY, TASK_STARTED, TASK_RETRY_SCHEDULED, TASK_KILL,
        TASK_SUCCEEDED, TASK_FAILED, TASK_TIMED_OUT, TASK_CANCELLED, TASK_SKIPPED,
        WORKER_STARTED, WORKER_DIED, GATE_PASSED, GATE_FAILED, SINK_LAGGING, TASK_WAITING,
        RATE_PAUSED,
    )


# Each terminal status has one event type, and each terminal event type one status.
TERMINAL_EVENT: Final[Mapping[TaskStatus, str]] = {
    TaskStatus.SUCCEEDED: EventType.TASK_SUCCEEDED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.TIMED_OUT: EventType.TASK_TIMED_OUT,
    TaskStatus.CANCELLED: EventType.TASK_CANCELLED,
    TaskStatus.SKIPPED: EventType.TASK_SKIPPED,
}
STATUS_OF_EVENT: Final[Mapping[str, TaskStatus]] = {t: s for s, t in TERMINAL_EVENT.items()}
TERMINAL_EVENT_TYPES: Final = frozenset(STATUS_OF_EVENT)


class Event(NamedTuple):
    """One immutable event. A NamedTuple: it is built on the scheduler's hot path."""

    type: str
    seq: int
    ts: float
    run_id: str
    elapsed: float
    task_id: str | None = None
    attempt: int | None = None
    pid: int | None = None
    duration: float | None = None
    error: TaskError | None = None
    reason: str | None = None
    data: Mapping[str, Any] | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``ts`` as ISO 8601 UTC; fields that do not apply are left out."""
        out: dict[str, Any] = {
            "schema": self.schema,
            "type": self.type,
            "ts": iso_utc(self.ts),
            "seq": self.seq,
            "run_id": self.run_id,
            "elapsed": round(self.elapsed * 1e6) / 1e6,  # whole µs, as format_event writes it
        }
        if self.task_id is not None:
            out["task_id"] = self.task_id
        if self.attempt is not None:
            out["attempt"] = self.attempt
        if self.pid is not None:
            out["pid"] = self.pid
        if self.duration is not None:
            out["duration"] = float(self.duration)  # exact: metrics are recomputed from it
        if self.error is not None:
            out["error"] = self.error.to_dict()
        if self.reason is not None:
            out["reason"] = self.reason
        if self.data:
            out["data"] = dict(self.data)
        return out


EventHandler = Callable[[Event], None]


def worker_address(e: Event) -> str | None:
    """The address of the worker an event names, on a cluster (``data.worker``, schema 1.1;
    the pid alone names a local worker), else None."""
    address = (e.data or {}).get("worker")
    return str(address) if address else None
