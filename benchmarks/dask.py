"""The Dask executor on a LocalCluster of 2 workers x 4 threads: what the runner costs a task,
the speedup it keeps, how fast a kill lands, and where large intermediate values should travel.

- no-op throughput: N no-op tasks through this engine (``DaskExecutor``, every task dispatched
  at once as the raw loop does) and as raw ``client.submit`` + ``client.gather`` on the same
  cluster, in alternating rounds; per-task overhead = wall / N, and the ratio ours / raw of it
  (target: under 1.5x);
- sleep speedup: 16 x 0.25 s sleeps, serial time / wall time (target: at least 0.9 x 8 threads);
- kill latency: tasks that hang past a 0.3 s timeout, ``task.timed_out`` time minus
  (``task.started`` time + timeout), on the parent's clock (target: median under 50 ms);
- values: a task that returns a large ``bytes`` and one that takes its length, through this
  engine (the value comes to the parent, which substitutes the Ref and sends it back) against
  Dask futures passed into the dependent (the value stays on the cluster), with and without
  fetching the intermediate value to the parent as well (a run's result holds every value).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from orchestrator import OrchestrationPolicy, Ref, TaskSpec, execute_graph, execute_parallel
from orchestrator.telemetry.sinks import MemorySink
from workers.agents import big_value, noop

from .report import check, table
from .stats import fmt, percentile, ratios, summarize

__all__ = ["run"]

WORKERS, THREADS = 2, 4
KILL_TIMEOUT = 0.3


@dataclass(frozen=True)
class Sizing:
    tasks: int
    rounds: int
    hanging: int
    megabytes: tuple[int, ...]


FULL = Sizing(tasks=2000, rounds=5, hanging=40, megabytes=(10, 50, 200))
QUICK = Sizing(tasks=200, rounds=2, hanging=8, megabytes=(10,))


def run(quick: bool = False) -> dict[str, Any]:
    try:
        from orchestrator.executors.dask import DaskExecutor
    except ImportError as exc:
        return {"title": "Dask executor", "tables": [], "checks": [],
                "figures": {"status": f"skipped: {exc}"}}
    size = QUICK if quick else FULL
    with DaskExecutor.local(n_workers=WORKERS, threads_per_worker=THREADS) as executor:
        policy = OrchestrationPolicy(max_concurrency=WORKERS * THREADS)
        execute_parallel([TaskSpec(f"warm-{i}", noop) for i in range(50)], policy,
                         executor=executor)
        client = executor.client
        throughput = _throughput(executor, client, policy, size)
        speedup = _speedup(executor, policy, size.rounds)
        kills = _kill_latency(executor, policy, size)
        values = _values(executor, client, policy, size)
    return _report(size, throughput, speedup, kills, values)


def _throughput(executor: Any, client: Any, policy: OrchestrationPolicy,
                size: Sizing) -> dict[str, list[float]]:
    """Seconds per run of ``size.tasks`` no-ops, ours and raw, in alternating rounds. Ours may
    dispatch every task at once (``max_pending``), as the raw loop submits them all: the ratio
    is then what a task costs, not a difference in how many wait in Dask's queue."""
    policy = policy.replace(max_pending=size.tasks)
    out: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(size.rounds):
        t0 = time.perf_counter()
        result = execute_parallel([TaskSpec(f"n{i}", noop) for i in range(size.tasks)], policy,
                                  executor=executor)
        out["ours"].append(time.perf_counter() - t0)
        assert result.ok, result.failed[:3]
        t0 = time.perf_counter()
        client.gather([client.submit(noop, pure=False) for _ in range(size.tasks)])
        out["raw"].append(time.perf_counter() - t0)
    return out


def _speedup(executor: Any, policy: OrchestrationPolicy, rounds: int) -> dict[str, Any]:
    """Median over ``rounds`` runs of 16 x 0.25 s sleeps, after one round of a sleep per thread
    (no-ops finish too fast to start every thread's runner, and a cold runner start-up is the
    start-up benchmark's figure, not this one's; the local pool's speedup is warmed the same
    way)."""
    threads = WORKERS * THREADS
    execute_parallel([TaskSpec(f"warm-sleep-{i}", "workers.agents:sleep", args=(0.1,))
                      for i in range(threads)], policy, executor=executor)
    walls = []
    for _ in range(rounds):
        specs = [TaskSpec(f"s{i}", "workers.agents:sleep", args=(0.25,)) for i in range(16)]
        t0 = time.perf_counter()
        result = execute_parallel(specs, policy, executor=executor)
        walls.append(time.perf_counter() - t0)
        assert result.ok, result.failed[:3]
    serial = 16 * 0.25
    wall = statistics.median(walls)
    return {"wall": wall, "walls": walls, "serial": serial, "speedup": serial / wall,
            "speedups": [serial / w for w in walls], "threads": float(threads)}


