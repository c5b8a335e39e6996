"""Read an event log back: parse, validate, rebuild task results and metrics, summarise.

This is the contract that lets another program consume our runs::

    events = read_events("run.jsonl")            # validated against events.schema.json
    metrics = metrics_from_events(events)        # == result.metrics of the run that wrote it
    for summary in summarize("run.jsonl"):
        print(summary.render())

A log may hold several runs (``JsonLinesSink`` appends); the functions that need one run take a
``run_id`` and, without it, insist that the log holds exactly one. Metrics are recomputed with
the same formula the run used (``compute_metrics``) from the facts the events carry: each
terminal event has the task's ``busy_time``, ``cpu_time``, ``peak_rss``, ``reports`` and
``deps``; ``task.retry_scheduled`` events give the retries; ``run.finished`` the wall time, the
worker count and the cost estimate. Values returned by tasks are not in the log.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import IO, Any, Iterable, Mapping, Sequence, Union

from ..model.errors import CycleError, EventLogError
from ..model.results import RunMetrics, TaskError, TaskResult
from .events import SCHEMA_VERSION, STATUS_OF_EVENT, TERMINAL_EVENT_TYPES, Event, EventType
from .jsonl_format import iso_utc
from .metrics import compute_metrics

__all__ = [
    "read_events", "parse_event", "event_schema", "validate_event", "split_runs", "one_run",
    "task_results_from_events", "metrics_from_events", "deps_cycle", "summarize", "RunSummary",
]

Source = Union[str, "os.PathLike[str]", IO[str]]


@lru_cache(maxsize=1)
def event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event, shipped as package data."""
    text = resources.files("orchestrator.telemetry").joinpath("events.schema.json").read_text(
        encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validators() -> dict[str | None, Any]:
    """One validator per known event type (the envelope plus that type's rules), and one for
    the envelope alone (key None). Equivalent to the full schema, whose ``allOf`` of
    if/then rules makes jsonschema try every type's ``if`` on every event: ~25x slower."""
    from jsonschema import Draft202012Validator

    schema = event_schema()
    envelope = {k: v for k, v in schema.items() if k != "allOf"}
    out: dict[str | None, Any] = {None: Draft202012Validator(envelope)}
    for rule in schema["allOf"]:
        type_ = rule["if"]["properties"]["type"]["const"]
        out[type_] = Draft202012Validator({**envelope, "allOf": [rule["then"]]})
    return out


def validate_event(obj: Any, where: str = "event") -> None:
    """Raise ``EventLogError`` (prefixed with ``where``) unless ``obj`` is a valid event."""
    if not isinstance(obj, dict):
        raise EventLogError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    version = obj.get("schema")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise EventLogError(f"{where}: schema version {version} is newer than this reader "
                            f"(which reads version {SCHEMA_VERSION}); upgrade orchestrator")
    validators = _validators()
    type_ = obj.get("type")
    validator = validators.get(type_ if isinstance(type_, str) else None) or validators[None]
    if validator.is_valid(obj):
        return
    from jsonschema.exceptions import best_match

    err = best_match(validator.iter_errors(obj))
    field = ".".join(str(p) for p in err.absolute_path)
    what = f"{type_!r} event" if isinstance(type_, str) else "event"
    raise EventLogError(f"{where}: {what}" + (f", field {field}" if field else "")
                        + f": {err.message}")


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def parse_event(obj: Mapping[str, Any]) -> Event:
    """An ``Event`` from its JSON form (``Event.to_dict()``); no validation."""
    err = obj.get("error")
    error = None
    if err is not None:
        error = TaskError(kind=err["kind"], type=err["type"], message=err["message"],
                          traceback=err.get("traceback"), exit_code=err.get("exit_code"),
                          signal=err.get("signal"), upstream=err.get("upstream"))
    return Event(
        type=obj["type"], seq=obj["seq"], ts=_epoch(obj["ts"]), run_id=obj["run_id"],
        elapsed=obj["elapsed"], task_id=obj.get("task_id"), attempt=obj.get("attempt"),
        pid=obj.get("pid"), duration=obj.get("duration"), error=error,
        reason=obj.get("reason"), data=obj.get("data"), schema=obj["schema"],
    )


def read_events(source: Source, *, validate: bool = True) -> list[Event]:
    """Parse a JSON Lines event log: a path, ``"-"`` (standard input) or a text stream.

    Each line is checked against the event schema (``validate=False`` skips that, not the
    JSON parsing) and ``seq`` must increase strictly within each run. Blank lines are ignored.
    Raises ``EventLogError`` naming the file, the line number and what is wrong.
    """
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            return _read_stream(sys.stdin, "<stdin>", validate)
        name = os.fspath(source)
        try:
            with open(name, encoding="utf-8") as f:
                return _read_stream(f, name, validate)
        except FileNotFoundError:
            raise EventLogError(f"{name}: no such event log", name) from None
        except UnicodeDecodeError as exc:
            raise EventLogError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                                name) from None
    return _read_stream(source, getattr(source, "name", "<stream>"), validate)


