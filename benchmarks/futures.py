"""The ``concurrent.futures`` pool (``ProcessPool``) against the pools code uses today.

Three measurements, all pools with as many workers as usable cores, warmed before timing:

- ``submit`` throughput with a per-task timeout on: N no-op ``submit``s and their results,
  ours (``task_timeout``) vs pebble's ``schedule(timeout=)`` and loky's
  ``get_reusable_executor`` (which has no per-task timeout: timed without one). Timed in rounds,
  the order rotated each round, so each ratio pairs runs made seconds apart.
- ``map`` over M no-op items: ours with ``chunksize="auto"`` vs joblib
  ``Parallel(batch_size="auto")`` and the stdlib ``ProcessPoolExecutor.map`` at its best
  chunksize (several tried, the fastest kept).
- ``as_completed`` over 10,000 futures: how much the parent's RSS grows.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import time
from dataclasses import dataclass
from typing import Any, Callable

import psutil

from workers.agents import echo, noop

from .machine import usable_cores
from .report import check, table
from .stats import fmt, ratios, summarize

__all__ = ["run"]


@dataclass(frozen=True)
class Sizing:
    submits: int
    rounds: int
    items: int
    map_rounds: int
    chunksizes: tuple[int, ...]
    completed: int


FULL = Sizing(submits=5000, rounds=5, items=1_000_000, map_rounds=2,
              chunksizes=(1000, 10_000, 50_000), completed=10_000)
QUICK = Sizing(submits=300, rounds=2, items=20_000, map_rounds=1, chunksizes=(1000,),
               completed=1000)

OURS = "ProcessPool (timeouts on)"
PEBBLE = "pebble ProcessPool.schedule(timeout=)"
LOKY = "loky get_reusable_executor (no timeouts)"


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- submit ---------------------------------------------------------------------------------------

def _submit_peers(workers: int) -> tuple[dict[str, Callable[[int], Any]], list[Callable[[], Any]],
                                         dict[str, str]]:
    from orchestrator import ProcessPool

    runs: dict[str, Callable[[int], Any]] = {}
    stops: list[Callable[[], Any]] = []
    status: dict[str, str] = {}
    ours = ProcessPool(workers, task_timeout=60)
    stops.append(ours.shutdown)
    runs[OURS] = lambda n: [f.result() for f in [ours.submit(noop) for _ in range(n)]]
    if _have("pebble"):
        import pebble

        peb: Any = pebble.ProcessPool(max_workers=workers)
        stops.append(lambda: (peb.close(), peb.join()))
        runs[PEBBLE] = lambda n: [f.result() for f in
                                  [peb.schedule(noop, timeout=60) for _ in range(n)]]
    else:
        status[PEBBLE] = "skipped: pebble not installed (pip install -e '.[bench]')"
    from loky import get_reusable_executor

    lok = get_reusable_executor(max_workers=workers)
    stops.append(lambda: lok.shutdown(wait=True))
    runs[LOKY] = lambda n: [f.result() for f in [lok.submit(noop) for _ in range(n)]]
    return runs, stops, status


def _submit_throughput(size: Sizing, workers: int) -> dict[str, Any]:
    runs, stops, status = _submit_peers(workers)
    tps: dict[str, list[float]] = {name: [] for name in runs}
    try:
        for fn in runs.values():
            fn(50)  # warm: workers started, functions imported
        names = list(runs)
        for r in range(size.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn = runs[name]
                tps[name].append(size.submits / _timed(lambda: fn(size.submits)))  # noqa: B023
    finally:
        for stop in stops:
            stop()
    rows: list[list[str]] = []
    checks: list[dict[str, Any]] = []
    figures: dict[str, Any] = {"tasks": size.submits, "tasks_per_s": {}}
    for name, values in tps.items():
        rel = fmt(summarize(ratios(tps[OURS], values))) if name != OURS else "-"
        rows.append([name, fmt(summarize(values), 0), rel, "ran"])
        figures["tasks_per_s"][name] = summarize(values)
    for name, why in status.items():
        rows.append([name, "-", "-", why])
    for name, want in ((LOKY, 1.5), (PEBBLE, 1.0)):
        if name in tps:
            paired = summarize(ratios(tps[OURS], tps[name]))
            figures[f"ours_vs_{name.split()[0]}"] = paired
            checks.append(check(f"submit throughput, ours / {name.split()[0]}",
                                f">= {want}x (issue 16)", fmt(paired) + "x",
                                paired["median"] >= want))
    tab = table(f"submit + result of {size.submits:,} no-op tasks, {workers} workers "
                f"({size.rounds} rounds)", ["pool", "tasks/s", "ours / this", "status"], rows,
                notes=["median (min-max); the ratio is paired round by round"])
    return {"table": tab, "checks": checks, "figures": figures}


# -- map ------------------------------------------------------------------------------------------

def _map_ours(n: int, workers: int) -> float:
    from orchestrator import ProcessPool

    with ProcessPool(workers) as pool:
        pool.submit(noop).result()
        return _timed(lambda: sum(1 for _ in pool.map(echo, range(n), chunksize="auto")))


def _map_joblib(n: int, workers: int) -> float:
    joblib: Any = importlib.import_module("joblib")
    Parallel, delayed = joblib.Parallel, joblib.delayed

    with Parallel(n_jobs=workers, batch_size="auto") as parallel:
        parallel(delayed(noop)() for _ in range(workers))
        return _timed(lambda: parallel(delayed(echo)(i) for i in range(n)))


def _map_stdlib(n: int, workers: int, chunksize: int) -> float:
    with cf.ProcessPoolExecutor(workers) as pool:
        pool.submit(noop).result()
        return _timed(lambda: sum(1 for _ in pool.map(echo, range(n), chunksize=chunksize)))


def _map_wall(size: Sizing, workers: int) -> dict[str, Any]:
    n = size.items
    walls: dict[str, list[float]] = {"ProcessPool.map(chunksize='auto')": []}
    best: dict[int, list[float]] = {c: [] for c in size.chunksizes}
    have_joblib = _have("joblib")
    if have_joblib:
        walls["joblib Parallel(batch_size='auto')"] = []
    for _ in range(size.map_rounds):
        walls["ProcessPool.map(chunksize='auto')"].append(_map_ours(n, workers))
        if have_joblib:
            walls["joblib Parallel(batch_size='auto')"].append(_map_joblib(n, workers))
        for c in size.chunksizes:
            best[c].append(_map_stdlib(n, workers, c))
    chunk = min(best, key=lambda c: summarize(best[c])["median"])
    stdlib = f"ProcessPoolExecutor.map(chunksize={chunk}) (best of {list(size.chunksizes)})"
    walls[stdlib] = best[chunk]
    ours = walls["ProcessPool.map(chunksize='auto')"]
    rows = [[name, fmt(summarize(v), 2), f"{n / summarize(v)['median']:,.0f}",
             fmt(summarize(ratios(ours, v))) if v is not ours else "-"]
            for name, v in walls.items()]
    if not have_joblib:
        rows.append(["joblib Parallel(batch_size='auto')", "-", "-", "skipped: not installed"])
    checks = []
    if have_joblib:
        r = summarize(ratios(ours, walls["joblib Parallel(batch_size='auto')"]))
        checks.append(check("map wall time, ours / joblib auto", "<= 1.5 (issue 16)",
                            fmt(r), r["median"] <= 1.5))
    r = summarize(ratios(ours, walls[stdlib]))
    checks.append(check("map wall time, ours / ProcessPoolExecutor best chunksize",
                        "< 1 (issue 16)", fmt(r), r["median"] < 1))
    tab = table(f"map over {n:,} no-op items, {workers} workers ({size.map_rounds} rounds)",
                ["pool", "wall s", "items/s", "ours / this (wall)"], rows,
                notes=["wall s: median (min-max), from the call to the last result; "
                       "below 1 in the last column means ours is faster"])
    return {"table": tab, "checks": checks,
            "figures": {"items": n, "wall_s": {k: summarize(v) for k, v in walls.items()}}}


# -- as_completed ---------------------------------------------------------------------------------

def _as_completed_rss(size: Sizing, workers: int) -> dict[str, Any]:
    from orchestrator import ProcessPool

    me = psutil.Process()
    with ProcessPool(workers, task_timeout=60) as pool:
        pool.submit(noop).result()
        before = me.memory_info().rss
        peak = before
        fs = [pool.submit(noop) for _ in range(size.completed)]
        for i, f in enumerate(cf.as_completed(fs)):
            f.result()
            if i % 500 == 0:
                peak = max(peak, me.memory_info().rss)
        peak = max(peak, me.memory_info().rss)
    growth = (peak - before) / 2**20
    tab = table(f"as_completed over {size.completed:,} futures (no-op tasks, timeouts on)",
                ["parent RSS before MB", "peak MB", "growth MB"],
                [[f"{before / 2**20:.1f}", f"{peak / 2**20:.1f}", f"{growth:.1f}"]])
    return {"table": tab,
            "checks": [check(f"parent RSS growth over {size.completed:,} futures",
                             "< 30 MB (issue 16)", f"{growth:.1f} MB", growth < 30)],
            "figures": {"futures": size.completed, "rss_growth_mb": growth}}


def run(quick: bool = False) -> dict[str, Any]:
    size = QUICK if quick else FULL
    workers = usable_cores()
    parts = [_submit_throughput(size, workers), _map_wall(size, workers),
             _as_completed_rss(size, workers)]
    return {"title": "concurrent.futures pool vs loky, pebble, joblib, ProcessPoolExecutor",
            "tables": [p["table"] for p in parts],
            "checks": [c for p in parts for c in p["checks"]],
            "figures": {"submit": parts[0]["figures"], "map": parts[1]["figures"],
                        "as_completed": parts[2]["figures"]}}