def _kill_latency(executor: Any, policy: OrchestrationPolicy, size: Sizing) -> list[float]:
    """Deadline -> ``task.timed_out``, per hanging task, in seconds."""
    sink = MemorySink()
    specs = [TaskSpec(f"hang-{i}", "workers.agents:hang", timeout=KILL_TIMEOUT)
             for i in range(size.hanging)]
    execute_parallel(specs, policy, executor=executor, on_event=sink)
    started = {e.task_id: e.elapsed for e in sink.of_type("task.started")}
    return [e.elapsed - (started[e.task_id] + KILL_TIMEOUT)
            for e in sink.of_type("task.timed_out") if e.task_id in started]


def _values(executor: Any, client: Any, policy: OrchestrationPolicy,
            size: Sizing) -> dict[int, dict[str, float]]:
    """Seconds for producer -> consumer with a value of each size, three ways."""
    out: dict[int, dict[str, float]] = {}
    for mb in size.megabytes:
        specs = [TaskSpec("produce", big_value, args=(mb,)),
                 TaskSpec("consume", len, args=(Ref("produce"),))]
        t0 = time.perf_counter()
        result = execute_graph(specs, policy, executor=executor)
        ours = time.perf_counter() - t0
        assert result.ok and result["consume"].value == mb * 2**20, result.failed
        t0 = time.perf_counter()
        made = client.submit(big_value, mb, pure=False)
        assert client.submit(len, made, pure=False).result() == mb * 2**20
        kept = time.perf_counter() - t0
        t0 = time.perf_counter()
        made = client.submit(big_value, mb, pure=False)
        used = client.submit(len, made, pure=False)
        client.gather([made, used])
        fetched = time.perf_counter() - t0
        del made, used
        out[mb] = {"ours": ours, "futures": kept, "futures_and_fetch": fetched}
    return out


def _report(size: Sizing, throughput: dict[str, list[float]], speedup: dict[str, float],
            kills: list[float], values: dict[int, dict[str, float]]) -> dict[str, Any]:
    n = size.tasks
    ours_us = [s / n * 1e6 for s in throughput["ours"]]
    raw_us = [s / n * 1e6 for s in throughput["raw"]]
    cost = summarize(ratios(ours_us, raw_us))
    ms = [k * 1e3 for k in kills]
    figures: dict[str, Any] = {
        "tasks": n, "workers": WORKERS, "threads_per_worker": THREADS,
        "ours_us_per_task": summarize(ours_us), "raw_us_per_task": summarize(raw_us),
        "ours_vs_raw_per_task": cost, "sleep": speedup,
        "kill_latency_ms": {"median": percentile(ms, 50), "p90": percentile(ms, 90),
                            "max": max(ms), "samples": ms} if ms else None,
        "values_s": {str(mb): v for mb, v in values.items()},
    }
    threads = WORKERS * THREADS
    checks = [
        check("per-task cost of the runner vs raw client.submit", "< 1.5x (issue 13)",
              fmt(cost) + "x", cost["median"] < 1.5),
        check("speedup on 16 x 0.25 s sleeps", f">= {0.9 * threads:g} ({threads} threads)",
              f"{speedup['speedup']:.2f}x", speedup["speedup"] >= 0.9 * threads),
        check("median kill latency (deadline -> timed_out)", "< 50 ms",
              f"{percentile(ms, 50):.1f} ms" if ms else "no kill", bool(ms)
              and percentile(ms, 50) < 50),
    ]
    rows = [["ours (DaskExecutor)", fmt(summarize([n / s for s in throughput["ours"]]), 0),
             fmt(summarize(ours_us), 0)],
            ["raw client.submit + gather", fmt(summarize([n / s for s in throughput["raw"]]), 0),
             fmt(summarize(raw_us), 0)]]
    tables = [
        table(f"{n:,} no-op tasks on {WORKERS} Dask workers x {THREADS} threads "
              f"({size.rounds} rounds, alternating)", ["path", "tasks/s", "us per task"], rows,
              notes=[f"ours / raw per task: {fmt(cost)}x (paired by round)"]),
        table("kill latency and sleep speedup", ["measure", "value"], [
            ["kills", len(ms)],
            ["median / p90 / max (ms)", f"{percentile(ms, 50):.1f} / {percentile(ms, 90):.1f} / "
                                        f"{max(ms):.1f}" if ms else "-"],
            [f"16 x 0.25 s sleeps: wall (s), median of {size.rounds}",
             f"{speedup['wall']:.3f} ({min(speedup['walls']):.3f}-{max(speedup['walls']):.3f})"],
            ["speedup vs serial", f"{speedup['speedup']:.2f}x of {threads} threads"]]),
        table("a large intermediate value: producer -> consumer (seconds)",
              ["MB", "ours (via the parent)", "Dask futures (stays on cluster)",
               "futures + fetch the value"],
              [[mb, f"{v['ours']:.3f}", f"{v['futures']:.3f}", f"{v['futures_and_fetch']:.3f}"]
               for mb, v in values.items()],
              notes=["A run's result holds every task's value, so the fair peer fetches the "
                     "intermediate value too (last column)."]),
    ]
    return {"title": "Dask executor: runner cost, speedup, kill latency, values",
            "tables": tables, "checks": checks, "figures": figures}