def _read_stream(stream: IO[str], name: str, validate: bool) -> list[Event]:
    events: list[Event] = []
    last_seq: dict[str, int] = {}
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            tail = "" if line.endswith("\n") else " (the last line is cut short: was the " \
                                                   "writer stopped mid-line?)"
            raise EventLogError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}"
                                f"{tail}", name, lineno) from None
        try:
            if validate:
                validate_event(obj, where)
            elif not isinstance(obj, dict):
                raise EventLogError(f"{where}: expected a JSON object, got "
                                    f"{type(obj).__name__}")
            event = parse_event(obj)
        except EventLogError as exc:
            raise EventLogError(str(exc), name, lineno) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise EventLogError(f"{where}: malformed event: {type(exc).__name__}: {exc}",
                                name, lineno) from None
        previous = last_seq.get(event.run_id)
        if previous is not None and event.seq <= previous:
            raise EventLogError(f"{where}: seq {event.seq} does not follow seq {previous} of run "
                                f"{event.run_id!r} (seq must increase strictly within a run)",
                                name, lineno)
        last_seq[event.run_id] = event.seq
        events.append(event)
    return events


def split_runs(events: Iterable[Event]) -> dict[str, list[Event]]:
    """run id -> that run's events, runs in the order they first appear."""
    runs: dict[str, list[Event]] = {}
    for e in events:
        runs.setdefault(e.run_id, []).append(e)
    return runs


def one_run(events: Iterable[Event], run_id: str | None = None, *,
            to: str = "read") -> tuple[str, list[Event]]:
    """``(run id, its events)``: the run ``run_id``, or without it the log's only run.

    Raises ``EventLogError`` when there are no events (``"no events to <to>"``), when
    ``run_id`` is not in them, or when it is None and they hold several runs.
    """
    runs = split_runs(events)
    if not runs:
        raise EventLogError(f"no events to {to}")
    if run_id is not None:
        if run_id not in runs:
            raise EventLogError(f"no events of run {run_id!r} (runs here: {list(runs)})")
        return run_id, runs[run_id]
    if len(runs) != 1:
        raise EventLogError(f"the events hold {len(runs)} runs ({list(runs)}); pass run_id= "
                            f"to pick one")
    return next(iter(runs.items()))


def _data(e: Event) -> Mapping[str, Any]:
    return e.data or {}


def task_results_from_events(events: Iterable[Event], run_id: str | None = None,
                             ) -> dict[str, TaskResult]:
    """task id -> ``TaskResult`` rebuilt from one run's events, in completion order.

    Everything but ``value`` (not logged) and ``tags``. Only tasks that reached a terminal
    state are included.
    """
    _, run = one_run(events, run_id, to="rebuild task results from")
    delays: dict[str, list[float]] = {}
    started: dict[str, float] = {}
    out: dict[str, TaskResult] = {}
    for e in run:
        tid = e.task_id
        if tid is None:
            continue
        if e.type == EventType.TASK_STARTED:
            started[tid] = e.elapsed
        elif e.type == EventType.TASK_RETRY_SCHEDULED:
            delays.setdefault(tid, []).append(float(_data(e)["delay"]))
        elif e.type in TERMINAL_EVENT_TYPES:
            facts = _data(e)
            out[tid] = TaskResult(
                id=tid, status=STATUS_OF_EVENT[e.type], error=e.error, attempts=e.attempt or 0,
                started_at=started.get(tid), finished_at=e.elapsed, duration=e.duration,
                worker_pid=e.pid, retry_delays=tuple(delays.get(tid, ())),
                busy_time=float(facts.get("busy_time", 0.0)), cpu_time=facts.get("cpu_time"),
                peak_rss=facts.get("peak_rss"), reports=dict(facts.get("reports") or {}),
                worker=facts.get("worker"),
            )
    return out


