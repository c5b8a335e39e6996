"""Dispatch cost: N no-op tasks through this engine and through the pools users pick instead.

All pools use as many worker processes as there are usable cores and are warmed before timing.
The light pools stay up together and are timed in rounds (one run of each per round, the order
rotated each round), so every ratio pairs runs made seconds apart; Dask and Ray start clusters
(seconds) and are timed afterwards, one at a time. A run is timed from building the task list
to having every result back.

Headline: this engine's throughput with timeouts and events on, divided by raw loky's and by
``multiprocessing.Pool``'s in the same round. Per-task overhead = wall time / tasks: for a no-op
that is the whole cost of a task through the pool.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

from .machine import usable_cores
from .peers import PEERS, Peer
from .report import check, table
from .stats import fmt, ratios, summarize

__all__ = ["run"]


@dataclass(frozen=True)
class Sizing:
    tasks: int
    repetitions: int
    heavy_repetitions: int
    heavy: bool


FULL = Sizing(tasks=5000, repetitions=7, heavy_repetitions=3, heavy=True)
QUICK = Sizing(tasks=300, repetitions=2, heavy_repetitions=1, heavy=False)

OURS = "orchestrator (timeouts + events on)"
LOKY = "loky (raw reusable executor)"
MP = "multiprocessing.Pool"


def _time(peer: Peer, n: int) -> float:
    start = time.perf_counter()
    peer.run(n)
    return time.perf_counter() - start


def run(quick: bool = False) -> dict[str, Any]:
    size = QUICK if quick else FULL
    workers = usable_cores()
    peers = [make() for make in PEERS]
    status: dict[str, str] = {}
    seconds: dict[str, list[float]] = {}
    light: list[Peer] = []
    for peer in peers:
        missing = peer.missing()
        if missing:
            status[peer.name] = f"skipped: {', '.join(missing)} not installed " \
                                f"(pip install -e '.[bench]')"
        elif peer.heavy and not size.heavy:
            status[peer.name] = "skipped: --quick (starting its cluster takes seconds)"
        elif not peer.heavy:
            light.append(peer)
    started: list[Peer] = []
    try:
        for peer in light:
            try:
                peer.start(workers)
                started.append(peer)
                seconds[peer.name] = []
            except Exception as exc:
                status[peer.name] = f"failed to start: {type(exc).__name__}: {exc}"
                traceback.print_exc()
        for rep in range(size.repetitions):
            shift = rep % len(started) if started else 0
            for peer in started[shift:] + started[:shift]:
                seconds[peer.name].append(_time(peer, size.tasks))
    finally:
        for peer in started:
            peer.stop()
    for peer in peers:
        if peer.heavy and peer.name not in status:
            _run_heavy(peer, workers, size, seconds, status)
    for name in seconds:
        status.setdefault(name, "ran")
    return _report(size, workers, peers, seconds, status)


def _run_heavy(peer: Peer, workers: int, size: Sizing, seconds: dict[str, list[float]],
               status: dict[str, str]) -> None:
    try:
        peer.start(workers)
    except Exception as exc:
        status[peer.name] = f"failed to start: {type(exc).__name__}: {exc}"
        traceback.print_exc()
        try:
            peer.stop()
        except Exception:
            pass
        return
    try:
        seconds[peer.name] = [_time(peer, size.tasks) for _ in range(size.heavy_repetitions)]
    finally:
        peer.stop()


def _report(size: Sizing, workers: int, peers: list[Peer], seconds: dict[str, list[float]],
            status: dict[str, str]) -> dict[str, Any]:
    n = size.tasks
    tps = {name: [n / s for s in secs] for name, secs in seconds.items()}
    ours = tps.get(OURS)
    rows = []
    figures: dict[str, Any] = {"tasks": n, "workers": workers, "peers": {}}
    for peer in peers:
        name = peer.name
        if name not in tps:
            rows.append([name, peer.how, "-", "-", "-", status[name]])
            figures["peers"][name] = {"status": status[name]}
            continue
        t = summarize(tps[name])
        us = summarize([s / n * 1e6 for s in seconds[name]])
        rel = "-"
        if ours is not None and name != OURS:
            paired = len(tps[name]) == len(ours)
            rel_s = summarize(ratios(ours, tps[name]) if paired else
                              [summarize(ours)["median"] / x for x in tps[name]])
            rel = fmt(rel_s)
        rows.append([name, peer.how, fmt(t, 0), fmt(us, 1), rel, status[name]])
        figures["peers"][name] = {"status": status[name], "tasks_per_s": t, "us_per_task": us,
                                  "how": peer.how}
    checks = []
    if ours is not None:
        o = summarize(ours)
        checks.append(check("throughput with timeouts and events on", ">= 15,000 tasks/s "
                            "(issue 2)", fmt(o, 0) + " tasks/s", o["median"] >= 15000))
        for name, want, label in ((LOKY, 3.0, ">= 3x raw loky"),
                                  (MP, 0.5, "within 2x of multiprocessing.Pool (>= 0.5x)")):
            if name in tps:
                r = summarize(ratios(ours, tps[name]))
                figures[f"ours_vs_{'loky' if name == LOKY else 'mp_pool'}"] = r
                checks.append(check(f"ours / {name} throughput", label, fmt(r) + "x",
                                    r["median"] >= want))
    tab = table(
        f"{n:,} no-op tasks on {workers} worker processes ({size.repetitions} rounds; Dask and "
        f"Ray {size.heavy_repetitions})",
        ["pool", "how", "tasks/s", "us per task", "ours (timeouts+events) / this", "status"],
        rows,
        notes=["tasks/s and us per task: median (min-max). The ratio column is this engine's "
               "throughput (timeouts and events on) over the pool's, paired round by round; "
               "above 1 means we are faster."])
    return {"title": "dispatch overhead vs peers", "tables": [tab], "checks": checks,
            "figures": figures}
