"""Mapped tasks (``Each``) on real worker processes: children run in parallel, a 2,000-way
fan-out completes, and what cannot be mapped is refused before anything runs."""

from __future__ import annotations

import pytest

from orchestrator import (
    Each,
    OrchestrationPolicy,
    Ref,
    SpecError,
    TaskSpec,
    execute_graph,
    execute_parallel,
)
from orchestrator.model.errors import CycleError, MissingDependencyError

from .sync import Beacon, Gate, on_ready

pytestmark = pytest.mark.process


def test_six_researchers_overlap_up_to_the_concurrency(pool, beacon: Beacon, tmp_path) -> None:
    gate = Gate(tmp_path)
    try:
        # The gate opens only once 3 children report at the same time: the run can finish
        # only if 3 of them run at once.
        on_ready(beacon, lambda lines: gate.release(), count=3)
        tasks = [
            TaskSpec("plan", "workers.agents:echo", args=([f"subject-{i}" for i in range(6)],)),
            TaskSpec("research", "tests.process.sync:element_after_gate",
                     args=(Each(Ref("plan")), beacon.path, gate.path), timeout=120),
            TaskSpec("merge", "workers.agents:echo", args=(Ref("research"),)),
        ]
        result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=3), executor=pool)
    finally:
        gate.close()
    assert result.ok, result.failed
    assert result["merge"].value == [f"subject-{i}" for i in range(6)]
    children = result["research"].children or ()
    assert [c.id for c in children] == [f"research[{i}]" for i in range(6)]
    spans = [(c.started_at, c.finished_at) for c in children]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 3  # up to the concurrency, never more


def test_a_2000_way_expansion_of_no_ops_completes(pool) -> None:
    tasks = [TaskSpec("plan", "workers.agents:echo", args=(list(range(2000)),)),
             TaskSpec("work", "workers.agents:echo", args=(Each(Ref("plan")),)),
             TaskSpec("total", "workers.agents:add", args=(Ref("work"),))]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2), executor=pool)
    assert result.ok
    assert result["total"].value == sum(range(2000))
    assert len(result) == 2003 and result.metrics.tasks == 2003


def test_what_cannot_be_mapped_is_refused_before_anything_runs() -> None:
    with pytest.raises(MissingDependencyError,
                       match=r"^task 'm' depends on 'missing', which is not defined$"):
        execute_graph([TaskSpec("m", "workers.agents:echo", args=(Each(Ref("missing")),))])
    with pytest.raises(CycleError, match=r"^dependency cycle: a -> b -> a$"):
        execute_graph([TaskSpec("a", "workers.agents:echo", args=(Each(Ref("b")),)),
                       TaskSpec("b", "workers.agents:echo", args=(Ref("a"),))])
    with pytest.raises(SpecError, match=r"^task 'm' is mapped \(Each\); a flat batch takes "):
        execute_parallel([TaskSpec("m", "workers.agents:echo", args=(Each([1, 2]),))])
