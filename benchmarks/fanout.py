"""Fan-out: a mapped task (``Each``) expanding into N no-op children, on the local pool.

plan (returns ``range(N)``) -> work[0..N-1] (``echo``) -> total (``add`` of the list). Measured:
the run's wall time; the time the scheduler spent expanding (``Expansion._expand``: building the
children's specs, admitting and ranking them, ``task.expanded``, queueing them) and ending the
mapped task (``_end_group``: the list of values), timed by wrapping those two methods in this
process; and, for comparison, the same N tasks written out as a static graph. Events go to a
memory sink, as a CLI run would send them to its display.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .report import check, table
from .stats import fmt, summarize

__all__ = ["run"]

FULL_SIZES = (2_000, 10_000)
QUICK_SIZES = (2_000,)
# Expanding may take at most 15% of a run of no-op children (the worst case: a child that does
# something is longer, the expansion is not). It includes what every task of a static graph
# pays too (its record, rank, task.ready event and queueing), there when the graph is loaded.
SHARE_TARGET = 0.15


def _timed(cls: Any, name: str, spent: list[float]) -> Callable[[], None]:
    """Wrap ``cls.name`` (a class's method or a module's function) so that its time adds to
    ``spent[0]``; returns the undo."""
    original = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(cls, name, wrapper)
    return lambda: setattr(cls, name, original)


def _mapped(n: int) -> list[Any]:
    from orchestrator import Each, Ref, TaskSpec

    return [TaskSpec("plan", "workers.agents:echo", args=(list(range(n)),)),
            TaskSpec("work", "workers.agents:echo", args=(Each(Ref("plan")),)),
            TaskSpec("total", "workers.agents:add", args=(Ref("work"),))]


def _static(n: int) -> list[Any]:
    from orchestrator import Ref, TaskSpec

    return ([TaskSpec("plan", "workers.agents:echo", args=(list(range(n)),))]
            + [TaskSpec(f"work-{i}", "workers.agents:echo", args=(i,), deps=("plan",))
               for i in range(n)]
            + [TaskSpec("total", "workers.agents:add", args=tuple(Ref(f"work-{i}")
                                                                 for i in range(n)))])


def _one(tasks: list[Any], pool: Any, n: int) -> tuple[float, float, float]:
    from orchestrator import MemorySink, OrchestrationPolicy, execute_graph
    from orchestrator.scheduler import expansion

    spent, building = [0.0], [0.0]
    undo = [_timed(expansion.Expansion, "_expand", spent),
            _timed(expansion.Expansion, "_end_group", spent),
            _timed(expansion, "expand_spec", building)]
    try:
        start = time.perf_counter()
        result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2), executor=pool,
                               on_event=MemorySink())
        wall = time.perf_counter() - start
    finally:
        for u in undo:
            u()
    if not result.ok or result["total"].value != sum(range(n)):
        raise AssertionError(f"the fan-out of {n} did not give the right total")
    return wall, spent[0], building[0]


def run(quick: bool = False) -> dict[str, Any]:
    from orchestrator import LocalPool

    sizes, reps = (QUICK_SIZES, 2) if quick else (FULL_SIZES, 3)
    rows, checks = [], []
    with LocalPool(2) as pool:
        _one(_mapped(100), pool, 100)  # warm the workers
        for n in sizes:
            walls, shares, statics, spents, builds = [], [], [], [], []
            for _ in range(reps):
                wall, spent, built = _one(_mapped(n), pool, n)
                walls.append(wall)
                spents.append(spent)
                builds.append(built / wall)
                shares.append(spent / wall)
                statics.append(_one(_static(n), pool, n)[0])
            share = summarize(shares)
            rows.append([n, fmt(summarize(walls)), fmt(summarize(statics)),
                         fmt(summarize(spents), 3), f"{share['median']:.1%}",
                         f"{summarize(builds)['median']:.1%}"])
            checks.append(check(f"expansion share, {n} children", f"<= {SHARE_TARGET:.0%}",
                                f"{share['median']:.1%}", share["median"] <= SHARE_TARGET))
    return {
        "tables": [table("Fan-out of no-op children on 2 workers (seconds; median of "
                         f"{reps})", ["children", "mapped run", "same tasks, static graph",
                                      "expanding", "expanding / run",
                                      "of which building the specs"], rows)],
        "checks": checks,
        "notes": ["expanding = Expansion._expand + _end_group, timed in the parent; building "
                  "the specs = model.each.expand_spec, part of it"],
    }
