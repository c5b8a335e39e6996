"""Events in, the report's view of the run out (``views.RunView``).

``build_view(events, run_id=None)`` reads one run (a log may hold several: ``run_id`` picks one,
as the log reader's functions do) into a ``RunView``: the header's facts, one lane per worker,
one ``AttemptView`` per attempt (when it became ready, started and ended, and how), one
``TaskView`` per task, the gates, and the number of running attempts over time. The graph's
layout is ``dag.py``'s job.

Attempts are rebuilt as the Chrome trace rebuilds them: ``task.started`` opens one, and the
``task.retry_scheduled`` or terminal event that follows closes it. Event types and ``data`` keys
this module does not know are ignored (the promise of docs/events.md). Those that later minor
versions of the schema add are used when they appear: ``task.waiting`` (a ready task waits for a
resource), ``task.expanded`` (a mapped task's children), ``task.reused`` (a result taken from a
store, terminal), a ``worker`` address beside the pid, and ``resources`` held by an attempt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ..model.results import TaskError, TaskStatus
from ..telemetry.events import (
    STATUS_OF_EVENT,
    TERMINAL_EVENT_TYPES,
    Event,
    EventType,
    worker_address,
)
from ..telemetry.jsonl_format import iso_utc
from ..telemetry.reader import metrics_from_events, one_run
from .series import Series, step_series
from .views import UNFINISHED, AttemptView, GateView, LaneView, RunHeader, RunView, TaskView

__all__ = ["build_view", "attempt_outcome", "lane_key"]

# Event types of later schema minor versions (docs/events.md grows with them).
TASK_WAITING = "task.waiting"
TASK_EXPANDED = "task.expanded"
TASK_REUSED = "task.reused"

# How an attempt that did not succeed ended, by its error's kind.
_OUTCOME_OF_KIND: Mapping[str, str] = {
    "exception": "failed", "pickling": "failed", "timeout": "timed_out", "crash": "crashed",
    "memory": "crashed", "cancelled": "cancelled", "upstream": "cancelled",
}
_OUTCOME_OF_TYPE: Mapping[str, str] = {
    EventType.TASK_TIMED_OUT: "timed_out", EventType.TASK_CANCELLED: "cancelled",
}
# A task's status from its terminal event; a reused task succeeded (in the run it came from).
_STATUS_OF_END: Mapping[str, str] = {
    **{t: s.value for t, s in STATUS_OF_EVENT.items()}, TASK_REUSED: TaskStatus.SUCCEEDED.value,
}


def lane_key(pid: int | None, worker: str | None) -> str:
    base = "-" if pid is None else str(pid)
    return f"{worker}/{base}" if worker else base


def attempt_outcome(end_type: str, error: TaskError | None) -> str:
    """How an attempt ended, from the event that closed it and its error."""
    if end_type in (EventType.TASK_SUCCEEDED, TASK_REUSED):
        return "succeeded"
    if error is not None:
        return _OUTCOME_OF_KIND.get(error.kind, "failed")
    return _OUTCOME_OF_TYPE.get(end_type, "failed")


@dataclass
class _Open:
    """An attempt that started and has not ended yet."""

    attempt: int
    lane: str
    start: float
    ready: float | None
    waiting: float | None
    resources: Mapping[str, float]
    kill: str | None = None


class _Builder:
    """One pass over a run's events. Every ``on_*`` method mutates the builder."""

    def __init__(self) -> None:
        self.last_elapsed = 0.0
        self.started: Event | None = None
        self.finished: Event | None = None
        self.order: dict[str, None] = {}  # task ids, first seen first
        self.ready: dict[str, float] = {}
        self.waiting: dict[str, float] = {}
        self.open: dict[str, _Open] = {}
        self.attempts: list[AttemptView] = []
        self.terminal: dict[str, Event] = {}
        self.lanes: dict[str, LaneView] = {}
        self.gates: list[GateView] = []
        self.mapped: dict[str, tuple[str, ...]] = {}
        self.run_handlers: dict[str, Callable[[Event], None]] = {
            EventType.RUN_STARTED: self.on_run_started,
            EventType.RUN_FINISHED: self.on_run_finished,
            EventType.WORKER_DIED: self.on_worker_died,
            EventType.GATE_PASSED: self.on_gate,
            EventType.GATE_FAILED: self.on_gate,
        }
        self.task_handlers: dict[str, Callable[[Event, str], None]] = {
            EventType.TASK_READY: self.on_ready,
            TASK_WAITING: self.on_waiting,
            EventType.TASK_STARTED: self.on_started,
            EventType.TASK_KILL: self.on_kill,
            EventType.TASK_RETRY_SCHEDULED: self.on_attempt_end,
            TASK_EXPANDED: self.on_expanded,
            **{t: self.on_terminal for t in (*TERMINAL_EVENT_TYPES, TASK_REUSED)},
        }

    def feed(self, e: Event) -> None:
        if e.type != EventType.RUN_FINISHED:  # emitted after the pool's release: not run time
            self.last_elapsed = max(self.last_elapsed, e.elapsed)
        if e.task_id is None:
            run_handler = self.run_handlers.get(e.type)
            if run_handler is not None:
                run_handler(e)
            return
        self.order.setdefault(e.task_id)
        task_handler = self.task_handlers.get(e.type)
        if task_handler is not None:
            task_handler(e, e.task_id)

    def on_run_started(self, e: Event) -> None:
        self.started = e

    def on_run_finished(self, e: Event) -> None:
        self.finished = e

    def on_ready(self, e: Event, tid: str) -> None:
        self.ready[tid] = e.elapsed

    def on_waiting(self, e: Event, tid: str) -> None:
        self.waiting.setdefault(tid, e.elapsed)

    def on_started(self, e: Event, tid: str) -> None:
        worker = worker_address(e)
        key = lane_key(e.pid, worker)
        if key not in self.lanes:
            self.lanes[key] = LaneView(key, e.pid, worker)
        self.open[tid] = _Open(
            e.attempt or 1, key, e.elapsed, self.ready.pop(tid, None), self.waiting.pop(tid, None),
            _amounts((e.data or {}).get("resources")))

    def on_kill(self, e: Event, tid: str) -> None:
        run = self.open.get(tid)
        if run is not None and run.kill is None:
            run.kill = e.reason

    def on_attempt_end(self, e: Event, tid: str) -> None:
        run = self.open.pop(tid, None)
        if run is not None:
            self.attempts.append(AttemptView(
                tid, run.attempt, run.lane, run.start, e.elapsed,
                attempt_outcome(e.type, e.error), run.ready, run.waiting, e.error, run.kill,
                run.resources))

    def on_terminal(self, e: Event, tid: str) -> None:
        self.on_attempt_end(e, tid)
        self.terminal[tid] = e

    def on_worker_died(self, e: Event) -> None:
        key = lane_key(e.pid, worker_address(e))
        lane = self.lanes.get(key)
        if lane is not None:  # a worker that never ran an attempt has no lane
            self.lanes[key] = LaneView(lane.key, lane.pid, lane.worker,
                                       (*lane.deaths, (e.elapsed, e.reason or "")))

    def on_gate(self, e: Event) -> None:
        data = e.data or {}
        attempts = data.get("attempts")
        self.gates.append(GateView(
            str(data.get("name", "")), e.type == EventType.GATE_PASSED,
            str(data.get("message", e.reason or "")),
            str(data["error"]) if data.get("error") else None,
            int(attempts) if isinstance(attempts, int) else None))

    def on_expanded(self, e: Event, tid: str) -> None:
        children = (e.data or {}).get("children")
        if isinstance(children, list):
            self.mapped[tid] = tuple(str(c) for c in children)

    def unfinished_attempts(self) -> list[AttemptView]:
        return [AttemptView(tid, run.attempt, run.lane, run.start, None, UNFINISHED, run.ready,
                            run.waiting, None, run.kill, run.resources)
                for tid, run in self.open.items()]


