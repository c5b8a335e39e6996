"""DAG makespan against its lower bound and against a zero-overhead run of the same order.

Workloads: seeded random layered DAGs and a fan-out/fan-in, all sleep tasks of varied
durations (each task's ``estimate`` is its true duration). For each, with the critical-path-first
ready order on and off:

- lower bound = max(critical path, total work / workers): no schedule can beat it;
- simulated = the real ``Scheduler`` driven by ``simulate.simulate`` (zero dispatch cost): what
  the order alone achieves; simulated / bound measures the order's quality;
- real = ``result.metrics.wall_time`` of ``execute_graph`` on the process pool (scheduler start
  to last result); real / simulated measures the cost of dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import OrchestrationPolicy, TaskSpec, execute_graph
from orchestrator.telemetry.metrics import critical_path

from .report import table
from .simulate import simulate
from .stats import fmt, ratios, summarize
from .workloads import durations, fan_out_in, layered_dag, warm_pool

__all__ = ["run"]


@dataclass(frozen=True)
class Sizing:
    workers: int
    seeds: tuple[int, ...]
    layers: int
    width: int
    low: float
    high: float
    fan_width: int
    repetitions: int


FULL = Sizing(workers=4, seeds=(1, 2, 3), layers=5, width=8, low=0.02, high=0.2, fan_width=24,
              repetitions=3)
QUICK = Sizing(workers=4, seeds=(1,), layers=3, width=4, low=0.01, high=0.04, fan_width=8,
               repetitions=2)

ORDERS = {"critical path first": True, "submission order (FIFO)": False}


def _graphs(size: Sizing) -> dict[str, list[TaskSpec]]:
    graphs = {f"layered seed {s} ({size.layers}x{size.width})":
              layered_dag(s, size.layers, size.width, size.low, size.high) for s in size.seeds}
    graphs[f"fan-out/fan-in ({size.fan_width})"] = fan_out_in(
        size.seeds[0], size.fan_width, size.low, size.high * 1.5)
    return graphs


def run(quick: bool = False) -> dict[str, Any]:
    size = QUICK if quick else FULL
    graphs = _graphs(size)
    real: dict[tuple[str, str], list[float]] = {(g, o): [] for g in graphs for o in ORDERS}
    warm_pool(size.workers)
    for _ in range(size.repetitions):
        for gname, specs in graphs.items():
            for oname, cp_first in ORDERS.items():
                policy = OrchestrationPolicy(max_concurrency=size.workers, task_timeout=60,
                                             critical_path_first=cp_first)
                result = execute_graph(specs, policy)
                if not result.ok:
                    raise RuntimeError(f"dag: {gname} ({oname}) had failures: "
                                       f"{[r.id for r in result.failed][:5]}")
                real[(gname, oname)].append(result.metrics.wall_time)
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {"sizing": size.__dict__, "graphs": {}}
    gains = []
    for gname, specs in graphs.items():
        dur = durations(specs)
        total = sum(dur.values())
        chain = critical_path(dur, {s.id: s.all_deps for s in specs}).length
        bound = max(chain, total / size.workers)
        fig: dict[str, Any] = {"tasks": len(specs), "total_work_s": total,
                               "critical_path_s": chain, "lower_bound_s": bound, "orders": {}}
        sims = {}
        for oname, cp_first in ORDERS.items():
            policy = OrchestrationPolicy(max_concurrency=size.workers,
                                         critical_path_first=cp_first)
            sim = simulate(specs, dur, policy)
            sims[oname] = sim
            wall = real[(gname, oname)]
            r_sim = summarize([w / sim for w in wall])
            r_bound = summarize([w / bound for w in wall])
            fig["orders"][oname] = {"simulated_s": sim, "real_s": summarize(wall),
                                    "sim_over_bound": sim / bound, "real_over_sim": r_sim,
                                    "real_over_bound": r_bound}
            rows.append([gname, oname, len(specs), f"{bound:.3f}", f"{sim:.3f}",
                         fmt(summarize(wall), 3), f"{sim / bound:.3f}", fmt(r_sim, 3),
                         fmt(r_bound, 3)])
        cp, fifo = list(ORDERS)
        gain_real = summarize(ratios(real[(gname, fifo)], real[(gname, cp)]))
        fig["fifo_over_cp_simulated"] = sims[fifo] / sims[cp]
        fig["fifo_over_cp_real"] = gain_real
        gains.append([gname, f"{sims[fifo] / sims[cp]:.3f}", fmt(gain_real, 3)])
        figures["graphs"][gname] = fig
    main = table(
        f"Makespan on {size.workers} workers (sleep tasks of {size.low}-{size.high} s; "
        f"{size.repetitions} repetitions)",
        ["graph", "ready order", "tasks", "lower bound s", "simulated s", "real s",
         "simulated / bound", "real / simulated", "real / bound"], rows,
        notes=["lower bound = max(critical path, total work / workers). simulated = the same "
               "scheduler with zero dispatch cost (order quality); real / simulated = cost of "
               "dispatch. Real figures: median (min-max)."])
    gain = table("What critical-path-first buys (makespan with FIFO / with critical path first; "
                 "above 1 means critical path first is faster)",
                 ["graph", "simulated", "real"], gains)
    return {"title": "DAG scheduling quality", "tables": [main, gain], "checks": [],
            "figures": figures}
