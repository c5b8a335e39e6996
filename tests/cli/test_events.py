"""`orchestrator events summarize`: a run's story told from its event log alone."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import invoke, tasks_json

TASKS = tasks_json([
    {"id": "a", "fn": "workers.agents:echo", "args": [1]},
    {"id": "b", "fn": "workers.agents:flaky", "args": [1, "ok"], "retries": 1},
    {"id": "c", "fn": "workers.agents:fail", "args": ["no luck"]},
])


def _run_with_log(tmp_path: Path) -> tuple[Path, dict]:
    events, output = tmp_path / "events.jsonl", tmp_path / "result.json"
    res = invoke("run", "--tasks", TASKS, "--max-concurrency", "2", "--quiet",
                 "--events", str(events), "--output", str(output))
    assert res.exit_code == 1, res.output + res.stderr  # c fails
    return events, json.loads(output.read_text())


def test_summary_recomputes_the_runs_metrics_from_the_log(tmp_path: Path) -> None:
    events, result = _run_with_log(tmp_path)
    res = invoke("events", "summarize", str(events), "--json")
    assert res.exit_code == 0, res.stderr
    (run,) = json.loads(res.output)
    assert run["run_id"] == result["run_id"]
    assert run["finished"] is True and run["ok"] is False
    assert run["counts"] == {"succeeded": 2, "failed": 1}
    assert run["failures"] == [{"task_id": "c", "status": "failed",
                                "error": "RuntimeError: no luck"}]
    recomputed, reported = run["metrics"], result["metrics"]
    for key in ("serial_time", "attempts", "retries", "tasks", "counts", "workers"):
        assert recomputed[key] == reported[key], key
    assert recomputed["attempts"] == 4  # a once, b twice, c once


def test_text_summary_names_the_failure_and_the_metrics(tmp_path: Path) -> None:
    events, result = _run_with_log(tmp_path)
    res = invoke("events", "summarize", str(events))
    assert res.exit_code == 0, res.stderr
    lines = res.output.splitlines()
    assert lines[0].startswith(f"run {result['run_id']} started ")
    assert lines[0].endswith(": NOT ok")
    assert lines[1] == "  tasks: 1 failed, 2 succeeded"
    assert "  failed: c (RuntimeError: no luck)" in lines
    assert any(line.startswith("  attempts 4, retries 1,") for line in lines)


def test_reads_standard_input(tmp_path: Path) -> None:
    events, result = _run_with_log(tmp_path)
    res = invoke("events", "summarize", "-", "--json", input=events.read_text())
    assert res.exit_code == 0, res.stderr
    assert [r["run_id"] for r in json.loads(res.output)] == [result["run_id"]]


def test_a_malformed_log_exits_2_naming_the_line(tmp_path: Path) -> None:
    events, _ = _run_with_log(tmp_path)
    lines = events.read_text().splitlines()
    lines[2] = lines[2].replace('"seq":3', '"seq":"three"')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    res = invoke("events", "summarize", str(bad))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {bad}:3: ")
    assert "field seq" in res.stderr


def test_an_empty_log_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = invoke("events", "summarize", str(empty))
    assert res.exit_code == 0
    assert res.output == f"{empty}: no runs in this log\n"
