"""Export a run as Chrome trace event JSON: opens in Perfetto (ui.perfetto.dev) and
chrome://tracing, the timeline users already know.

One lane (a trace "thread") per worker process, named ``worker <pid>``; one slice per attempt,
from the moment the scheduler saw it start to the event that ended it, coloured by outcome
(``good`` succeeded, ``bad`` failed, ``terrible`` timed out, ``yellow`` will be retried, ``grey``
cancelled). Retries and kills are marked with instant events on the attempt's lane; run-level
events (gates, worker deaths) sit on a ``scheduler`` lane. Works on live events
(``MemorySink``) and on a log (``read_events``); the run is picked as every reader of a log
picks it (``reader.one_run``)::

    write_chrome_trace(read_events("run.jsonl"), "run.trace.json")

Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
(``ph`` "X" complete events, "i" instant events, "M" metadata; times in microseconds).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from ..model.results import TaskStatus
from .events import STATUS_OF_EVENT, Event, EventType
from .reader import one_run

__all__ = ["chrome_trace", "write_chrome_trace"]

_SCHEDULER_TID = 0
_PID = 1  # the trace's one "process" is the run
_COLOR = {
    TaskStatus.SUCCEEDED: "good",
    TaskStatus.FAILED: "bad",
    TaskStatus.TIMED_OUT: "terrible",
    TaskStatus.CANCELLED: "grey",
    TaskStatus.SKIPPED: "grey",
}
_RETRY_COLOR = "yellow"
_UNFINISHED_COLOR = "grey"
_SCHEDULER_EVENTS = frozenset({EventType.GATE_PASSED, EventType.GATE_FAILED,
                               EventType.WORKER_DIED, EventType.RUN_STARTED,
                               EventType.RUN_FINISHED})


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


class _Trace:
    """The trace events of one run, built event by event. ``add`` mutates."""

    def __init__(self, run_id: str) -> None:
        self.out: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": _PID, "args": {"name": f"run {run_id}"}},
            {"name": "thread_name", "ph": "M", "pid": _PID, "tid": _SCHEDULER_TID,
             "args": {"name": "scheduler"}},
            {"name": "thread_sort_index", "ph": "M", "pid": _PID, "tid": _SCHEDULER_TID,
             "args": {"sort_index": -1}},
        ]
        self.lanes: set[int] = set()
        self.open: dict[str, Event] = {}  # task id -> the task.started of its running attempt
        self.last = 0.0

    def lane(self, worker: int | None) -> int:
        """The lane of ``worker`` (named on first use); the scheduler's when None."""
        tid = worker if worker is not None else _SCHEDULER_TID
        if tid not in self.lanes and tid != _SCHEDULER_TID:
            self.lanes.add(tid)
            self.out.append({"name": "thread_name", "ph": "M", "pid": _PID, "tid": tid,
                             "args": {"name": f"worker {tid}"}})
        return tid

    def instant(self, e: Event, tid: int, name: str, args: dict[str, Any]) -> None:
        self.out.append({"name": name, "cat": e.type, "ph": "i", "s": "t", "ts": _us(e.elapsed),
                         "pid": _PID, "tid": tid, "args": args})

    def slice(self, start: Event, end: float, color: str, args: dict[str, Any]) -> None:
        """One attempt, from its ``task.started`` to ``end`` (elapsed seconds)."""
        self.out.append({"name": f"{start.task_id} #{start.attempt}", "cat": "attempt",
                         "ph": "X", "ts": _us(start.elapsed),
                         "dur": _us(max(0.0, end - start.elapsed)), "pid": _PID,
                         "tid": self.lane(start.pid), "cname": color,
                         "args": {"task_id": start.task_id, "attempt": start.attempt, **args}})

    def close(self, start: Event, end: Event, outcome: str, color: str,
              extra: dict[str, Any]) -> None:
        args: dict[str, Any] = {"outcome": outcome, **extra}
        if end.duration is not None:
            args["run_time_s"] = end.duration
        if end.error is not None:
            args["error"] = str(end.error)
        self.slice(start, end.elapsed, color, args)

    def add(self, e: Event) -> None:
        self.last = max(self.last, e.elapsed)
        tid, status = e.task_id, STATUS_OF_EVENT.get(e.type)
        if e.type == EventType.TASK_STARTED and tid is not None:
            self.lane(e.pid)
            self.open[tid] = e
        elif e.type == EventType.TASK_RETRY_SCHEDULED and tid is not None:
            self.retry(e, tid)
        elif e.type == EventType.TASK_KILL and tid is not None:
            start = self.open.get(tid)
            self.instant(e, self.lane(start.pid if start else e.pid), f"kill {tid}",
                         {"task_id": tid, "attempt": e.attempt, "reason": e.reason,
                          **dict(e.data or {})})
        elif status is not None and tid is not None:
            start = self.open.pop(tid, None)
            if start is not None:
                self.close(start, e, status.value, _COLOR[status], {})
        elif e.type in _SCHEDULER_EVENTS:
            self.instant(e, _SCHEDULER_TID, e.type,
                         {k: v for k, v in (e.data or {}).items() if k != "policy"})

    def retry(self, e: Event, tid: str) -> None:
        start = self.open.pop(tid, None)
        data = dict(e.data or {})
        if start is not None:
            self.close(start, e, "retry", _RETRY_COLOR, {"retry_delay_s": data.get("delay")})
        self.instant(e, self.lane(start.pid if start else e.pid), f"retry {tid}",
                     {"task_id": tid, "failed_attempt": e.attempt, "reason": e.reason,
                      "delay_s": data.get("delay"), "next_attempt": data.get("next_attempt")})

    def finish(self) -> list[dict[str, Any]]:
        """Every trace event; attempts the log never ended run to its last event. Mutates."""
        for start in self.open.values():
            self.slice(start, self.last, _UNFINISHED_COLOR, {"outcome": "unfinished"})
        self.open.clear()
        return self.out


def chrome_trace(events: Iterable[Event], run_id: str | None = None) -> dict[str, Any]:
    """The trace of one run as a JSON-ready dict (``{"traceEvents": [...], ...}``).

    ``run_id`` picks a run when ``events`` hold several. Raises ``EventLogError`` (a
    ``ValueError``) when there are no events, when ``run_id`` is not among them, or when it is
    None and they hold several runs.
    """
    run_id, run = one_run(events, run_id, to="export")
    trace = _Trace(run_id)
    for e in run:
        trace.add(e)
    return {"traceEvents": trace.finish(), "displayTimeUnit": "ms",
            "otherData": {"run_id": run_id, "source": "orchestrator"}}


def write_chrome_trace(events: Iterable[Event], path: str | os.PathLike[str],
                       run_id: str | None = None) -> None:
    """Write ``chrome_trace(events, run_id)`` to ``path`` as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(events, run_id), f, default=str)
