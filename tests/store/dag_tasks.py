"""The 12-task DAG the durable-run tests kill and resume, and what it computes.

Each task appends its id to a side-effect file when it runs, so a test can count executions.
Tasks ``t6``..``t11`` wait (polling for a file, in the worker) until ``gate`` exists, so a
first run can be killed while they are held and the rest have finished.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator import Ref, TaskSpec

# id -> the ids it takes values from (in order)
DEPS: dict[str, tuple[str, ...]] = {
    "t0": (), "t1": (), "t2": ("t0",), "t3": ("t1",), "t4": ("t2", "t3"), "t5": ("t4",),
    "t6": ("t5",), "t7": ("t5",), "t8": ("t6",), "t9": ("t7", "t2"), "t10": ("t8", "t9"),
    "t11": ("t10", "t5"),
}
HELD = {"t6", "t7", "t8", "t9", "t10", "t11"}


def step(task_id: str, side: str, gate: str, *upstream: int) -> int:
    with open(side, "a", encoding="utf-8") as f:  # O_APPEND: one line per execution
        f.write(task_id + "\n")
    if task_id in HELD:
        while not os.path.exists(gate):
            time.sleep(0.01)
    return int(task_id[1:]) + 10 * sum(upstream)


def dag(side: Path, gate: Path) -> list[TaskSpec]:
    return [TaskSpec(tid, step, (tid, str(side), str(gate), *(Ref(d) for d in deps)))
            for tid, deps in DEPS.items()]


def expected() -> dict[str, int]:
    """The values of a clean run."""
    out: dict[str, int] = {}
    for tid, deps in DEPS.items():
        out[tid] = int(tid[1:]) + 10 * sum(out[d] for d in deps)
    return out


def executions(side: Path) -> list[str]:
    return side.read_text(encoding="utf-8").split() if side.exists() else []


def spread(plan_value: int) -> list[int]:
    """A planner's answer: ``[1, 2, 3]`` (the mapped-task resume test maps over it)."""
    return list(range(plan_value, plan_value + 3))