def _amounts(value: Any) -> dict[str, float]:
    """``{name: amount}`` from a ``resources`` value; anything else gives no resources."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): float(v) for k, v in value.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _task_view(tid: str, end: Event | None, attempts: list[AttemptView]) -> TaskView:
    queued = math.fsum(a.queued for a in attempts)
    started_at = min((a.start for a in attempts), default=None)
    if end is None:
        return TaskView(tid, UNFINISHED, len(attempts), queued=queued, started_at=started_at)
    data = end.data or {}
    return TaskView(
        tid, _STATUS_OF_END[end.type], attempts=end.attempt or len(attempts),
        busy_time=float(data.get("busy_time", 0.0)),
        duration=end.duration, queued=queued, started_at=started_at, finished_at=end.elapsed,
        error=end.error, deps=tuple(str(d) for d in data.get("deps") or ()),
        reused=end.type == TASK_REUSED)


def _status(finished: Event | None, tasks: Iterable[TaskView], gates: Iterable[GateView]) -> str:
    if finished is None:
        return "unfinished"
    data = finished.data or {}
    if data.get("interrupted"):
        return "interrupted"
    if data.get("ok"):
        return "ok"
    if any(t.status != TaskStatus.SUCCEEDED.value for t in tasks):
        return "failed"
    return "rejected" if any(not g.passed for g in gates) else "failed"


def _capacity(started: Event | None) -> dict[str, float]:
    data = (started.data or {}) if started is not None else {}
    policy = data.get("policy")
    return _amounts(data.get("resources")
                    or (policy.get("resources") if isinstance(policy, Mapping) else None))


def _usage(attempts: Iterable[AttemptView], end: float) -> tuple[Series, dict[str, Series]]:
    """Running attempts over time, and each resource's use (an unfinished attempt holds its
    worker and resources until the log ends)."""
    spans = [(a.start, a.end if a.end is not None else end, a) for a in attempts]
    names = sorted({name for *_, a in spans for name in a.resources})
    return (step_series([(s, e, 1.0) for s, e, _ in spans]),
            {name: step_series([(s, e, a.resources[name]) for s, e, a in spans
                                if name in a.resources]) for name in names})


def _header(b: _Builder, rid: str, run: list[Event], attempts: list[AttemptView],
            tasks: Mapping[str, TaskView], gates: tuple[GateView, ...]) -> RunHeader:
    metrics = metrics_from_events(run, rid) if b.finished is not None else None
    counts: dict[str, int] = {}
    for t in tasks.values():
        counts[t.status] = counts.get(t.status, 0) + 1
    outcomes = [a.outcome for a in attempts]
    started = b.started or run[0]
    return RunHeader(
        run_id=rid, started=iso_utc(started.ts), status=_status(b.finished, tasks.values(), gates),
        end=max(b.last_elapsed, metrics.wall_time if metrics is not None else 0.0),
        metrics=metrics,
        counts=dict(metrics.counts) if metrics is not None else counts,
        max_concurrency=(b.started.data or {}).get("max_concurrency") if b.started else None,
        timeouts=outcomes.count("timed_out"), crashes=outcomes.count("crashed"),
        kills=sum(1 for a in attempts if a.kill is not None),
        reused=sum(1 for t in tasks.values() if t.reused),
        worker_deaths=sum(1 for e in run if e.type == EventType.WORKER_DIED))


def build_view(events: Iterable[Event], run_id: str | None = None) -> RunView:
    """The ``RunView`` of one run. Raises ``EventLogError`` when ``events`` hold no run, or
    several and ``run_id`` does not pick one of them."""
    rid, run = one_run(events, run_id, to="report")
    b = _Builder()
    for e in run:
        b.feed(e)
    attempts = b.attempts + b.unfinished_attempts()
    attempts.sort(key=lambda a: (a.start, a.task, a.attempt))
    by_task: dict[str, list[AttemptView]] = {}
    for a in attempts:
        by_task.setdefault(a.task, []).append(a)
    tasks = {tid: _task_view(tid, b.terminal.get(tid), by_task.get(tid, [])) for tid in b.order}
    gates = tuple(b.gates)
    running, resources = _usage(attempts, b.last_elapsed)
    lanes = tuple(sorted(b.lanes.values(), key=lambda lane: (lane.worker or "", lane.pid or 0)))
    return RunView(_header(b, rid, run, attempts, tasks, gates), lanes, tuple(attempts), tasks,
                   gates, running, resources, _capacity(b.started), dict(b.mapped))
