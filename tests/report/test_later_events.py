"""What later minor versions of the event schema add, used when present: ``task.waiting``,
``task.expanded``, ``task.reused``, a ``worker`` address, ``resources``. Built by hand, as the
issues that add them describe them (docs/report.md lists what the report reads)."""

from __future__ import annotations

from orchestrator.report import render_report
from orchestrator.report.dag import build_graph
from orchestrator.report.model import build_view
from orchestrator.testing import task_error

from .runs import Log, finished, later_schema_run, ran


def test_waiting_for_a_resource_is_part_of_the_queued_time():
    log = Log()
    log.add("run.started", 0.0, data={"tasks": 1, "max_concurrency": 2,
                                      "policy": {"resources": {"api": 3}}})
    log.add("task.ready", 0.0, task_id="a")
    log.add("task.waiting", 0.5, task_id="a", data={"resource": "api"})
    log.add("task.waiting", 0.75, task_id="a", data={"resource": "api"})  # only the first counts
    ran(log, "a", 2.0, 3.0, 11, data={"resources": {"api": 2, "cpu": 1, "flag": True}})
    finished(log, 3.0)
    view = build_view(log.events)
    (a,) = view.attempts
    assert (a.ready, a.waiting, a.start, a.queued) == (0.0, 0.5, 2.0, 2.0)
    assert a.resources == {"api": 2.0, "cpu": 1.0}  # amounts only: a bool is not one
    assert view.resources == {"api": ((2.0, 2.0), (3.0, 0.0)), "cpu": ((2.0, 1.0), (3.0, 0.0))}
    assert view.capacity == {"api": 3.0}


def test_a_worker_address_names_the_lane():
    log = Log()
    ran(log, "a", 0.0, 1.0, 7, data={"worker": "tcp://10.0.0.2:8786"})
    ran(log, "b", 0.0, 1.0, 7, data={"worker": "tcp://10.0.0.3:8786"})  # same pid, other host
    log.add("worker.died", 1.5, pid=7, reason="crashed", data={"worker": "tcp://10.0.0.3:8786"})
    finished(log, 1.5)
    view = build_view(log.events)
    assert [(lane.key, lane.deaths) for lane in view.lanes] == [
        ("tcp://10.0.0.2:8786/7", ()), ("tcp://10.0.0.3:8786/7", ((1.5, "crashed"),))]


def test_a_reused_task_succeeded_without_running():
    log = Log()
    log.add("task.reused", 0.0, task_id="a", data={"busy_time": 0.0, "reused_from": "r0"})
    ran(log, "b", 0.0, 1.0, 7)
    finished(log, 1.0)
    view = build_view(log.events)
    a = view.tasks["a"]
    assert (a.status, a.reused, a.attempts) == ("succeeded", True, 0)
    assert view.header.reused == 1 and len(view.attempts) == 1


def test_a_mapped_task_is_one_group_of_its_children():
    log = Log()
    ran(log, "plan", 0.0, 1.0, 7)
    children = [f"research[{i}]" for i in range(6)]
    log.add("task.expanded", 1.0, task_id="research", data={"n": 6, "children": children})
    for i, c in enumerate(children):
        log.add("task.started", 1.0 + i, task_id=c, attempt=1, pid=7)
        end = "task.failed" if i == 2 else "task.succeeded"
        log.add(end, 1.5 + i, task_id=c, attempt=1, pid=7, duration=0.5,
                error=task_error() if i == 2 else None, data={"busy_time": 0.5, "deps": ["plan"]})
    log.add("task.succeeded", 8.0, task_id="summary", attempt=1, pid=7, duration=0.1,
            data={"busy_time": 0.1, "deps": children})
    finished(log, 8.0, workers=1)
    view = build_view(log.events)
    assert view.mapped == {"research": tuple(children)}
    graph = build_graph(list(view.tasks), {t.id: t.deps for t in view.tasks.values()},
                        {t.id: t.busy_time for t in view.tasks.values()}, view.mapped)
    kinds = {u.key: (u.kind, u.label, u.members) for u in graph.units}
    assert kinds["research"] == ("mapped", "research[*]", tuple(children))
    assert set(kinds) == {"plan", "research", "summary"}
    edges = {(graph.units[a].key, graph.units[b].key, n) for a, b, n in graph.edges}
    assert edges == {("plan", "research", 6), ("research", "summary", 6)}
    assert "research[*]" in render_report(log.events)


def test_a_mapped_task_is_drawn_after_its_children():
    view = build_view(later_schema_run())
    graph = build_graph(list(view.tasks), {t.id: t.deps for t in view.tasks.values()},
                        {t.id: t.busy_time for t in view.tasks.values()}, view.mapped)
    columns = [[graph.units[i].key for i in col] for col in graph.columns]
    assert columns == [["cached", "plan"], ["research"], ["summary"]]
    assert graph.critical_path == ("plan", "research[0]")  # deps alone, as the metrics
