"""The critical path, computed in one place: its chain and its length, from a run or from a log;
a cycle in a log's deps is bad input for the reader, found in linear time (issue 11, item 7)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import CycleError, EventLogError
from orchestrator.report import render_report
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.metrics import CriticalPath, critical_path
from orchestrator.telemetry.reader import metrics_from_events, read_events, summarize
from orchestrator.telemetry.sinks import format_event

from .scenarios import SCENARIOS

DIAMOND = {"b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_the_heaviest_chain_and_its_length():
    busy = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0}
    assert critical_path(busy, DIAMOND) == CriticalPath(("a", "b", "d"), 7.0)
    assert critical_path({"a": 1.0, "b": 3.0, "c": 3.0}) == (("b",), 3.0)  # ties: first named
    assert critical_path({"a": 1.0, "b": 3.0}, {}) == (("b",), 3.0)
    assert critical_path({}, DIAMOND) == critical_path({}) == ((), 0.0)
    # deps on tasks that are not there (a log that is cut short) are ignored
    assert critical_path({"d": 1.0, "c": 2.0}, DIAMOND) == (("c", "d"), 3.0)
    # a dependency named twice counts once; ties between deps go to the first named
    assert critical_path({"a": 1.0, "b": 1.0, "c": 1.0}, {"c": ("b", "a", "b")}) == (
        ("b", "c"), 2.0)


def test_a_long_chain_needs_no_recursion():
    chain = [f"t{i}" for i in range(100_000)]
    deps = {t: (chain[i - 1],) for i, t in enumerate(chain) if i}
    path = critical_path(dict.fromkeys(reversed(chain), 0.5), deps)
    assert path.chain == tuple(chain) and path.length == 50_000.0


@st.composite
def dags(draw):
    """Acyclic by construction: task i depends only on tasks with a lower index."""
    n = draw(st.integers(0, 9))
    ids = [f"t{i}" for i in range(n)]
    deps = {ids[i]: draw(st.lists(st.sampled_from(ids[:i]), max_size=3)) if i else []
            for i in range(n)}
    busy = {t: draw(st.floats(0, 100, allow_nan=False)) for t in ids}
    order = draw(st.permutations(ids))
    return {t: busy[t] for t in order}, deps


@settings(max_examples=300, deadline=None, derandomize=True)
@given(dags())
def test_the_length_is_the_longest_of_every_chain(graph):
    busy, deps = graph

    def chains(end):  # every chain of dependencies that ends at ``end``, by brute force
        if not deps[end]:
            return [[end]]
        return [c + [end] for d in deps[end] for c in chains(d)]

    every = [c for end in busy for c in chains(end)]
    longest = max((math.fsum(busy[t] for t in c) for c in every), default=0.0)
    path = critical_path(busy, deps)
    assert math.isclose(path.length, longest, rel_tol=1e-12)
    assert math.isclose(path.length, math.fsum(busy[t] for t in path.chain), rel_tol=1e-12)
    assert list(path.chain) in every or not busy


@pytest.mark.parametrize("deps, cycle", [
    ({"a": ("b",), "b": ("a",)}, ("a", "b", "a")),
    ({"a": ("a",)}, ("a", "a")),
    # the cycle is away from the first task, behind a task that is on none
    ({"x": ("y",), "y": ("z",), "z": ("w", "y"), "w": ()}, ("y", "z", "y")),
])
def test_a_cycle_is_refused_with_its_path(deps, cycle):
    with pytest.raises(CycleError) as caught:
        critical_path(dict.fromkeys(deps, 1.0), deps)
    assert caught.value.cycle == cycle
    assert str(caught.value) == "dependency cycle: " + " -> ".join(cycle)


def cyclic_log(tmp_path: Path, finished: bool = True) -> Path:
    """The log of issue 11 item 7: two tasks name each other in ``deps``."""
    seq = itertools.count(1)

    def ev(type_: str, task_id: str | None = None, **kw: object) -> Event:
        return Event(type_, next(seq), 1.7e9, "cyc", 0.5, task_id, **kw)  # type: ignore[arg-type]

    events = [ev("run.started", data={"tasks": 2, "max_concurrency": 1, "policy": {}})]
    for tid, dep in (("a", "b"), ("b", "a")):
        events += [ev("task.started", tid, attempt=1, pid=9),
                   ev("task.succeeded", tid, attempt=1, pid=9, duration=0.1,
                      data={"busy_time": 0.1, "deps": [dep]})]
    if finished:
        events.append(ev("run.finished", duration=1.0,
                         data={"ok": True, "interrupted": False, "counts": {"succeeded": 2},
                               "retries": 0, "workers": 1}))
    path = tmp_path / "cyclic.jsonl"
    path.write_text("".join(format_event(e) + "\n" for e in events), encoding="utf-8")
    return path


MESSAGE = r"^run 'cyc': the deps of its tasks form a cycle, which no run can have: a -> b -> a$"


def test_a_log_whose_deps_form_a_cycle_is_bad_input(tmp_path):
    events = read_events(cyclic_log(tmp_path))
    with pytest.raises(EventLogError, match=MESSAGE):
        metrics_from_events(events)
    with pytest.raises(EventLogError, match=MESSAGE):
        summarize(events)
    with pytest.raises(EventLogError, match=MESSAGE):
        render_report(events)
    # a log cut before run.finished has no metrics, and the report still finds the cycle
    with pytest.raises(EventLogError, match=MESSAGE):
        render_report(read_events(cyclic_log(tmp_path, finished=False)))


def test_the_metrics_of_a_run_use_the_same_function():
    result, events = SCENARIOS["retries_timeouts_and_skips"]()
    busy = {r.id: r.busy_time for r in result}
    deps = {e.task_id: tuple(e.data["deps"]) for e in events
            if e.task_id is not None and e.data and "deps" in e.data}
    path = critical_path(busy, deps)
    assert path.length == result.metrics.critical_path == metrics_from_events(events).critical_path
    assert path.chain == ("b",)  # d, after b, is skipped: 0 s, and ties go to the first
