"""Scale: build and validate a 100,000-task graph; stream 200,000 tasks in flat memory.

Each measurement runs in a fresh interpreter (``python -m benchmarks.scale graph|stream ...``),
so its peak RSS belongs to it alone: ``VmHWM`` of that process, the parent only, never its
workers.

- graph: seeded layered DAG (1,000 tasks per layer, each depending on 2 tasks of the layer
  above): time to create the specs, to build and validate ``TaskGraph`` (duplicates, missing
  dependencies, cycles, topological order), to compute critical-path ranks; RSS growth.
- stream: a generator of no-op tasks through ``iter_parallel``; the parent's peak RSS after the
  first 10% of results and after all of them (flat means the same).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import psutil

from .report import check, table
from .stats import fmt, summarize

__all__ = ["run"]

MIB = 2**20


@dataclass(frozen=True)
class Sizing:
    graph_tasks: int
    stream_tasks: int
    repetitions: int


FULL = Sizing(graph_tasks=100_000, stream_tasks=200_000, repetitions=3)
QUICK = Sizing(graph_tasks=5_000, stream_tasks=5_000, repetitions=1)
FLAT_TOLERANCE = 0.05  # peak RSS may grow at most 5% between 10% and 100% of the stream


def _peak_rss() -> int:
    """This process's peak RSS since it started (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries the forking parent's peak across ``exec``
    into the child's ``ru_maxrss``, so a fresh interpreter would report its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


# -- probes, run in a fresh interpreter -------------------------------------------------------


def probe_graph(n: int, width: int = 1000) -> dict[str, Any]:
    from orchestrator import TaskGraph, TaskSpec

    rng = random.Random(f"scale:{n}")
    rss0 = _rss()
    start = time.perf_counter()
    specs = []
    for i in range(n):
        layer = i // width
        deps: tuple[str, ...] = ()
        if layer:
            lo = (layer - 1) * width
            deps = (f"t{rng.randrange(lo, lo + width)}", f"t{rng.randrange(lo, lo + width)}")
            deps = tuple(sorted(set(deps)))
        specs.append(TaskSpec(f"t{i}", "workers.agents:noop", deps=deps))
    t_specs = time.perf_counter() - start
    rss1 = _rss()
    start = time.perf_counter()
    graph = TaskGraph(specs)
    t_graph = time.perf_counter() - start
    rss2 = _rss()
    start = time.perf_counter()
    graph.ranks()
    path = graph.critical_path()
    t_ranks = time.perf_counter() - start
    return {"tasks": len(graph), "specs_s": t_specs, "graph_s": t_graph, "ranks_s": t_ranks,
            "critical_path_len": len(path), "specs_mib": (rss1 - rss0) / MIB,
            "graph_mib": (rss2 - rss1) / MIB, "peak_rss_mib": _peak_rss() / MIB}


def _noops(n: int) -> Iterator[Any]:
    from orchestrator import TaskSpec
    from workers.agents import noop

    for i in range(n):
        yield TaskSpec(f"t{i}", noop)


def probe_stream(n: int, checkpoints: list[int], workers: int) -> dict[str, Any]:
    from orchestrator import OrchestrationPolicy, TaskStatus, iter_parallel, shutdown_shared_pool

    marks: dict[str, Any] = {}
    done = failed = 0
    start = time.perf_counter()
    try:
        for res in iter_parallel(_noops(n), OrchestrationPolicy(max_concurrency=workers)):
            done += 1
            failed += res.status is not TaskStatus.SUCCEEDED
            if done in checkpoints:
                marks[str(done)] = {"peak_rss_mib": _peak_rss() / MIB, "rss_mib": _rss() / MIB,
                                    "elapsed_s": time.perf_counter() - start}
    finally:
        shutdown_shared_pool()
    return {"tasks": done, "failed": failed, "seconds": time.perf_counter() - start,
            "checkpoints": marks}


def _probe(*args: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scale probe {args} failed ({proc.returncode}):\n{proc.stderr}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


# -- the benchmark ---------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    from .machine import usable_cores

    size = QUICK if quick else FULL
    workers = usable_cores()
    early = size.stream_tasks // 10
    graphs = [_probe("graph", str(size.graph_tasks)) for _ in range(size.repetitions)]
    streams = [_probe("stream", str(size.stream_tasks), f"{early},{size.stream_tasks}",
                      str(workers)) for _ in range(size.repetitions)]
    figures: dict[str, Any] = {"sizing": size.__dict__, "workers": workers,
                               "graph_runs": graphs, "stream_runs": streams}
    g = {k: summarize([r[k] for r in graphs]) for k in
         ("specs_s", "graph_s", "ranks_s", "specs_mib", "graph_mib", "peak_rss_mib")}
    figures["graph"] = g
    graph_tab = table(
        f"Build and validate a {size.graph_tasks:,}-task layered graph (2 deps per task; "
        f"{size.repetitions} fresh interpreters)",
        ["step", "seconds", "RSS growth MiB"],
        [["create TaskSpecs", fmt(g["specs_s"]), fmt(g["specs_mib"], 1)],
         ["TaskGraph(): build + validate + topological order", fmt(g["graph_s"]),
          fmt(g["graph_mib"], 1)],
         ["ranks() + critical_path()", fmt(g["ranks_s"]), "-"],
         ["process peak RSS (MiB)", "-", fmt(g["peak_rss_mib"], 1)]])
    keys = [str(early), str(size.stream_tasks)]
    peak = {k: summarize([r["checkpoints"][k]["peak_rss_mib"] for r in streams]) for k in keys}
    rss = {k: summarize([r["checkpoints"][k]["rss_mib"] for r in streams]) for k in keys}
    growth = summarize([r["checkpoints"][keys[1]]["peak_rss_mib"]
                        / r["checkpoints"][keys[0]]["peak_rss_mib"] for r in streams])
    tps = summarize([r["tasks"] / r["seconds"] for r in streams])
    failed = sum(r["failed"] for r in streams)
    figures["stream"] = {"peak_rss_mib": peak, "rss_mib": rss, "growth": growth,
                         "tasks_per_s": tps, "failed": failed}
    stream_tab = table(
        f"Stream {size.stream_tasks:,} no-op tasks through iter_parallel on {workers} workers "
        f"(parent process only; {size.repetitions} fresh interpreters)",
        ["after results", "peak RSS MiB", "current RSS MiB"],
        [[f"{int(k):,}", fmt(peak[k], 1), fmt(rss[k], 1)] for k in keys],
        notes=[f"Peak RSS at {size.stream_tasks:,} / at {early:,}: {fmt(growth, 3)}; "
               f"throughput {fmt(tps, 0)} tasks/s; tasks not succeeded: {failed}."])
    checks = [check(f"parent peak RSS flat from {early:,} to {size.stream_tasks:,} results",
                    f"grows < {FLAT_TOLERANCE:.0%}", f"x{fmt(growth, 3)}",
                    growth["median"] < 1 + FLAT_TOLERANCE)]
    return {"title": "scale and memory", "tables": [graph_tab, stream_tab], "checks": checks,
            "figures": figures}


def _main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "graph":
        out = probe_graph(int(argv[1]))
    elif kind == "stream":
        out = probe_stream(int(argv[1]), [int(x) for x in argv[2].split(",")], int(argv[3]))
    else:
        raise SystemExit(f"usage: python -m benchmarks.scale graph N | stream N C1,C2 WORKERS; "
                         f"got {argv!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    _main(sys.argv[1:])
