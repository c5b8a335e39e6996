"""Ctrl-C and SIGTERM on a real `python -m orchestrator run`: exit 130/143, partial results
printed and saved, the event log complete, and no worker (or worker's child) left alive.

The signal is sent once the tasks are known to be running: the test reads the event stream
(and, for the task that spawns children, watches for those children), never a clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from .helpers import DEADLINE, read_events, start, tasks_json, wait_for, wait_gone

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

TASKS = [
    {"id": "quick", "fn": "workers.agents:echo", "args": [7]},
    {"id": "tree", "fn": "workers.agents:spawn_children", "args": [2]},
    {"id": "stuck", "fn": "workers.agents:hang"},
]


def _children_of(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _running(events: list[dict[str, Any]]) -> dict[str, int] | None:
    """task id -> worker pid once `quick` succeeded and `tree` and `stuck` started."""
    started = {e["task_id"]: e["pid"] for e in events if e["type"] == "task.started"}
    done = {e["task_id"] for e in events if e["type"] == "task.succeeded"}
    if "quick" in done and {"tree", "stuck"} <= set(started):
        return started
    return None


def _check_events(events: list[dict[str, Any]]) -> None:
    assert events[0]["type"] == "run.started"
    last = events[-1]
    assert last["type"] == "run.finished", last
    assert last["data"]["interrupted"] is True and last["data"]["ok"] is False
    terminal = [(e["task_id"], e["type"]) for e in events
                if e["type"] in ("task.succeeded", "task.cancelled", "task.failed",
                                 "task.timed_out", "task.skipped")]
    assert sorted(terminal) == [("quick", "task.succeeded"), ("stuck", "task.cancelled"),
                                ("tree", "task.cancelled")]


def _check_output(path: Path, code: int) -> None:
    doc = json.loads(path.read_text())
    assert doc["interrupted"] is True and doc["exit_code"] == code and doc["ok"] is False
    assert {t["id"]: (t["status"], t["value"]) for t in doc["tasks"]} == {
        "quick": ("succeeded", 7), "tree": ("cancelled", None), "stuck": ("cancelled", None)}


def _pids_to_watch(started: dict[str, int]) -> list[int]:
    """The workers that ran tasks, and the children the `tree` task spawned."""
    def spawned() -> list[int] | None:
        children = _children_of(started["tree"])
        return children if len(children) >= 2 else None

    children = wait_for("the `tree` task's two children", spawned)
    return sorted(set(started.values()) | set(children))


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = start(["run", "--tasks", tasks_json(TASKS), "-j", "3", "--events", "-",
                  "--output", str(out)])
    assert proc.stdout is not None
    lines: list[str] = []
    started = None
    while started is None:
        line = proc.stdout.readline()
        assert line, f"the run ended early: {proc.wait(DEADLINE)}, {proc.stderr.read()}"
        lines.append(line)
        started = _running([json.loads(x) for x in lines])
    pids = _pids_to_watch(started)
    proc.send_signal(signal.SIGINT)
    rest, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 130, stderr
    events = [json.loads(x) for x in lines + rest.splitlines(keepends=True)]
    _check_events(events)
    _check_output(out, 130)
    # --events - holds stdout, so the partial summary is on stderr, before the Error line.
    assert stderr.splitlines()[-1] == ("Error: interrupted by SIGINT: running tasks were killed "
                                       "(1 succeeded, 2 cancelled)")
    assert "quick  succeeded" in stderr and "Traceback" not in stderr
    wait_gone(pids)


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    out, log = tmp_path / "result.json", tmp_path / "events.jsonl"
    proc = start(["run", "--tasks", tasks_json(TASKS), "-j", "3", "--events", str(log),
                  "--output", str(out)])
    started = wait_for("the tasks to run (in the event log)", lambda: _running(read_events(log)))
    pids = _pids_to_watch(started)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 143, stderr
    _check_events(read_events(log))
    assert log.read_text().endswith("\n")
    _check_output(out, 143)
    table = stdout.splitlines()
    assert table[1].split() == ["task", "status", "attempts", "duration", "worker"]
    assert [row.split()[:2] for row in table[2:5]] == [["quick", "succeeded"],
                                                       ["tree", "cancelled"],
                                                       ["stuck", "cancelled"]]
    assert stderr == ("Error: interrupted by SIGTERM: running tasks were killed "
                      "(1 succeeded, 2 cancelled)\n")
    wait_gone(pids)


def test_a_run_that_ends_by_itself_leaves_no_worker(tmp_path: Path) -> None:
    """A run that ends by itself exits 0 and leaves no process, with or without an event log."""
    log = tmp_path / "events.jsonl"
    proc = start(["run", "--tasks", tasks_json(TASKS[:1]), "--events", str(log)],
                 stdout=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    events = read_events(log)
    assert events[-1]["type"] == "run.finished" and events[-1]["data"]["ok"] is True
    workers = [e["pid"] for e in events if e.get("pid")]
    assert workers
    wait_gone(workers)
    assert os.path.getsize(log) > 0
