"""The sample workloads, built from ``workers.agents``, and a serial in-process runner.

Every workload is a list of ``TaskSpec``s; sleep-based DAGs carry each task's true duration as
its ``estimate`` so the engine's critical-path order and the simulation see the same numbers.
"""

from __future__ import annotations

import random
from typing import Any, Iterable

from orchestrator import OrchestrationPolicy, Ref, TaskGraph, TaskSpec, execute_parallel
from orchestrator.model.spec import substitute_refs
from workers.resolve import resolve

__all__ = [
    "cpu_tasks", "sleep_tasks", "mixed_dag", "layered_dag", "fan_out_in", "run_serial",
    "durations", "warm_pool",
]

BURN = "workers.agents:burn_cpu"
SLEEP = "workers.agents:sleep"
ADD = "workers.agents:add"


def cpu_tasks(n: int, seconds: float) -> list[TaskSpec]:
    """``n`` independent agents that each burn ``seconds`` of CPU time."""
    return [TaskSpec(f"cpu-{i}", BURN, args=(seconds,), estimate=seconds) for i in range(n)]


def sleep_tasks(n: int, seconds: float) -> list[TaskSpec]:
    """``n`` independent agents that each wait ``seconds`` (I/O or a model call)."""
    return [TaskSpec(f"io-{i}", SLEEP, args=(seconds,), estimate=seconds) for i in range(n)]


def mixed_dag(sources: int, seconds: float, *, cpu: bool = False) -> list[TaskSpec]:
    """A code-review-like pipeline: ``sources`` CPU "parse" agents, each feeding two sleep
    "model call" agents, whose results one CPU "score" agent per source combines; a final
    ``add`` merges the scores. ``4 * sources`` agents of ``seconds`` each, plus the merge.
    ``cpu``: the CPU-bound agents say so (``resources={"cpu": 1}``)."""
    held = {"cpu": 1} if cpu else {}
    specs: list[TaskSpec] = []
    for s in range(sources):
        specs.append(TaskSpec(f"parse-{s}", BURN, args=(seconds,), estimate=seconds,
                              resources=held))
        calls = []
        for c in range(2):
            tid = f"call-{s}-{c}"
            specs.append(TaskSpec(tid, SLEEP, args=(seconds,), deps=(f"parse-{s}",),
                                  estimate=seconds))
            calls.append(tid)
        specs.append(TaskSpec(f"score-{s}", BURN, args=(seconds,), deps=tuple(calls),
                              estimate=seconds, resources=held))
    specs.append(TaskSpec("merge", ADD, args=tuple(Ref(f"score-{s}") for s in range(sources)),
                          estimate=0.0))
    return specs


def layered_dag(seed: int, layers: int, width: int, low: float, high: float,
                max_deps: int = 3) -> list[TaskSpec]:
    """A seeded random layered DAG of sleep tasks: each task of layer k > 0 depends on 1 to
    ``max_deps`` random tasks of layer k-1; durations uniform in [low, high]."""
    rng = random.Random(f"layered:{seed}")
    specs: list[TaskSpec] = []
    previous: list[str] = []
    for layer in range(layers):
        current = []
        for i in range(width):
            tid = f"L{layer}-{i}"
            deps: tuple[str, ...] = ()
            if previous:
                k = rng.randint(1, min(max_deps, len(previous)))
                deps = tuple(sorted(rng.sample(previous, k)))
            d = round(rng.uniform(low, high), 4)
            specs.append(TaskSpec(tid, SLEEP, args=(d,), deps=deps, estimate=d))
            current.append(tid)
        previous = current
    return specs


def fan_out_in(seed: int, width: int, low: float, high: float) -> list[TaskSpec]:
    """One source, ``width`` independent sleep tasks of varied durations, one sink."""
    rng = random.Random(f"fan:{seed}")
    head = round(low, 4)
    specs = [TaskSpec("source", SLEEP, args=(head,), estimate=head)]
    mids = []
    for i in range(width):
        d = round(rng.uniform(low, high), 4)
        specs.append(TaskSpec(f"fan-{i}", SLEEP, args=(d,), deps=("source",), estimate=d))
        mids.append(f"fan-{i}")
    specs.append(TaskSpec("sink", SLEEP, args=(head,), deps=tuple(mids), estimate=head))
    return specs


def durations(specs: Iterable[TaskSpec]) -> dict[str, float]:
    """id -> the duration a sleep/burn task was given (its first argument)."""
    return {s.id: float(s.args[0]) if s.args and isinstance(s.args[0], (int, float)) else 0.0
            for s in specs}


def run_serial(specs: Iterable[TaskSpec]) -> dict[str, Any]:
    """Run every task in this process, one after another, in dependency order (the baseline)."""
    graph = TaskGraph(specs)
    values: dict[str, Any] = {}
    for spec in graph:
        fn = resolve(spec.fn) if isinstance(spec.fn, str) else spec.fn
        args = substitute_refs(spec.args, values.__getitem__)
        kwargs = substitute_refs(dict(spec.kwargs), values.__getitem__)
        values[spec.id] = fn(*args, **kwargs)
    return values


def warm_pool(workers: int) -> None:
    """Make the shared pool hold ``workers`` ready workers, so no timed run pays a start-up.

    Each of ``workers`` short sleeps goes to its own worker (none is idle to take a second), and
    the run ends only when every one of them has run, hence started.
    """
    result = execute_parallel(sleep_tasks(workers, 0.02),
                              OrchestrationPolicy(max_concurrency=workers))
    if not result.ok:
        raise RuntimeError(f"warm-up run failed: {result.failed}")
