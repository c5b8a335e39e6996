"""Mapped tasks in workflow files: ``{"$each": ...}``, its checks, the result JSON, the events,
``graph``'s ``[*]``, the progress total, and the analysis example against its hand-written form."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.cli.progress import RunTracker
from orchestrator.telemetry.events import Event

from .helpers import REPO, invoke, read_events, write

FLOW = """\
tasks:
  - {id: plan, fn: workers.agents:echo, args: [[1, 2, 3]]}
  - {id: double, fn: workers.agents:add, args: [{$each: {$ref: plan}}, {$each: [10, 20, 30]}]}
  - {id: total, fn: workers.agents:add, args: [{$ref: double}]}
"""


def test_a_mapped_workflow_runs_and_reports_each_child(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    result = invoke("run", write(tmp_path, "flow.yaml", FLOW), "--json", "--events", str(log))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    values = {t["id"]: t["value"] for t in doc["tasks"]}
    assert values == {"plan": [1, 2, 3], "double[0]": 11, "double[1]": 22, "double[2]": 33,
                      "double": [11, 22, 33], "total": 66}
    group = next(t for t in doc["tasks"] if t["id"] == "double")
    assert group["children"] == ["double[0]", "double[1]", "double[2]"]
    assert group["attempts"] == 0
    events = read_events(log)
    assert events[0]["data"]["schema_minor"] == 2
    expanded = [e for e in events if e["type"] == "task.expanded"]
    assert [(e["task_id"], e["data"]) for e in expanded] == [
        ("double", {"n": 3, "children": ["double[0]", "double[1]", "double[2]"]})]
    terminal = [e["task_id"] for e in events
                if e["type"] in ("task.succeeded", "task.failed", "task.skipped")]
    assert sorted(terminal) == sorted(values)


def test_each_is_checked_before_anything_runs(tmp_path: Path) -> None:
    missing = FLOW.replace("{$each: {$ref: plan}}", "{$each: {$ref: plann}}")
    result = invoke("run", write(tmp_path, "missing.yaml", missing))
    assert result.exit_code == 2
    assert "missing.yaml:3: tasks[1].args[0].$each: task 'double' depends on 'plann'" in \
        result.stderr
    bad = FLOW.replace("{$each: {$ref: plan}}", "{$each: {$ref: plan}, extra: 1}")
    result = invoke("validate", write(tmp_path, "bad.yaml", bad))
    assert result.exit_code == 2
    assert 'a {"$each": ...} object takes exactly one key' in result.stderr
    string = FLOW.replace("{$each: [10, 20, 30]}", "{$each: abc}")
    result = invoke("validate", write(tmp_path, "string.yaml", string))
    assert result.exit_code == 2 and 'a {"$each": ...} object takes exactly one key' in \
        result.stderr
    cycle = ("tasks:\n  - {id: a, fn: workers.agents:echo, args: [{$each: {$ref: b}}]}\n"
             "  - {id: b, fn: workers.agents:echo, args: [{$ref: a}]}\n")
    result = invoke("validate", write(tmp_path, "cycle.yaml", cycle))
    assert result.exit_code == 2 and "dependency cycle: a -> b -> a" in result.stderr
    flat = '[{"id": "m", "fn": "workers.agents:echo", "args": [{"$each": [1, 2]}]}]'
    result = invoke("run", "--tasks", flat)
    assert result.exit_code == 0, result.stderr  # --tasks builds a graph: a literal $each runs


def test_a_plan_that_returns_a_string_fails_the_mapped_task_with_the_type(
        tmp_path: Path) -> None:
    flow = FLOW.replace("args: [[1, 2, 3]]", "args: [abc]")
    result = invoke("run", write(tmp_path, "flow.yaml", flow), "--json")
    assert result.exit_code == 1
    tasks = {t["id"]: t for t in json.loads(result.stdout)["tasks"]}
    assert tasks["double"]["status"] == "failed"
    assert tasks["double"]["error"]["message"] == (
        "task 'double' is mapped over the result of task 'plan', which is a str, not a list or "
        "tuple; a string is not mapped over its characters (return a list)")
    assert tasks["total"]["status"] == "skipped"


def test_graph_draws_a_mapped_task_as_one_node_marked_with_a_star(tmp_path: Path) -> None:
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "plan\ndouble [*]  <- plan\ntotal       <- double [*]\n"
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW), "--format", "mermaid")
    assert '    t1["double [*]"]' in result.stdout.splitlines()


def test_the_progress_total_grows_when_a_task_expands() -> None:
    t = RunTracker()
    t(Event("run.started", 1, 0.0, "run", 0.0, data={"tasks": 3}))
    t(Event("task.expanded", 2, 0.0, "run", 0.0, "double",
            data={"n": 4, "children": [f"double[{i}]" for i in range(4)]}))
    assert t.snapshot().total == 7


def test_the_mapped_analysis_gives_the_report_written_out_by_hand(tmp_path: Path) -> None:
    flow = yaml.safe_load(Path(REPO, "examples/analysis.yaml").read_text())
    assert [t["id"] for t in flow["tasks"]] == ["index", "scan"]
    assert flow["tasks"][1]["args"] == [{"$each": {"$ref": "index"}}]
    flow["tasks"][0]["kwargs"] = {"root": str(REPO / "orchestrator" / "model"), "shards": 3}
    mapped = write(tmp_path, "mapped.yaml", yaml.safe_dump(flow, sort_keys=False))
    scan = flow["tasks"].pop()
    flow["tasks"] += [{**scan, "id": f"scan-{i}", "args": [{"$ref": "index"}, i]}
                      for i in range(3)]
    by_hand = write(tmp_path, "by_hand.yaml", yaml.safe_dump(flow, sort_keys=False))
    merged = []
    for path in (mapped, by_hand):
        result = invoke("run", path, "--json")
        assert result.exit_code == 0, result.stderr
        merged.append(json.loads(result.stdout)["merged"])
    assert merged[0] == merged[1]
    assert merged[0]["shards"] == 3 and merged[0]["files"] > 5
