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
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import IO, Any, Callable, Iterable, Mapping, Sequence, Union

from ..model.errors import CycleError, EventLogError
from ..model.resources import ResourceUsage
from ..model.results import RunMetrics, TaskError, TaskResult
from .events import SCHEMA_VERSION, STATUS_OF_EVENT, TERMINAL_EVENT_TYPES, Event, EventType
from .log_lines import BadLine, load_line, numbered_lines
from .metrics import compute_metrics

__all__ = [
    "read_events", "parse_event", "event_schema", "validate_event", "split_runs", "one_run",
    "task_results_from_events", "metrics_from_events", "deps_cycle", "summarize", "RunSummary",
]

Source = Union[str, "os.PathLike[str]", IO[str], IO[bytes]]
BadLineHandler = Callable[[EventLogError], None]


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


def read_events(source: Source, *, validate: bool = True, run_id: str | None = None,
                on_bad_line: BadLineHandler | None = None) -> list[Event]:
    """Parse a JSON Lines event log: a path, ``"-"`` (standard input) or a stream.

    Each line is checked against the event schema (``validate=False`` skips that, not the
    JSON parsing) and ``seq`` must increase strictly within each run. Blank lines are ignored.
    Raises ``EventLogError`` naming the file, the line number and what is wrong; with
    ``on_bad_line``, a bad line is handed to it (as that ``EventLogError``) and skipped
    instead, so a log with a line cut short by a full disk still reads. ``run_id``: only
    that run's events (``EventLogError`` when the log has none of it).
    """
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            events = _read_stream(sys.stdin.buffer, "<stdin>", validate, on_bad_line)
        else:
            name = os.fspath(source)
            try:
                with open(name, "rb") as f:
                    events = _read_stream(f, name, validate, on_bad_line)
            except FileNotFoundError:
                raise EventLogError(f"{name}: no such event log", name) from None
            except IsADirectoryError:
                raise EventLogError(f"{name}: a directory, not an event log", name) from None
    else:
        events = _read_stream(source, getattr(source, "name", "<stream>"), validate,
                              on_bad_line)
    if run_id is not None:
        return one_run(events, run_id)[1]
    return events


def _parsed(line: str, where: str, validate: bool) -> Event:
    """The event on one line; raises ``EventLogError`` saying what is wrong with it."""
    try:
        obj = load_line(line)
    except json.JSONDecodeError as exc:
        tail = "" if line.endswith("\n") else " (the last line is cut short: was the " \
                                               "writer stopped mid-line?)"
        raise EventLogError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}"
                            f"{tail}") from None
    except BadLine as exc:
        raise EventLogError(f"{where}: {exc}") from None
    try:
        if validate:
            validate_event(obj, where)
        elif not isinstance(obj, dict):
            raise EventLogError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        return parse_event(obj)
    except EventLogError:
        raise
    except RecursionError:
        raise EventLogError(f"{where}: nested too deeply to be an event") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise EventLogError(f"{where}: malformed event: {type(exc).__name__}: {exc}") from None


def _read_stream(stream: IO[Any], name: str, validate: bool,
                 on_bad_line: BadLineHandler | None) -> list[Event]:
    events: list[Event] = []
    last_seq: dict[str, int] = {}
    for lineno, line in numbered_lines(stream):
        where = f"{name}:{lineno}"
        try:
            if isinstance(line, BadLine):
                raise EventLogError(f"{where}: {line}")
            if not line.strip():
                continue
            event = _parsed(line, where, validate)
            previous = last_seq.get(event.run_id)
            if previous is not None and event.seq <= previous:
                raise EventLogError(f"{where}: seq {event.seq} does not follow seq {previous} "
                                    f"of run {event.run_id!r} (seq must increase strictly "
                                    f"within a run)")
        except EventLogError as exc:
            error = EventLogError(str(exc), name, lineno)
            if on_bad_line is None:
                raise error from None
            on_bad_line(error)
            continue
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
                deps[e.task_id] = tuple(_data(e).get("deps", ()))
    data = _data(finished)
    try:
        metrics = compute_metrics(list(results.values()), wall_time=finished.duration,
                                  workers=int(data["workers"]), deps=deps,
                                  cost_estimate=data.get("cost_estimate"))
    except CycleError as exc:
        raise deps_cycle(rid, exc) from None
    used = data.get("resources")  # 1.2: what the admission measured, as the run saw it
    if isinstance(used, dict) and used:
        metrics = replace(metrics, resources={
            name: ResourceUsage(u.get("capacity"), u["peak"], u["mean"], u["wait"])
            for name, u in used.items()})
    return metrics


def deps_cycle(run_id: str, exc: CycleError) -> EventLogError:
    """The error for a log whose tasks' ``deps`` form a cycle: no run has one (its graph was
    checked before it started), so the log is damaged or was not written by a run."""
    return EventLogError(f"run {run_id!r}: the deps of its tasks form a cycle, which no run "
                         f"can have: {' -> '.join(exc.cycle)}")


# At the end: run_summary imports this module's readers.
from .run_summary import RunSummary, summarize  # noqa: E402
