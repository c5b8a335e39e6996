"""``-j N`` starts at most as many workers as the run's tasks can keep busy (issue 11 item 11):
one task with ``-j 8`` starts one worker, a chain of three starts one, four independent tasks
start four."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import read_events, start, tasks_json

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]


@pytest.mark.parametrize("tasks, workers", [
    ([{"id": "one", "fn": "workers.agents:echo", "args": [1]}], 1),
    ([{"id": "a", "fn": "workers.agents:echo", "args": [1]},
      {"id": "b", "fn": "workers.agents:echo", "args": [2], "deps": ["a"]},
      {"id": "c", "fn": "workers.agents:echo", "args": [3], "deps": ["b"]}], 1),
    ([{"id": f"f{i}", "fn": "workers.agents:echo", "args": [i]} for i in range(4)], 4),
])
def test_a_run_starts_no_more_workers_than_can_be_busy(tmp_path: Path, tasks, workers):
    events = tmp_path / "events.jsonl"
    proc = start(["run", "--tasks", tasks_json(tasks), "-j", "8", "--events", str(events)])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    log = read_events(events)
    started = [e for e in log if e["type"] == "worker.started"]
    assert len(started) == workers, started
    assert {e["type"] for e in log} >= {"run.started", "run.finished"}
