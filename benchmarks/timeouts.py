"""Timeouts that kill: how late the kill lands, how fast the pool is whole again, and who else
gets hurt.

Each repetition runs, at concurrency 4, N tasks that hang past a 0.2 s timeout interleaved with N
ordinary tasks (0.1 s sleeps, generous timeout). From the event stream:

- deadline-to-terminal latency: ``task.timed_out`` time minus (``task.started`` time + 0.2 s),
  both on the parent's monotonic clock (``elapsed``);
- replacement: from each ``worker.died`` to its slot holding a ready worker again (0 when a warm
  spare takes it, else the fresh worker's ``worker.started``); and the cold start-up of a fresh
  worker (``worker.started`` carries ``startup``: spawn to ready);
- collateral: ordinary tasks that did not succeed on their first attempt (must be 0); and
  psutil confirms that every killed worker pid is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil

from orchestrator import EventType, OrchestrationPolicy, TaskSpec, TaskStatus, execute_parallel
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.sinks import MemorySink

from .report import check, table
from .stats import percentile, summarize
from .workloads import warm_pool

__all__ = ["run", "analyse"]

TIMEOUT = 0.2
WORKERS = 4


@dataclass(frozen=True)
class Sizing:
    hanging: int
    repetitions: int


FULL = Sizing(hanging=50, repetitions=3)
QUICK = Sizing(hanging=8, repetitions=2)


def _tasks(n: int) -> list[TaskSpec]:
    specs = []
    for i in range(n):
        specs.append(TaskSpec(f"hang-{i}", "workers.agents:hang", timeout=TIMEOUT))
        specs.append(TaskSpec(f"work-{i}", "workers.agents:sleep", args=(0.1,)))
    return specs


def analyse(events: list[Event]) -> dict[str, Any]:
    """Latencies, slot refills and start-ups from one run's events.

    Slot accounting follows the pool's documented rule: a killed worker's slot takes a ready
    warm spare at once if there is one (refill time 0), otherwise a fresh worker is spawned
    into that slot and the refill ends with its ``worker.started``. Spares announce themselves
    with ``worker.started`` on slot -1.
    """
    started: dict[str, float] = {}
    latencies: list[float] = []
    killed_pids: list[int] = []
    refills: list[float] = []
    startups: list[float] = []
    waiting: dict[int, float] = {}  # slot -> when its worker died
    spares = 0
    deaths = takeovers = 0
    for e in events:
        if e.type == EventType.TASK_STARTED and e.task_id is not None:
            started[e.task_id] = e.elapsed
        elif e.type == EventType.TASK_TIMED_OUT and e.task_id in started:
            latencies.append(e.elapsed - (started[e.task_id] + TIMEOUT))
            if e.pid is not None:
                killed_pids.append(e.pid)
        elif e.type == EventType.WORKER_DIED and e.reason == "killed" and e.data is not None:
            deaths += 1
            if spares:
                spares -= 1
                takeovers += 1
                refills.append(0.0)
            else:
                waiting[int(e.data["slot"])] = e.elapsed
        elif e.type == EventType.WORKER_STARTED and e.data is not None:
            startups.append(float(e.data["startup"]))
            slot = int(e.data["slot"])
            if slot < 0:
                spares += 1
            elif slot in waiting:
                refills.append(e.elapsed - waiting.pop(slot))
    return {"latencies": latencies, "killed_pids": killed_pids, "deaths": deaths,
            "refills": refills, "spare_takeovers": takeovers, "startups": startups,
            "unfilled_at_end": len(waiting)}


def _one_run(n: int) -> tuple[dict[str, Any], dict[str, int]]:
    sink = MemorySink()
    policy = OrchestrationPolicy(max_concurrency=WORKERS, task_timeout=30)
    result = execute_parallel(_tasks(n), policy, on_event=sink)
    found = analyse(sink.events)
    collateral = sum(1 for r in result.tasks.values() if r.id.startswith("work-")
                     and (r.status is not TaskStatus.SUCCEEDED or r.attempts != 1))
    not_timed_out = sum(1 for r in result.tasks.values() if r.id.startswith("hang-")
                        and r.status is not TaskStatus.TIMED_OUT)
    alive = sum(1 for pid in found["killed_pids"] if _alive(pid))
    return found, {"collateral": collateral, "hang_not_timed_out": not_timed_out,
                   "killed_pids_alive": alive}


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def run(quick: bool = False) -> dict[str, Any]:
    size = QUICK if quick else FULL
    warm_pool(WORKERS)
    pooled: dict[str, list[float]] = {"latencies": [], "refills": [], "startups": []}
    per_rep_median: list[float] = []
    counts = {"collateral": 0, "hang_not_timed_out": 0, "killed_pids_alive": 0}
    deaths = takeovers = unfilled = 0
    for _ in range(size.repetitions):
        found, bad = _one_run(size.hanging)
        for key in pooled:
            pooled[key].extend(found[key])
        if found["latencies"]:
            per_rep_median.append(summarize(found["latencies"])["median"])
        deaths += found["deaths"]
        takeovers += found["spare_takeovers"]
        unfilled += found["unfilled_at_end"]
        for key in counts:
            counts[key] += bad[key]
    figures: dict[str, Any] = {"sizing": size.__dict__, "timeout_s": TIMEOUT,
                               "workers": WORKERS, "worker_deaths": deaths,
                               "spare_takeovers": takeovers, "unfilled_at_end": unfilled,
                               **counts}
    rows = []
    for key, label in (("latencies", "deadline -> task.timed_out"),
                       ("refills", "worker.died -> its slot has a ready worker"),
                       ("startups", "fresh worker start-up (spawn -> ready)")):
        values = pooled[key]
        if not values:
            rows.append([label, 0, "-", "-", "-"])
            continue
        s = summarize(values)
        p95 = percentile(values, 95)
        figures[key] = {**s, "p95": p95}
        rows.append([label, s["n"], f"{s['median'] * 1e3:.1f}", f"{p95 * 1e3:.1f}",
                     f"{s['min'] * 1e3:.1f}-{s['max'] * 1e3:.1f}"])
    if per_rep_median:
        figures["latency_median_per_repetition"] = summarize(per_rep_median)
    total = size.hanging * size.repetitions
    tab = table(
        f"{size.hanging} tasks hanging past a {TIMEOUT} s timeout among {size.hanging} ordinary "
        f"tasks, concurrency {WORKERS} ({size.repetitions} repetitions, samples pooled)",
        ["measure", "samples", "median ms", "p95 ms", "min-max ms"], rows,
        notes=[f"Killed workers: {deaths}, of which {takeovers} were replaced at once by a "
               f"warm spare (refill 0) and {deaths - takeovers} by a fresh worker ({unfilled} "
               f"of those not ready yet when the run ended, so without a refill time); hanging "
               f"tasks not ended timed_out: "
               f"{counts['hang_not_timed_out']} of {total}; killed pids still alive after the "
               f"run: {counts['killed_pids_alive']}; collateral failures among ordinary tasks: "
               f"{counts['collateral']}."])
    checks = [check("collateral failures", "0", str(counts["collateral"]),
                    counts["collateral"] == 0),
              check("every hanging task ends timed_out, its worker gone", f"{total} of {total}",
                    f"{total - counts['hang_not_timed_out']} of {total}, "
                    f"{counts['killed_pids_alive']} pids alive",
                    counts["hang_not_timed_out"] == 0 and counts["killed_pids_alive"] == 0)]
    if "latencies" in figures:
        med = figures["latencies"]["median"]
        checks.append(check("deadline -> timed_out median", "< 54 ms (pebble's median, issue 2)",
                            f"{med * 1e3:.1f} ms", med < 0.054))
    if "refills" in figures:
        med = figures["refills"]["median"]
        checks.append(check("worker.died -> ready replacement, median",
                            "< 70 ms (a fresh loky worker, issue 2)", f"{med * 1e3:.1f} ms",
                            med < 0.070))
    return {"title": "timeouts that kill", "tables": [tab], "checks": checks,
            "figures": figures}
