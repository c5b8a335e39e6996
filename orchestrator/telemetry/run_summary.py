"""``RunSummary``: what ``orchestrator events summarize`` tells of each run in a log.

Every figure is recomputed from the log (``metrics_from_events``). A log can hold figures that
no run wrote (a hand-edited or damaged file: ``busy_time`` of 1e308 twice overflows a sum); such a
run ends in an ``EventLogError`` naming it, never in the arithmetic's own exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..model.errors import EventLogError
from ..model.results import RunMetrics
from .events import Event, EventType
from .jsonl_format import iso_utc
from .reader import (
    BadLineHandler,
    Source,
    _data,
    metrics_from_events,
    read_events,
    split_runs,
    task_results_from_events,
)

__all__ = ["RunSummary", "summarize"]


@dataclass(frozen=True)
class RunSummary:
    """What ``orchestrator events summarize`` prints for one run (``render()``) or dumps
    (``to_dict()``). ``metrics`` is None for a run without ``run.finished``."""

    run_id: str
    started: str
    finished: bool
    ok: bool | None
    interrupted: bool
    events: int
    counts: Mapping[str, int]
    metrics: RunMetrics | None
    gates: tuple[Mapping[str, Any], ...] = ()
    failures: tuple[tuple[str, str, str], ...] = ()  # (task id, status, error)
    slowest: tuple[tuple[str, float], ...] = ()  # (task id, busy seconds)
    workers_died: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "started": self.started, "finished": self.finished,
            "ok": self.ok, "interrupted": self.interrupted, "events": self.events,
            "counts": dict(self.counts),
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "gates": [dict(g) for g in self.gates],
            "failures": [{"task_id": t, "status": s, "error": m} for t, s, m in self.failures],
            "slowest": [{"task_id": t, "busy_time": b} for t, b in self.slowest],
            "workers_died": self.workers_died,
        }

    def render(self) -> str:
        """A few plain-text lines for a terminal."""
        state = ("ok" if self.ok else "NOT ok") if self.finished else "did not finish"
        if self.interrupted:
            state += " (interrupted)"
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items())) or "no tasks"
        lines = [f"run {self.run_id} started {self.started}: {state}", f"  tasks: {counts}"]
        m = self.metrics
        if m is not None:
            lines.append(
                f"  wall {m.wall_time:.3f}s, busy {m.serial_time:.3f}s, parallelism "
                f"{m.parallelism:.2f}x (busy/wall) on {m.workers} workers (efficiency "
                f"{m.efficiency:.0%}, utilization {m.utilization:.0%}), critical path "
                f"{m.critical_path:.3f}s")
            lines.append(f"  attempts {m.attempts}, retries {m.retries}, cpu {m.cpu_time:.3f}s"
                         + (f", cost {m.cost_estimate:.6g}" if m.cost_estimate is not None
                            else ""))
            for name, u in m.resources.items():
                cap = "rate-limited" if u.capacity is None else f"capacity {u.capacity:g}"
                lines.append(f"  resource {name}: {cap}, peak {u.peak:g}, mean {u.mean:.2f}, "
                             f"waited {u.wait:.2f}s")
        if self.workers_died:
            lines.append(f"  worker processes died: {self.workers_died}")
        for g in self.gates:
            mark = "passed" if g.get("passed") else "FAILED"
            msg = f": {g['message']}" if g.get("message") else ""
            lines.append(f"  gate {g.get('name')} {mark}{msg}")
        for tid, status, message in self.failures:
            lines.append(f"  {status}: {tid}" + (f" ({message})" if message else ""))
        if self.slowest:
            lines.append("  slowest: " + ", ".join(f"{t} {b:.3f}s" for t, b in self.slowest))
        return "\n".join(lines)


def summarize(source: Source | Iterable[Event], *, top: int = 5, max_failures: int = 20,
              on_bad_line: BadLineHandler | None = None) -> list[RunSummary]:
    """One ``RunSummary`` per run in an event log, in log order.

    ``source``: a path, ``"-"`` (standard input), a stream, or events already read.
    ``top``: how many of the slowest tasks to name; ``max_failures``: how many failed tasks.
    ``on_bad_line``: skip bad lines, handing each to it (see ``read_events``).
    Raises ``EventLogError`` for a malformed log, or a run whose figures cannot be summed.
    """
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        events = read_events(source, on_bad_line=on_bad_line)  # type: ignore[arg-type]
    else:
        events = list(source)
    out = []
    for rid, run in split_runs(events).items():
        try:
            out.append(_summary(rid, run, top, max_failures))
        except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, EventLogError):
                raise
            raise EventLogError(f"run {rid!r}: its figures cannot be summarised "
                                f"({type(exc).__name__}: {exc}): the log is damaged or was "
                                f"not written by a run") from None
    return out


def _summary(rid: str, run: list[Event], top: int, max_failures: int) -> RunSummary:
    results = task_results_from_events(run, rid)
    finished = next((e for e in reversed(run) if e.type == EventType.RUN_FINISHED), None)
    fdata = _data(finished) if finished is not None else {}
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    failures = tuple((r.id, r.status.value, str(r.error) if r.error else "")
                     for r in results.values() if not r.ok)[:max_failures]
    slowest = tuple(sorted(((r.id, r.busy_time) for r in results.values()),
                           key=lambda x: (-x[1], x[0]))[:top])
    gates = tuple(dict(_data(e)) for e in run
                  if e.type in (EventType.GATE_PASSED, EventType.GATE_FAILED))
    summary = RunSummary(
        run_id=rid,
        started=iso_utc(run[0].ts),
        finished=finished is not None,
        ok=bool(fdata.get("ok")) if finished is not None else None,
        interrupted=bool(fdata.get("interrupted")),
        events=len(run), counts=counts,
        metrics=metrics_from_events(run, rid) if finished is not None else None,
        gates=gates, failures=failures, slowest=slowest,
        workers_died=sum(1 for e in run if e.type == EventType.WORKER_DIED),
    )
    summary.render()  # a figure that cannot be shown fails here, inside the guard
    return summary
