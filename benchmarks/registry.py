"""The benchmarks, in the order they run; an optional one whose module is absent is skipped.

A benchmark module exposes ``run(quick: bool = False) -> dict``. ``telemetry`` lives in
``benchmarks/telemetry_overhead.py``, written separately: until that file exists the suite
reports it as skipped instead of failing.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Benchmark", "BENCHMARKS", "names", "load"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    summary: str
    optional: bool = False

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def runner(self) -> Callable[..., dict[str, Any]]:
        fn: Callable[..., dict[str, Any]] = importlib.import_module(self.module).run
        return fn


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("speedup", "benchmarks.speedup",
              "AC1: CPU-bound, sleep-bound and mixed-DAG work at concurrency 1-8 vs serial"),
    Benchmark("overhead", "benchmarks.overhead",
              "no-op tasks per second: this engine vs loky, multiprocessing and peers"),
    Benchmark("dag", "benchmarks.dag",
              "DAG makespan vs the lower bound and vs a zero-overhead simulation"),
    Benchmark("timeouts", "benchmarks.timeouts",
              "deadline-to-timed_out latency, worker replacement, collateral failures"),
    Benchmark("scale", "benchmarks.scale",
              "100,000-task graph build; parent RSS while streaming 200,000 tasks"),
    Benchmark("store", "benchmarks.store",
              "run store: overhead on 5,000 tasks, resume of 10,000, commit and key costs"),
    Benchmark("fanout", "benchmarks.fanout",
              "a mapped task expanding into 2,000 and 10,000 no-op children: the expansion's "
              "share of the run"),
    Benchmark("futures", "benchmarks.futures",
              "ProcessPool: submit with timeouts vs loky/pebble, map auto vs joblib, RSS"),
    Benchmark("dask", "benchmarks.dask",
              "Dask executor: runner cost vs raw client.submit, sleep speedup, kill latency",
              optional=True),
    Benchmark("telemetry", "benchmarks.telemetry_overhead",
              "cost of the event stream and its sinks", optional=True),
)


def names() -> list[str]:
    return [b.name for b in BENCHMARKS]


def load(name: str) -> Benchmark:
    for bench in BENCHMARKS:
        if bench.name == name:
            return bench
    raise KeyError(f"unknown benchmark {name!r}; choose from {', '.join(names())}")
