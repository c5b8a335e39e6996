"""The same graph gives the same event sequence whatever PYTHONHASHSEED is (CPython's two-seed
subprocess check), run through the public API with InlineExecutor and a FakeClock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from orchestrator import (
    InlineExecutor,
    OrchestrationPolicy,
    Ref,
    RetryPolicy,
    TaskSpec,
    execute_graph,
)
from orchestrator.telemetry.sinks import MemorySink
from orchestrator.testing import FakeClock


def run_graph() -> list[list[Any]]:
    # Ids chosen so that set/dict-by-hash iteration would differ between hash seeds; equal
    # priorities and estimates everywhere so only the documented tie-breaks decide.
    ids = ["delta", "alpha", "kilo", "bravo", "echo", "zulu", "mike", "xray"]
    tasks = [TaskSpec(tid, "workers.agents:echo", args=(tid,)) for tid in ids]
    tasks += [
        TaskSpec("join", "workers.agents:add", args=([1], [2]), deps=("kilo",)),
        TaskSpec("flaky", "workers.agents:flaky", args=(1,), deps=("alpha", "zulu")),
        TaskSpec("fails", "workers.agents:fail", args=("no",), deps=("mike",)),
        TaskSpec("below", "workers.agents:echo", args=(Ref("fails"),)),
        TaskSpec("last", "workers.agents:echo", args=({"x": Ref("flaky"), "y": Ref("join")},)),
    ]
    sink = MemorySink()
    policy = OrchestrationPolicy(max_concurrency=3, retry=RetryPolicy(max_attempts=2))
    result = execute_graph(tasks, policy, on_event=sink, executor=InlineExecutor(),
                           clock=FakeClock())
    assert result["last"].value == {"x": "ok", "y": 3}
    return [[e.type, e.task_id, e.attempt] for e in sink.events]


_SCRIPT = """
import json
from tests.unit.test_determinism import run_graph
print(json.dumps(run_graph()))
"""


def test_the_event_sequence_does_not_depend_on_the_hash_seed() -> None:
    here = run_graph()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for hash_seed in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, cwd=root, check=True,
                             capture_output=True, text=True, timeout=120)
        assert json.loads(out.stdout) == here, f"PYTHONHASHSEED={hash_seed}"
    terminal = [e for e in here if e[0] in ("task.succeeded", "task.failed", "task.skipped")]
    assert len(terminal) == 13
