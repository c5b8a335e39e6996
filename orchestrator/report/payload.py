"""The data the page embeds: a ``RunView`` and its ``GraphView`` as compact JSON.

Tables are written as ``{"fields": [...], "rows": [[...], ...]}`` (a 10,000-task run repeats
no key 10,000 times), tasks and lanes are referred to by their index, and each distinct error
is written once. Times are seconds since the run started, rounded to the microsecond as the
log has them. Tracebacks are what makes a report of many failures large: each keeps its last
``TRACEBACK_CHARS`` characters (where the exception is), and once ``TRACEBACK_BUDGET``
characters are spent the rest are left out, which the page says (the event log has them all).
The page's script (assets/) reads exactly these names; ``version`` changes with them.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..model.results import TaskError
from .dag import GraphView
from .views import RunView

__all__ = ["payload", "PAYLOAD_VERSION", "TRACEBACK_CHARS", "TRACEBACK_BUDGET"]

PAYLOAD_VERSION = 1
TRACEBACK_CHARS = 6_000
TRACEBACK_BUDGET = 300_000

TASK_FIELDS = ("id", "status", "attempts", "busy", "duration", "queued", "start", "end",
               "error", "reused")
ATTEMPT_FIELDS = ("task", "attempt", "lane", "start", "end", "outcome", "ready", "waiting",
                  "error", "kill")
ERROR_FIELDS = ("kind", "type", "message", "traceback", "exit_code", "signal", "upstream")


def _t(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


class _Errors:
    """Each distinct error once; tracebacks trimmed and within the budget. Mutates as it goes."""

    def __init__(self) -> None:
        self.index: dict[TaskError, int] = {}
        self.rows: list[list[Any]] = []
        self.budget = TRACEBACK_BUDGET
        self.omitted = 0

    def ref(self, error: TaskError | None) -> int | None:
        if error is None:
            return None
        found = self.index.get(error)
        if found is not None:
            return found
        self.index[error] = len(self.rows)
        self.rows.append([error.kind, error.type, error.message, self._traceback(error.traceback),
                          error.exit_code, error.signal, error.upstream])
        return self.index[error]

    def _traceback(self, text: str | None) -> str | None:
        if not text:
            return None
        if len(text) > TRACEBACK_CHARS:
            text = "...\n" + text[-TRACEBACK_CHARS:]
        if len(text) > self.budget:
            self.omitted += 1
            return None
        self.budget -= len(text)
        return text


def _table(fields: Sequence[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"fields": list(fields), "rows": rows}


def _graph(graph: GraphView, task_index: dict[str, int]) -> dict[str, Any]:
    return {
        "mode": graph.mode,
        "units": _table(("key", "kind", "label", "members"),
                        [[u.key, u.kind, u.label, [task_index[m] for m in u.members]]
                         for u in graph.units]),
        "columns": [list(c) for c in graph.columns],
        "edges": [list(e) for e in graph.edges],
        "critical": [task_index[t] for t in graph.critical_path],
    }


def payload(view: RunView, graph: GraphView, title: str) -> dict[str, Any]:
    """The JSON-ready dict the page renders (see the module docstring for its shape)."""
    h = view.header
    errors = _Errors()
    task_index = {tid: i for i, tid in enumerate(view.tasks)}
    lane_index = {lane.key: i for i, lane in enumerate(view.lanes)}
    tasks = [[t.id, t.status, t.attempts, _t(t.busy_time), _t(t.duration), _t(t.queued),
              _t(t.started_at), _t(t.finished_at), errors.ref(t.error), int(t.reused)]
             for t in view.tasks.values()]
    attempts = [[task_index[a.task], a.attempt, lane_index[a.lane], _t(a.start), _t(a.end),
                 a.outcome, _t(a.ready), _t(a.waiting), errors.ref(a.error), a.kill]
                for a in view.attempts]
    return {
        "version": PAYLOAD_VERSION,
        "title": title,
        "run": {
            "id": h.run_id, "started": h.started, "status": h.status, "end": _t(h.end),
            "metrics": h.metrics.to_dict() if h.metrics is not None else None,
            "counts": dict(h.counts), "max_concurrency": h.max_concurrency,
            "facts": {"timeouts": h.timeouts, "crashes": h.crashes, "kills": h.kills,
                      "reused": h.reused, "worker_deaths": h.worker_deaths},
        },
        "lanes": [{"key": lane.key, "pid": lane.pid, "worker": lane.worker,
                   "deaths": [[_t(t), why] for t, why in lane.deaths]} for lane in view.lanes],
        "tasks": _table(TASK_FIELDS, tasks),
        "attempts": _table(ATTEMPT_FIELDS, attempts),
        "errors": _table(ERROR_FIELDS, errors.rows),
        "tracebacks_omitted": errors.omitted,
        "gates": [{"name": g.name, "passed": g.passed, "message": g.message, "error": g.error,
                   "attempts": g.attempts} for g in view.gates],
        "running": [[_t(t), v] for t, v in view.running],
        "resources": {name: {"capacity": view.capacity.get(name),
                             "series": [[_t(t), v] for t, v in s]}
                      for name, s in view.resources.items()},
        "graph": _graph(graph, task_index),
    }