def metrics_from_events(events: Iterable[Event], run_id: str | None = None) -> RunMetrics:
    """The run's ``RunMetrics``, recomputed from its events alone (equal to ``result.metrics``).

    Needs the run's ``run.finished`` event (it holds the wall time and the worker count).
    """
    rid, run = one_run(events, run_id, to="recompute metrics from")
    finished = next((e for e in reversed(run) if e.type == EventType.RUN_FINISHED), None)
    if finished is None or finished.duration is None:
        raise EventLogError(f"run {rid!r} has no run.finished event (did it end?); its metrics "
                            f"cannot be recomputed")
    results = task_results_from_events(run, rid)
    graph = any(e.type == EventType.RUN_STARTED and _data(e).get("tasks") is not None
                for e in run)
    deps: dict[str, Sequence[str]] | None = None
    if graph:
        deps = {}
        for e in run:
            if e.type in TERMINAL_EVENT_TYPES and e.task_id is not None:
                # A mapped task (1.2) ends after its children: they count as its deps here.
                facts = _data(e)
                deps[e.task_id] = tuple(facts.get("deps", ())) + tuple(facts.get("children", ()))
    data = _data(finished)
    try:
        return compute_metrics(list(results.values()), wall_time=finished.duration,
                               workers=int(data["workers"]), deps=deps,
                               cost_estimate=data.get("cost_estimate"))
    except CycleError as exc:
        raise deps_cycle(rid, exc) from None


def deps_cycle(run_id: str, exc: CycleError) -> EventLogError:
    """The error for a log whose tasks' ``deps`` form a cycle: no run has one (its graph was
    checked before it started), so the log is damaged or was not written by a run."""
    return EventLogError(f"run {run_id!r}: the deps of its tasks form a cycle, which no run "
                         f"can have: {' -> '.join(exc.cycle)}")


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
                f"  wall {m.wall_time:.3f}s, serial {m.serial_time:.3f}s, speedup "
                f"{m.speedup_vs_serial:.2f}x on {m.workers} workers (efficiency "
                f"{m.efficiency:.0%}, utilization {m.utilization:.0%}), critical path "
                f"{m.critical_path:.3f}s")
            lines.append(f"  attempts {m.attempts}, retries {m.retries}, cpu {m.cpu_time:.3f}s"
                         + (f", cost {m.cost_estimate:.6g}" if m.cost_estimate is not None
                            else ""))
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


def summarize(source: Source | Iterable[Event], *, top: int = 5,
              max_failures: int = 20) -> list[RunSummary]:
    """One ``RunSummary`` per run in an event log, in log order.

    ``source``: a path, ``"-"`` (standard input), a text stream, or events already read.
    ``top``: how many of the slowest tasks to name; ``max_failures``: how many failed tasks.
    Raises ``EventLogError`` for a malformed log (see ``read_events``).
    """
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        events = read_events(source)  # type: ignore[arg-type]
    else:
        events = list(source)
    out = []
    for rid, run in split_runs(events).items():
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
        out.append(RunSummary(
            run_id=rid,
            started=iso_utc(run[0].ts),
            finished=finished is not None,
            ok=bool(fdata.get("ok")) if finished is not None else None,
            interrupted=bool(fdata.get("interrupted")),
            events=len(run), counts=counts,
            metrics=metrics_from_events(run, rid) if finished is not None else None,
            gates=gates, failures=failures, slowest=slowest,
            workers_died=sum(1 for e in run if e.type == EventType.WORKER_DIED),
        ))
    return out
