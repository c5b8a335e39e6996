"""Figures shown the same everywhere (issue 11, items 15 and 17): an unknown cost is unknown
(``n/a`` in the table, ``null`` in ``--output``, ``run.finished`` and ``events summarize``),
and busy/wall is called ``parallelism``, with ``speedup_vs_serial`` kept as its alias."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import OrchestrationPolicy, TaskSpec, execute_graph
from orchestrator.executors.inline import InlineExecutor
from orchestrator.telemetry.costs import CpuTimeCost, ReportedCost

from .helpers import invoke, read_events, tasks_json

ECHO = [{"id": "a", "fn": "workers.agents:echo", "args": [1]}]
PRICED = [{"id": "m", "fn": "workers.agents.model_stub:classify", "args": ["one two three"]}]


def _run(tmp_path: Path, tasks: list[dict[str, object]], *extra: str) -> tuple[str, dict, dict,
                                                                                 list[dict]]:
    out, log = tmp_path / "out.json", tmp_path / "run.jsonl"
    result = invoke("run", "--tasks", tasks_json(tasks), "-o", str(out), "--events", str(log),
                    *extra)
    assert result.exit_code == 0, result.stderr
    summary = invoke("events", "summarize", str(log), "--json")
    assert summary.exit_code == 0, summary.stderr
    (run,) = json.loads(summary.stdout)
    return result.stdout, json.loads(out.read_text()), run, read_events(log)


def test_an_unpriced_run_s_cost_is_unknown_everywhere(tmp_path: Path) -> None:
    table, output, summary, events = _run(tmp_path, ECHO)
    assert "cost n/a" in table
    assert output["metrics"]["cost_estimate"] is None
    assert summary["metrics"]["cost_estimate"] is None
    (finished,) = [e for e in events if e["type"] == "run.finished"]
    assert finished["data"]["cost_estimate"] is None


def test_a_priced_run_s_cost_is_the_same_number_everywhere(tmp_path: Path) -> None:
    table, output, summary, events = _run(tmp_path, PRICED)
    cost = output["metrics"]["cost_estimate"]
    assert cost is not None and cost > 0
    assert f"cost {cost:.4g}" in table
    assert summary["metrics"]["cost_estimate"] == cost
    (finished,) = [e for e in events if e["type"] == "run.finished"]
    assert finished["data"]["cost_estimate"] == cost
    (tmp_path / "free").mkdir()
    _, output, _, _ = _run(tmp_path / "free", ECHO, "--cpu-hour-price", "0")
    assert output["metrics"]["cost_estimate"] == 0.0  # priced at 0 is known: free


def test_cost_adapters_say_unknown_when_nothing_was_priced() -> None:
    result = execute_graph([TaskSpec("a", "workers.agents:echo", args=(1,))],
                           OrchestrationPolicy(max_concurrency=1), executor=InlineExecutor(),
                           cost=ReportedCost() + ReportedCost("tokens"))
    assert result.metrics.cost_estimate is None
    result = execute_graph([TaskSpec("a", "workers.agents:echo", args=(1,))],
                           OrchestrationPolicy(max_concurrency=1), executor=InlineExecutor(),
                           cost=ReportedCost() + CpuTimeCost(per_cpu_hour=1.0))
    assert result.metrics.cost_estimate is not None


def test_busy_over_wall_is_called_parallelism_and_keeps_its_old_name(tmp_path: Path) -> None:
    table, output, summary, _ = _run(tmp_path, ECHO)
    metrics = output["metrics"]
    assert metrics["parallelism"] == metrics["speedup_vs_serial"]
    assert metrics["parallelism"] == metrics["serial_time"] / metrics["wall_time"]
    assert summary["metrics"]["parallelism"] == summary["metrics"]["speedup_vs_serial"]
    assert " parallelism " in table and "(busy/wall)" in table and "speedup" not in table
    text = invoke("events", "summarize", str(tmp_path / "run.jsonl")).stdout
    assert "parallelism" in text and "(busy/wall)" in text and "speedup" not in text
