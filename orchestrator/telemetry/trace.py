"""Export a run as Chrome trace event JSON: opens in Perfetto (ui.perfetto.dev) and
chrome://tracing, the timeline users already know.

One lane (a trace "thread") per worker process, named ``worker <pid>``; one slice per attempt,
from the moment the scheduler saw it start to the event that ended it, coloured by outcome
(``good`` succeeded, ``bad`` failed, ``terrible`` timed out, ``yellow`` will be retried, ``grey``
cancelled). Retries and kills are marked with instant events on the attempt's lane; run-level
events (gates, worker deaths) sit on a ``scheduler`` lane. Works on live events
(``MemorySink``) and on a log (``read_events``)::

    write_chrome_trace(read_events("run.jsonl"), "run.trace.json")

Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
(``ph`` "X" complete events, "i" instant events, "M" metadata; times in microseconds).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from .events import TERMINAL_EVENT_TYPES, Event, EventType

__all__ = ["chrome_trace", "write_chrome_trace"]

_SCHEDULER_TID = 0
_COLOR = {
    EventType.TASK_SUCCEEDED: "good",
    EventType.TASK_FAILED: "bad",
    EventType.TASK_TIMED_OUT: "terrible",
    EventType.TASK_CANCELLED: "grey",
    EventType.TASK_SKIPPED: "grey",
    EventType.TASK_RETRY_SCHEDULED: "yellow",
}


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def chrome_trace(events: Iterable[Event], run_id: str | None = None) -> dict[str, Any]:
    """The trace of one run as a JSON-ready dict (``{"traceEvents": [...], ...}``).

    ``run_id`` picks a run when ``events`` hold several; without it, the first run's events.
    """
    from .reader import split_runs

    runs = split_runs(events)
    if not runs:
        raise ValueError("no events to export")
    if run_id is None:
        run_id = next(iter(runs))
    elif run_id not in runs:
        raise ValueError(f"no events of run {run_id!r} (runs here: {list(runs)})")
    run = runs[run_id]
    pid = 1  # the trace's one "process" is the run
    out: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "args": {"name": f"run {run_id}"}},
        {"name": "thread_name", "ph": "M", "pid": pid, "tid": _SCHEDULER_TID,
         "args": {"name": "scheduler"}},
        {"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": _SCHEDULER_TID,
         "args": {"sort_index": -1}},
    ]
    lanes: dict[int, None] = {}
    open_attempts: dict[str, Event] = {}  # task id -> its task.started
    last = 0.0

    def lane(worker: int | None) -> int:
        tid = worker if worker is not None else _SCHEDULER_TID
        if tid not in lanes and tid != _SCHEDULER_TID:
            lanes[tid] = None
            out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                        "args": {"name": f"worker {tid}"}})
        return tid

    def instant(e: Event, tid: int, name: str, args: dict[str, Any]) -> None:
        out.append({"name": name, "cat": e.type, "ph": "i", "s": "t", "ts": _us(e.elapsed),
                    "pid": pid, "tid": tid, "args": args})

    def close(start: Event, end: Event, outcome: str, extra: dict[str, Any]) -> None:
        args: dict[str, Any] = {"task_id": start.task_id, "attempt": start.attempt,
                                "outcome": outcome, **extra}
        if end.duration is not None:
            args["run_time_s"] = end.duration
        if end.error is not None:
            args["error"] = str(end.error)
        out.append({"name": f"{start.task_id} #{start.attempt}", "cat": "attempt", "ph": "X",
                    "ts": _us(start.elapsed), "dur": _us(max(0.0, end.elapsed - start.elapsed)),
                    "pid": pid, "tid": lane(start.pid), "cname": _COLOR.get(end.type, "grey"),
                    "args": args})

    for e in run:
        last = max(last, e.elapsed)
        tid_task = e.task_id
        if e.type == EventType.TASK_STARTED and tid_task is not None:
            lane(e.pid)
            open_attempts[tid_task] = e
        elif e.type == EventType.TASK_RETRY_SCHEDULED and tid_task is not None:
            start = open_attempts.pop(tid_task, None)
            data = dict(e.data or {})
            if start is not None:
                close(start, e, "retry", {"retry_delay_s": data.get("delay")})
            instant(e, lane(start.pid if start else e.pid), f"retry {tid_task}",
                    {"task_id": tid_task, "failed_attempt": e.attempt, "reason": e.reason,
                     "delay_s": data.get("delay"), "next_attempt": data.get("next_attempt")})
        elif e.type == EventType.TASK_KILL and tid_task is not None:
            start = open_attempts.get(tid_task)
            instant(e, lane(start.pid if start else e.pid), f"kill {tid_task}",
                    {"task_id": tid_task, "attempt": e.attempt, "reason": e.reason,
                     **dict(e.data or {})})
        elif e.type in TERMINAL_EVENT_TYPES and tid_task is not None:
            start = open_attempts.pop(tid_task, None)
            if start is not None:
                close(start, e, e.type.split(".", 1)[1], {})
        elif e.type in (EventType.GATE_PASSED, EventType.GATE_FAILED, EventType.WORKER_DIED,
                        EventType.RUN_STARTED, EventType.RUN_FINISHED):
            instant(e, _SCHEDULER_TID, e.type, {k: v for k, v in (e.data or {}).items()
                                                if k != "policy"})
    for start in open_attempts.values():  # the log ends while these ran
        out.append({"name": f"{start.task_id} #{start.attempt}", "cat": "attempt", "ph": "X",
                    "ts": _us(start.elapsed), "dur": _us(max(0.0, last - start.elapsed)),
                    "pid": pid, "tid": lane(start.pid), "cname": "grey",
                    "args": {"task_id": start.task_id, "attempt": start.attempt,
                             "outcome": "unfinished"}})
    return {"traceEvents": out, "displayTimeUnit": "ms",
            "otherData": {"run_id": run_id, "source": "orchestrator"}}


def write_chrome_trace(events: Iterable[Event], path: str | os.PathLike[str],
                       run_id: str | None = None) -> None:
    """Write ``chrome_trace(events, run_id)`` to ``path`` as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(events, run_id), f, default=str)
