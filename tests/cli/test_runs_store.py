"""The run store through the command line: the default store next to the workflow, SIGINT
then --resume, `runs` / `runs show` / `forget` / `gc`, two runs on one store at once, bad
store paths (exit 2, nothing runs) and the workflow file's store fields."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest

from .helpers import invoke, read_events, start, wait_for, write

pytestmark = [pytest.mark.process, pytest.mark.timeout(240)]


def _flow(tmp_path: Path, name: str, gate: Path, side: Path, n: int = 6) -> str:
    """``n`` tasks: the first three finish, the rest wait for ``gate`` (a file)."""
    tasks = []
    for i in range(n):
        held = i >= 3
        tasks.append({"id": f"t{i}", "fn": "tests.store.dag_tasks:step",
                      "args": [f"t{i + 6 if held else i}", str(side), str(gate)]})
    return write(tmp_path, f"{name}.json", json.dumps({
        "name": name, "policy": {"max_concurrency": 2}, "tasks": tasks}))


def test_sigint_exits_130_prints_the_resume_command_and_resume_finishes_the_rest(
        tmp_path: Path) -> None:
    gate, side, log = tmp_path / "gate", tmp_path / "side", tmp_path / "events.jsonl"
    flow = _flow(tmp_path, "nightly", gate, side)
    proc = start(["run", flow, "--events", str(log), "-q"], cwd=tmp_path)

    def three_done() -> bool:
        done = [e for e in read_events(log) if e["type"] == "task.succeeded"]
        started = [e for e in read_events(log) if e["type"] == "task.started"]
        return len(done) == 3 and len(started) == 5

    wait_for("three tasks done and two held", three_done)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "to resume this run: orchestrator run" in err
    hint = next(line for line in err.splitlines() if line.startswith("to resume this run:"))
    assert "--resume-run" in hint

    gate.touch()
    again = invoke("run", flow, "--resume", "--json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    reused = {t["id"] for t in doc["tasks"] if t["reused_from"]}
    assert reused == {"t0", "t1", "t2"} and doc["metrics"]["reused"] == 3
    executed = side.read_text().split()
    assert all(executed.count(t) == 1 for t in ("t0", "t1", "t2")), executed
    assert {"t9", "t10", "t11"} <= set(executed)  # the held ones ran again, to the end

    store = tmp_path / ".orchestrator" / "runs.db"
    listed = invoke("runs", "--store", str(store))
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines()[1:] if line.strip()]
    assert [(r[1], r[2]) for r in rows] == [("nightly", "succeeded"), ("nightly", "interrupted")]
    assert rows[0][-1] == rows[1][0]  # the newer run was resumed from the older


def test_runs_show_json_forget_and_gc(tmp_path: Path) -> None:
    gate, side = tmp_path / "gate", tmp_path / "side"
    gate.touch()
    flow = _flow(tmp_path, "w", gate, side, n=3)
    for _ in range(3):
        assert invoke("run", flow, "-q").exit_code == 0
    store = str(tmp_path / ".orchestrator" / "runs.db")
    shown = invoke("runs", "show", _ids(store)[0], "--json", "--store", store)
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert [t["id"] for t in doc["tasks"]] == ["t0", "t1", "t2"]
    assert all(t["status"] == "succeeded" and t["stored"] for t in doc["tasks"])
    table = invoke("runs", "show", _ids(store)[0], "--store", store)
    assert "t0" in table.output and "succeeded" in table.output
    oldest = _ids(store)[-1]
    assert invoke("runs", "forget", oldest, "--store", store).exit_code == 0
    assert oldest not in _ids(store) and len(_ids(store)) == 2
    gc = invoke("runs", "gc", "--keep", "1", "--store", store)
    assert gc.exit_code == 0 and "forgot 1 run(s)" in gc.output
    assert len(_ids(store)) == 1
    unknown = invoke("runs", "show", "nope", "--store", store)
    assert unknown.exit_code == 2 and "no run 'nope'" in unknown.output


def _ids(store: str) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY key DESC")]
    finally:
        conn.close()


def test_two_workflows_run_on_one_store_file_at_once(tmp_path: Path) -> None:
    gate, store = tmp_path / "gate", tmp_path / "shared.db"
    gate.touch()
    flows = [_flow(tmp_path, name, gate, tmp_path / f"side-{name}", n=12)
             for name in ("left", "right")]
    procs = [start(["run", flow, "--store", str(store), "-q"], cwd=tmp_path) for flow in flows]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert "Error" not in err and "locked" not in err
    conn = sqlite3.connect(store)
    try:
        runs = conn.execute("SELECT name, status FROM runs ORDER BY name").fetchall()
        counts = conn.execute("SELECT r.name, count(*) FROM tasks t JOIN runs r ON r.key = t.run "
                              "GROUP BY r.name ORDER BY r.name").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert runs == [("left", "succeeded"), ("right", "succeeded")]
    assert counts == [("left", 12), ("right", 12)]


def test_a_bad_store_path_is_exit_2_before_anything_runs(tmp_path: Path) -> None:
    side = tmp_path / "side"
    flow = _flow(tmp_path, "bad", tmp_path / "gate", side, n=1)
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 200)
    result = invoke("run", flow, "--store", str(text))
    assert result.exit_code == 2, result.output
    assert str(text) in result.output and "not a SQLite database" in result.output
    missing = invoke("run", flow, "--store", str(tmp_path / "no" / "such" / "runs.db"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    unknown = invoke("run", flow, "--resume-run", "nope")
    assert unknown.exit_code == 2 and "no run 'nope' to resume" in unknown.output
    no_store = invoke("run", flow, "--no-store", "--resume")
    assert no_store.exit_code == 2 and "needs a run store" in no_store.output
    assert not side.exists()


def test_the_workflow_file_can_turn_the_store_off_or_cache(tmp_path: Path) -> None:
    gate, side = tmp_path / "gate", tmp_path / "side"
    gate.touch()
    tasks = [{"id": "a", "fn": "tests.store.dag_tasks:step", "args": ["t0", str(side),
                                                                      str(gate)]}]
    off = write(tmp_path, "off.json", json.dumps(
        {"name": "off", "policy": {"store": False}, "tasks": tasks}))
    assert invoke("run", off, "-q").exit_code == 0
    assert not (tmp_path / ".orchestrator").exists()
    cached = write(tmp_path, "cached.json", json.dumps(
        {"name": "cached", "policy": {"store": "mine.db", "cache": True}, "tasks": tasks}))
    assert invoke("run", cached, "-q").exit_code == 0
    second = invoke("run", cached, "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["tasks"][0]["reused_from"] is not None
    assert (tmp_path / "mine.db").exists()
    bad = write(tmp_path, "bad.json", json.dumps(
        {"name": "x", "tasks": [{**tasks[0], "cache": "yes"}]}))
    wrong = invoke("run", bad)
    assert wrong.exit_code == 2 and "cache" in wrong.output and "'yes'" in wrong.output
