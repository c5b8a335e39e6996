"""Hypothesis strategies: acyclic task graphs by construction, policies, attempt outcomes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from orchestrator import RetryPolicy, TaskGraph, TaskSpec

NOOP = "workers.agents:noop"

# What one attempt does under ScriptedExecutor: finish, raise, kill its worker, or run until
# its timeout kills it.
OUTCOMES = ("ok", "fail", "crash", "hang")


@st.composite
def dags(draw: st.DrawFn, max_tasks: int = 10) -> list[TaskSpec]:
    """Acyclic by construction: node ``i`` depends only on nodes with a higher index. Submitted
    in a drawn order (often dependents before their dependencies), with drawn priorities and
    estimates (some missing) so every tie-break of the ready queue is exercised."""
    n = draw(st.integers(1, max_tasks))
    specs = []
    for i in range(n):
        later = list(range(i + 1, n))
        deps = draw(st.lists(st.sampled_from(later), unique=True, max_size=3)) if later else []
        specs.append(TaskSpec(
            f"t{i}", NOOP, deps=tuple(f"t{j}" for j in deps),
            priority=draw(st.sampled_from([0, 0, 0, 1])),
            estimate=draw(st.sampled_from([None, 1.0, 2.5]))))
    return draw(st.permutations(specs))


def describe(specs: list[TaskSpec]) -> str:
    """The graph in one line per task, for ``note()``."""
    return "\n".join(f"{s.id}: deps={list(s.deps)} priority={s.priority} estimate={s.estimate}"
                     for s in specs)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for OrchestrationPolicy (through the test Harness)."""
    return {
        "max_concurrency": draw(st.integers(1, 3)),
        "max_pending": draw(st.integers(0, 2)),
        "retry": RetryPolicy(max_attempts=draw(st.integers(1, 3)),
                             base_delay=draw(st.sampled_from([0.0, 1.0]))),
        "on_failure": draw(st.sampled_from(["skip", "continue"])),
        "cancellation": draw(st.sampled_from(["isolated", "cascading"])),
        "task_timeout": 5.0,
        "kill_grace": draw(st.sampled_from([0.0, 0.5])),
        "critical_path_first": draw(st.booleans()),
    }


def descendants(specs: list[TaskSpec], roots: set[str]) -> set[str]:
    graph = TaskGraph(specs)
    found: set[str] = set()
    for root in roots:
        found |= graph.descendants(root)
    return found
