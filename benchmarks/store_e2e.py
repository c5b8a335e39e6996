"""The run store end to end, through ``execute_parallel`` on the shared warm pool.

* **overhead**: 5,000 no-op tasks and 5,000 tasks of ~1 ms (``workers.agents:burn_cpu``), on
  2 workers, without a store and with one (a fresh file each run), interleaved round by round
  (the order rotates), medians. With the store every outcome is fingerprinted, pickled again
  in the parent and committed once per scheduler step.
* **resume**: a 10,000-task run of ``echo`` with 10 tasks failed is resumed (``resume=True``): the
  wall time of the whole ``execute_parallel`` call, 9,990 tasks reused and 10 run.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel

__all__ = ["overhead", "resume"]

VARIANTS = ("off", "store")


def _tasks(n: int, fn: str, args: tuple[Any, ...]) -> list[TaskSpec]:
    return [TaskSpec(f"t{i}", fn, args=args) for i in range(n)]


def _time(tasks: list[TaskSpec], policy: OrchestrationPolicy, variant: str, db: Path
          ) -> tuple[float, float]:
    kw: dict[str, Any] = {"store": db, "run_name": "bench"} if variant == "store" else {}
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = execute_parallel(tasks, policy, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if not result.ok:
        raise RuntimeError(f"benchmark run failed: {result.failed[:3]}")
    return wall, cpu


def overhead(folder: Path, name: str, tasks: list[TaskSpec], rounds: int) -> dict[str, Any]:
    policy = OrchestrationPolicy(max_concurrency=2, task_timeout=60)
    execute_parallel(tasks[:200], policy)  # warm the pool
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % 2:] + VARIANTS[:r % 2]
        for variant in order:
            times[variant].append(_time(tasks, policy, variant, folder / f"{name}-{r}.db"))
    base = statistics.median(w for w, _ in times["off"])
    base_cpu = statistics.median(c for _, c in times["off"])
    out: dict[str, Any] = {"tasks": len(tasks), "rounds": rounds}
    for variant, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        out[variant] = {"median_s": wall, "best_s": min(w for w, _ in runs),
                        "runs_s": [w for w, _ in runs], "vs_off": wall / base - 1.0,
                        "parent_cpu_s": cpu, "parent_cpu_vs_off": cpu / base_cpu - 1.0}
    return out


def resume(folder: Path, n: int, failed: int, reps: int) -> dict[str, Any]:
    """Seconds to resume an ``n``-task run with ``failed`` tasks to run again."""
    policy = OrchestrationPolicy(max_concurrency=2, task_timeout=60)
    walls, reused = [], 0
    for rep in range(reps):
        db = folder / f"resume-{rep}.db"
        marker = folder / f"ok-{rep}"
        tasks = [TaskSpec(f"t{i:05d}", "workers.agents:echo", args=(i,)) for i in range(n)]
        for i in range(failed):  # fail the first time: their marker file is absent
            tasks[i] = TaskSpec(f"t{i:05d}", "benchmarks.store_e2e:fail_until",
                                args=(str(marker), i))
        first = execute_parallel(tasks, policy, store=db, run_name="bench")
        assert len(first.failed) == failed, first.failed[:3]
        marker.touch()
        t0 = time.perf_counter()
        second = execute_parallel(tasks, policy, store=db, run_name="bench", resume=True)
        walls.append(time.perf_counter() - t0)
        if not second.ok:
            raise RuntimeError(f"resume failed: {second.failed[:3]}")
        reused = second.metrics.reused
    return {"tasks": n, "reused": reused, "walls_s": walls, "median_s": statistics.median(walls)}


def fail_until(marker: str, i: int) -> int:
    """Raises until ``marker`` exists (a task that fails in the first run only)."""
    if not Path(marker).exists():
        raise RuntimeError("not yet")
    return i


def section(folder: Path, quick: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                dict[str, Any]]:
    """The end-to-end tables, checks and figures for benchmarks/store.py."""
    from .report import check, table

    n, rounds = (300, 2) if quick else (5000, 7)
    noop = overhead(folder, "noop", _tasks(n, "workers.agents:noop", ()), rounds)
    cpu = overhead(folder, "cpu", _tasks(n, "workers.agents:burn_cpu", (0.001,)), rounds)
    back = resume(folder, 500 if quick else 10_000, 10, 1 if quick else 3)
    rows = []
    for name, fig in (("no-op", noop), ("~1 ms", cpu)):
        for variant in VARIANTS:
            v = fig[variant]
            rows.append([name, variant, f"{v['median_s'] * 1e3:.0f}", f"{v['best_s'] * 1e3:.0f}",
                         f"{v['vs_off'] * 100:+.1f}%", f"{v['parent_cpu_s'] * 1e3:.0f}",
                         f"{v['parent_cpu_vs_off'] * 100:+.1f}%"])
    tables = [
        table(f"the store end to end: {n:,} tasks on 2 workers, without and with a store "
              f"({rounds} rounds, interleaved; medians)",
              ["tasks", "store", "wall median ms", "wall best ms", "wall vs off",
               "parent CPU ms", "parent CPU vs off"], rows),
        table(f"resume of a {back['tasks']:,}-task run, {back['reused']:,} reused "
              f"(execute_parallel, whole call)", ["runs", "median s", "each s"],
              [[len(back["walls_s"]), f"{back['median_s']:.3f}",
                ", ".join(f"{w:.3f}" for w in back["walls_s"])]]),
    ]
    checks = [
        check(f"store overhead on {n:,} tasks of 1 ms", "< 10% wall (issue 12)",
              f"{cpu['store']['vs_off'] * 100:+.1f}%", cpu["store"]["vs_off"] < 0.10),
        check(f"store overhead on {n:,} no-op tasks", "measured (no target)",
              f"{noop['store']['vs_off'] * 100:+.1f}%", None),
        check(f"resume of {back['tasks']:,} tasks, {back['reused']:,} reused", "< 2 s (issue 12)",
              f"{back['median_s']:.3f} s" + (" (--quick: not the issue's size)" if quick else ""),
              None if quick else back["median_s"] < 2.0),
    ]
    return tables, checks, {"noop": noop, "cpu_1ms": cpu, "resume": back}
