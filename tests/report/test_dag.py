"""The graph as drawn: layers, the critical path, order within columns, and grouping when
there are too many tasks to draw one by one."""

from __future__ import annotations

import pytest

from orchestrator.report.dag import (
    MAX_COLUMNS,
    build_graph,
    id_prefix,
    layers_of,
)
from orchestrator.report.model import build_view
from orchestrator.telemetry.reader import metrics_from_events

from .runs import scripted_run

DIAMOND = {"b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_a_layer_is_the_longest_chain_of_dependencies():
    assert layers_of("abcd", DIAMOND) == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert layers_of("ab", {"b": ("a", "unknown")}) == {"a": 0, "b": 1}  # not in the log: ignored
    chain = [f"t{i}" for i in range(20_000)]  # no recursion limit
    assert layers_of(chain, {t: (chain[i - 1],) for i, t in enumerate(chain) if i})[
        "t19999"] == 19_999


def test_the_critical_path_is_the_heaviest_chain():
    busy = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0}
    assert build_graph("abcd", DIAMOND, busy).critical_path == ("a", "b", "d")
    assert build_graph("abc", {}, {"a": 1.0, "b": 3.0, "c": 3.0}).critical_path == ("b",)  # ties
    assert build_graph("", {}, {}).critical_path == ()
    assert build_graph("ab", {}, {"b": 1.0}).critical_path == ("b",)  # no busy time: 0 s


def test_the_critical_path_measures_what_the_metrics_say():
    events = scripted_run(300, workers=4, layers=10)
    view = build_view(events)
    deps = {t.id: t.deps for t in view.tasks.values()}
    busy = {t.id: t.busy_time for t in view.tasks.values()}
    chain = build_graph(list(view.tasks), deps, busy).critical_path
    assert len(chain) == 10
    assert all(chain[i - 1] in deps[chain[i]] for i in range(1, len(chain)))
    assert sum(busy[t] for t in chain) == pytest.approx(metrics_from_events(events).critical_path)


@pytest.mark.parametrize("task_id, prefix", [
    ("score-17", "score"), ("research[3]", "research"), ("critique[3][1]", "critique"),
    ("t42", "t"), ("step0-12", "step0"), ("a.b_3", "a.b"), ("plan", "plan"), ("123", "123"),
])
def test_id_prefix(task_id, prefix):
    assert id_prefix(task_id) == prefix


def test_columns_follow_the_dependencies():
    g = build_graph(["x", "y", "cy", "cx"], {"cy": ("y",), "cx": ("x",)}, {})
    assert g.mode == "tasks"
    assert [[g.units[i].key for i in col] for col in g.columns] == [["x", "y"], ["cx", "cy"]]
    assert sorted((g.units[a].key, g.units[b].key, n) for a, b, n in g.edges) == [
        ("x", "cx", 1), ("y", "cy", 1)]


def every_task_once(g, ids):
    members = [m for u in g.units for m in u.members]
    assert sorted(members) == sorted(ids)


def test_many_tasks_are_grouped_by_prefix_within_a_layer():
    ids = [f"score-{i}" for i in range(400)] + [f"merge-{i}" for i in range(4)]
    deps = {f"merge-{i}": tuple(f"score-{j}" for j in range(i, 400, 4)) for i in range(4)}
    g = build_graph(ids, deps, {}, limit=300)
    assert g.mode == "prefix"
    assert [(u.kind, u.label, len(u.members), u.column) for u in g.units] == [
        ("prefix", "score*", 400, 0), ("prefix", "merge*", 4, 1)]
    assert g.edges == ((0, 1, 400),)
    every_task_once(g, ids)


def test_too_many_groups_become_bands_of_layers():
    chain = [f"{i}" for i in range(5000)]
    deps = {t: (chain[i - 1],) for i, t in enumerate(chain) if i}
    g = build_graph(chain, deps, {t: 1.0 for t in chain}, limit=300)
    assert g.mode == "layers"
    assert len(g.columns) == len(g.units) == MAX_COLUMNS
    assert g.units[0].label == "layers 0-49" and len(g.units[0].members) == 50
    assert len(g.critical_path) == 5000
    every_task_once(g, chain)


def test_one_wide_layer_is_one_group():
    ids = [f"{i:05d}" for i in range(1000)]  # ids that are all index: no shared prefix
    g = build_graph(ids, {}, {})
    assert g.mode == "layers" and [u.label for u in g.units] == ["layer 0"]
