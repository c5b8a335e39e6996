"""The benchmark suite runs end to end (``--quick``) and writes its files; its pieces compute
what they claim. Nothing here judges how fast this machine is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import registry
from benchmarks.report import check, render, table
from benchmarks.simulate import simulate
from benchmarks.stats import percentile, ratios, summarize
from benchmarks.timeouts import analyse
from benchmarks.workloads import durations, fan_out_in, layered_dag, mixed_dag, run_serial
from orchestrator import OrchestrationPolicy, TaskGraph, TaskSpec
from orchestrator.telemetry.events import Event

ROOT = Path(__file__).resolve().parent.parent
RAN = ("speedup", "overhead", "dag", "timeouts", "scale", "futures")


@pytest.mark.process
@pytest.mark.timeout(420)  # ~50 s on a quiet 2-core machine; a loaded CI runner is slower
def test_quick_suite_runs_and_writes_its_files(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "CPU:" in out and "Python" in out  # the machine header
    for name in RAN:
        assert f"## {name}:" in out, f"no section for {name}"
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data["benchmark"] == name and data["quick"] is True
        assert data["result"]["tables"], f"{name} wrote no table"
        assert data["machine"]["usable_cores"] >= 1
    assert (tmp_path / "summary.md").read_text().startswith("# OrchestratorEngine benchmarks")
    tele = registry.load("telemetry")
    if tele.available():
        assert (tmp_path / "telemetry.json").exists()
    else:
        assert "## telemetry:" in out and "skipped" in out
    if _has("matplotlib"):
        for name in RAN:
            assert (tmp_path / f"{name}.png").stat().st_size > 1000
    # A peer that is not installed is reported as skipped, never left out.
    overhead = json.loads((tmp_path / "overhead.json").read_text())["result"]["figures"]
    assert "Ray" in overhead["peers"] and "Dask distributed LocalCluster" in overhead["peers"]
    for peer in overhead["peers"].values():
        assert peer["status"] == "ran" or peer["status"].startswith(("skipped", "failed"))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_unknown_benchmark_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2
    assert "unknown benchmark 'nope'" in proc.stderr


def test_absent_optional_benchmark_is_skipped_not_fatal() -> None:
    bench = registry.Benchmark("ghost", "benchmarks.no_such_module", "absent", optional=True)
    assert not bench.available()
    assert registry.load("speedup").available()


def test_stats() -> None:
    s = summarize([3.0, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.0, 1.0, 3.0, 3)
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([7.0], 50) == 7.0
    assert ratios([4.0, 9.0], [2.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="paired"):
        ratios([1.0], [1.0, 2.0])


def test_render_marks_missed_targets_and_foreign_results() -> None:
    text = render("x", {"title": "t", "tables": [table("T", ["a"], [[1.5]])],
                        "checks": [check("c1", ">= 1", "0.5", False),
                                   check("c2", ">= 1", "2", True),
                                   check("c3", "2-5x", "capped", None)]})
    assert "| c1 | >= 1 | 0.5 | MISSED |" in text
    assert "| c2 | >= 1 | 2 | met |" in text
    assert "| c3 | 2-5x | capped | n/a |" in text
    foreign = render("telemetry", {"overhead_pct": 3.25, "nested": {"events": 10}})
    assert "| overhead_pct | 3.25 |" in foreign and "| nested.events | 10 |" in foreign


def _noop(tid: str, *deps: str) -> TaskSpec:
    return TaskSpec(tid, "workers.agents:noop", deps=deps)


def test_simulation_matches_hand_computed_makespans() -> None:
    two = OrchestrationPolicy(max_concurrency=2)
    chain = [_noop("a"), _noop("b", "a"), _noop("c", "b")]
    assert simulate(chain, {"a": 1.0, "b": 2.0, "c": 3.0}, two) == pytest.approx(6.0)
    flat = [_noop(f"x{i}") for i in range(4)]
    assert simulate(flat, {f"x{i}": 1.0 for i in range(4)}, two) == pytest.approx(2.0)
    # Critical path first starts the long chain early: 1+4 on one worker, the 3 shorts beside.
    dag = [_noop("s1"), _noop("s2"), _noop("s3"), _noop("head"), _noop("tail", "head")]
    dur = {"s1": 1.0, "s2": 1.0, "s3": 1.0, "head": 1.0, "tail": 4.0}
    specs = [TaskSpec(s.id, s.fn, deps=s.deps, estimate=dur[s.id]) for s in dag]
    assert simulate(specs, dur, two) == pytest.approx(5.0)
    fifo = OrchestrationPolicy(max_concurrency=2, critical_path_first=False)
    assert simulate(specs, dur, fifo) == pytest.approx(6.0)


def test_workloads_are_valid_graphs_and_seeded() -> None:
    assert layered_dag(1, 4, 5, 0.1, 0.2) == layered_dag(1, 4, 5, 0.1, 0.2)
    assert layered_dag(1, 4, 5, 0.1, 0.2) != layered_dag(2, 4, 5, 0.1, 0.2)
    for specs in (layered_dag(3, 4, 5, 0.1, 0.2), fan_out_in(1, 6, 0.1, 0.2), mixed_dag(3, 0.1)):
        graph = TaskGraph(specs)
        assert len(graph) == len(specs)
        assert all(0 <= d <= 0.3 for d in durations(specs).values())
    values = run_serial(mixed_dag(2, 0.001))
    assert values["merge"] == values["score-0"] + values["score-1"]


def _ev(type_: str, elapsed: float, task_id: str | None = None, pid: int | None = None,
        reason: str | None = None, data: dict | None = None) -> Event:
    return Event(type_, 0, 0.0, "run", elapsed, task_id, 1, pid, None, None, reason, data)


def test_timeout_analysis_reads_latency_and_slot_refills_from_events() -> None:
    events = [
        _ev("task.started", 0.0, "h1", 11), _ev("task.started", 0.0, "h2", 12),
        _ev("task.timed_out", 0.23, "h1", 11, "timeout"),
        _ev("worker.died", 0.23, pid=11, reason="killed", data={"slot": 0}),
        _ev("worker.died", 0.24, pid=12, reason="killed", data={"slot": 1}),
        _ev("task.timed_out", 0.24, "h2", 12, "timeout"),
        _ev("worker.started", 0.30, pid=13, data={"slot": 0, "startup": 0.07}),
        _ev("worker.started", 0.32, pid=14, data={"slot": -1, "startup": 0.08}),
        _ev("worker.started", 0.33, pid=15, data={"slot": 1, "startup": 0.09}),
        _ev("task.started", 0.4, "h3", 13),
        _ev("worker.died", 0.7, pid=13, reason="killed", data={"slot": 0}),
        _ev("task.timed_out", 0.7, "h3", 13, "timeout"),
    ]
    found = analyse(events)
    assert found["latencies"] == pytest.approx([0.03, 0.04, 0.1])
    assert found["refills"] == pytest.approx([0.07, 0.09, 0.0])
    assert found["spare_takeovers"] == 1 and found["deaths"] == 3
    assert found["killed_pids"] == [11, 12, 13]
