"""Export a run as Chrome trace event JSON: opens in Perfetto (ui.perfetto.dev) and
chrome://tracing, the timeline users already know.

Lanes are trace threads, named by ``M`` (metadata) events, so both viewers label them:

- trace process 1, ``run <run id>``: its main thread (tid 1) is the ``scheduler`` lane (run
  events: start, end, gates), then one ``worker <pid>`` lane per local worker process, tid =
  the worker's pid;
- on a cluster, one trace process per worker address (2, 3, ... in order of first use), named by
  the address, with one ``worker <pid>`` lane per worker process there (pids of different hosts
  may be equal; their processes keep them apart).

Every ``pid``, ``tid``, ``ts`` and ``dur`` is an integer, and times are whole microseconds
since the run started (ray's timeline, with string pids, hex tids and float times, draws badly
in Perfetto: ray#27921). No lane is tid 0 or pid 0: Perfetto took tid 0 for the idle
("swapper") thread and merged its slices into another lane (perfetto#2278). A slice's ``dur``
is the difference of its rounded end and start, so one lane's slices never overlap.

One slice per attempt, from the moment the scheduler saw it start to the event that ended it,
coloured by outcome (``good`` succeeded, ``bad`` failed, ``terrible`` timed out, ``yellow`` will
be retried, ``grey`` cancelled or unfinished). Retries and kills are instant events on the
attempt's lane, a worker's death on the worker's. Works on live events (``MemorySink``) and on
a log (``read_events``); the run is picked as every reader of a log picks it
(``reader.one_run``)::

    write_chrome_trace(read_events("run.jsonl"), "run.trace.json")

Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
(``ph`` "X" complete events, "i" instant events, "M" metadata).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from ..model.results import TaskStatus
from .events import STATUS_OF_EVENT, Event, EventType, worker_address
from .reader import one_run

__all__ = ["chrome_trace", "write_chrome_trace"]

RUN_PID = 1  # the trace process of the run (and of its local workers)
SCHEDULER_TID = RUN_PID  # the run process's main thread
_COLOR = {
    TaskStatus.SUCCEEDED: "good",
    TaskStatus.FAILED: "bad",
    TaskStatus.TIMED_OUT: "terrible",
    TaskStatus.CANCELLED: "grey",
    TaskStatus.SKIPPED: "grey",
}
_RETRY_COLOR = "yellow"
_UNFINISHED_COLOR = "grey"
_RUN_EVENTS = frozenset({EventType.GATE_PASSED, EventType.GATE_FAILED,
                               EventType.WORKER_DIED, EventType.RUN_STARTED,
                               EventType.RUN_FINISHED})

Lane = tuple[int, int]  # (trace pid, tid)


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _meta(name: str, pid: int, args: dict[str, Any], tid: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "ph": "M", "ts": 0, "pid": pid, "args": args}
    if tid is not None:
        event["tid"] = tid
    return event


class _Trace:
    """The trace events of one run, built event by event. ``add`` mutates."""

    def __init__(self, run_id: str) -> None:
        self.out: list[dict[str, Any]] = [
            _meta("process_name", RUN_PID, {"name": f"run {run_id}"}),
            _meta("process_sort_index", RUN_PID, {"sort_index": 0}),
            _meta("thread_name", RUN_PID, {"name": "scheduler"}, SCHEDULER_TID),
            _meta("thread_sort_index", RUN_PID, {"sort_index": -1}, SCHEDULER_TID),
        ]
        self.hosts: dict[str, int] = {}  # worker address -> its trace pid
        self.lanes: dict[tuple[str | None, int], Lane] = {}
        self.open: dict[str, tuple[Event, Lane]] = {}  # task id -> its running attempt
        self.last = 0.0

    def host(self, address: str | None) -> int:
        """The trace pid of the workers at ``address`` (named on first use); the run's when
        None."""
        if address is None:
            return RUN_PID
        pid = self.hosts.get(address)
        if pid is None:
            pid = self.hosts[address] = RUN_PID + 1 + len(self.hosts)
            self.out += [_meta("process_name", pid, {"name": address}),
                         _meta("process_sort_index", pid, {"sort_index": pid})]
        return pid

    def lane(self, e: Event) -> Lane:
        """The lane of the worker ``e`` names (named on first use); the scheduler's when the
        event names none."""
        if e.pid is None:
            return (RUN_PID, SCHEDULER_TID)
        address = worker_address(e)
        lane = self.lanes.get((address, e.pid))
        if lane is None:
            pid = self.host(address)
            lane = self.lanes[(address, e.pid)] = (pid, e.pid)
            self.out += [_meta("thread_name", pid, {"name": f"worker {e.pid}"}, e.pid),
                         _meta("thread_sort_index", pid, {"sort_index": len(self.lanes)}, e.pid)]
        return lane

    def instant(self, e: Event, lane: Lane, name: str, args: dict[str, Any]) -> None:
        self.out.append({"name": name, "cat": e.type, "ph": "i", "s": "t", "ts": _us(e.elapsed),
                         "pid": lane[0], "tid": lane[1], "args": args})

    def slice(self, start: Event, lane: Lane, end: float, color: str,
              args: dict[str, Any]) -> None:
        """One attempt, from its ``task.started`` to ``end`` (elapsed seconds)."""
        begin = _us(start.elapsed)
        self.out.append({"name": f"{start.task_id} #{start.attempt}", "cat": "attempt",
                         "ph": "X", "ts": begin, "dur": max(0, _us(end) - begin),
                         "pid": lane[0], "tid": lane[1], "cname": color,
                         "args": {"task_id": start.task_id, "attempt": start.attempt, **args}})

    def close(self, tid: str, end: Event, outcome: str, color: str,
              extra: dict[str, Any]) -> Lane | None:
        """End ``tid``'s running attempt at ``end``; its lane, or None if none was running."""
        running = self.open.pop(tid, None)
        if running is None:
            return None
        start, lane = running
        args: dict[str, Any] = {"outcome": outcome, **extra}
        if end.duration is not None:
            args["run_time_s"] = end.duration
        if end.error is not None:
            args["error"] = str(end.error)
        self.slice(start, lane, end.elapsed, color, args)
        return lane

    def add(self, e: Event) -> None:
        self.last = max(self.last, e.elapsed)
        tid, status = e.task_id, STATUS_OF_EVENT.get(e.type)
        if e.type == EventType.TASK_STARTED and tid is not None:
            self.open[tid] = (e, self.lane(e))
        elif e.type == EventType.TASK_RETRY_SCHEDULED and tid is not None:
            self.retry(e, tid)
        elif e.type == EventType.TASK_KILL and tid is not None:
            running = self.open.get(tid)
            self.instant(e, running[1] if running else self.lane(e), f"kill {tid}",
                         {"task_id": tid, "attempt": e.attempt, "reason": e.reason,
                          **dict(e.data or {})})
        elif status is not None and tid is not None:
            self.close(tid, e, status.value, _COLOR[status], {})
        elif e.type in _RUN_EVENTS:
            lane = (RUN_PID, SCHEDULER_TID)
            if e.type == EventType.WORKER_DIED:  # on the worker's lane, if it ran anything
                lane = self.lanes.get((worker_address(e), e.pid or 0), lane)
            self.instant(e, lane, e.type,
                         {k: v for k, v in (e.data or {}).items() if k != "policy"})

    def retry(self, e: Event, tid: str) -> None:
        data = dict(e.data or {})
        lane = self.close(tid, e, "retry", _RETRY_COLOR, {"retry_delay_s": data.get("delay")})
        self.instant(e, lane or self.lane(e), f"retry {tid}",
                     {"task_id": tid, "failed_attempt": e.attempt, "reason": e.reason,
                      "delay_s": data.get("delay"), "next_attempt": data.get("next_attempt")})

    def finish(self) -> list[dict[str, Any]]:
        """Every trace event; attempts the log never ended run to its last event. Mutates."""
        for start, lane in self.open.values():
            self.slice(start, lane, self.last, _UNFINISHED_COLOR, {"outcome": "unfinished"})
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
