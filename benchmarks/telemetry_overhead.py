"""What the JSON Lines event sink costs a run: 5,000 tiny tasks with the sink on vs off.

    python -m benchmarks.telemetry_overhead            # full: 5,000 tasks, 7 rounds
    python benchmarks/telemetry_overhead.py --quick    # a smoke run

Every variant runs in the same process on the same warm pool, interleaved round by round (the
order rotates each round), so drift and the neighbours' load spread over all of them; the table
gives the median and the best wall time of the rounds, the overhead of the median against
"off", and the median CPU time of this process (the scheduler's loop and the sink's timer
thread) and of the writer process: on a shared machine CPU time is steadier than wall time,
and it shows where the work went.
Two workloads: no-op tasks (pure dispatch, the worst case: the parent's loop is the bottleneck,
so everything the loop does per event shows) and ~1 ms CPU tasks.

Variants (every JSON Lines variant writes the same file, and is flushed inside the timing):
    off                  no event handler (events are not even built)
    list.append          events built and kept in a list: the floor for any sink
    jsonl                ``JsonLinesSink(path)`` (default ``writer="inline"``: batches formatted
                         in this process), created for the run and closed after it
    jsonl-process        ``JsonLinesSink(path, writer="process")``, created for the run (the
                         writer process's start is inside the timing) and closed after it
    jsonl-process-open   one ``writer="process"`` sink kept open across runs
    thread               the design JsonLinesSink replaced: a deque drained by a writer
                         *thread* in this process that formats every 0.25 s or 2,048 events
"""

from __future__ import annotations

import collections
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil  # noqa: E402

from benchmarks.report import check, render, table  # noqa: E402
from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel  # noqa: E402
from orchestrator.telemetry.sinks import JsonLinesSink, format_event  # noqa: E402

VARIANTS = ("off", "list.append", "jsonl", "jsonl-process", "jsonl-process-open", "thread")


class _ThreadSink:
    """The design JsonLinesSink replaced, kept here to be measured side by side."""

    nonblocking = True  # its call only appends: called on the loop, as it was

    def __init__(self, path: str, batch_size: int = 2048, interval: float = 0.25) -> None:
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._pending: collections.deque[Any] = collections.deque()
        self._batch = batch_size
        self._interval = interval
        self._wake = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, e: Any) -> None:
        self._pending.append(e)
        if len(self._pending) == self._batch:
            self._wake.set()

    def _drain(self) -> None:
        with self._lock:
            lines = []
            while self._pending:
                lines.append(format_event(self._pending.popleft()))
            if lines:
                self._f.write("\n".join(lines) + "\n")
            self._f.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def flush(self) -> None:
        self._drain()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._drain()
        self._f.close()


def _tasks(n: int, fn: str, args: tuple[Any, ...]) -> list[TaskSpec]:
    return [TaskSpec(f"t{i}", fn, args=args) for i in range(n)]


def _writer_cpu(sink: JsonLinesSink) -> float:
    proc = sink._proc
    if proc is None:
        return 0.0
    t = psutil.Process(proc.pid).cpu_times()
    return float(t.user + t.system)


def _time_run(tasks: list[TaskSpec], policy: OrchestrationPolicy, variant: str,
              path: str, open_sink: JsonLinesSink) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, CPU seconds of the writer process)."""
    cpu0 = time.process_time()
    writer = 0.0
    if variant == "off":
        t0 = time.perf_counter()
        result = execute_parallel(tasks, policy)
        elapsed = time.perf_counter() - t0
    elif variant == "list.append":
        kept: list[Any] = []
        t0 = time.perf_counter()
        result = execute_parallel(tasks, policy, on_event=kept.append)
        elapsed = time.perf_counter() - t0
    elif variant in ("jsonl", "jsonl-process"):
        t0 = time.perf_counter()
        sink = JsonLinesSink(path, writer="inline" if variant == "jsonl" else "process")
        try:
            result = execute_parallel(tasks, policy, on_event=sink)
            writer = _writer_cpu(sink)
        finally:
            sink.close()
        elapsed = time.perf_counter() - t0
    elif variant == "jsonl-process-open":
        before = _writer_cpu(open_sink)
        t0 = time.perf_counter()
        result = execute_parallel(tasks, policy, on_event=open_sink)
        elapsed = time.perf_counter() - t0
        writer = _writer_cpu(open_sink) - before
    elif variant == "thread":
        t0 = time.perf_counter()
        tsink = _ThreadSink(path)
        try:
            result = execute_parallel(tasks, policy, on_event=tsink)
        finally:
            tsink.close()
        elapsed = time.perf_counter() - t0
    else:
        raise ValueError(f"unknown variant {variant!r}")
    cpu = time.process_time() - cpu0
    if not result.ok:
        raise RuntimeError(f"benchmark run failed: {result.failed[:3]}")
    return elapsed, cpu, writer


def _workload(name: str, tasks: list[TaskSpec], rounds: int, tmp: str) -> dict[str, Any]:
    policy = OrchestrationPolicy(max_concurrency=2, task_timeout=60)
    path = os.path.join(tmp, f"{name}.jsonl")
    times: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    with JsonLinesSink(os.path.join(tmp, f"{name}-open.jsonl"), writer="process") as open_sink:
        execute_parallel(tasks[:200], policy)  # warm the pool
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
            for variant in order:
                times[variant].append(_time_run(tasks, policy, variant, path, open_sink))
                if os.path.exists(path):
                    os.unlink(path)
    base = statistics.median(t[0] for t in times["off"])
    base_cpu = statistics.median(t[1] for t in times["off"])
    rows = {}
    for variant, runs in times.items():
        walls = [t[0] for t in runs]
        med = statistics.median(walls)
        cpu = statistics.median(t[1] for t in runs)
        rows[variant] = {"median_s": med, "best_s": min(walls), "runs_s": walls,
                         "overhead_vs_off": med / base - 1.0,
                         "parent_cpu_s": cpu, "parent_cpu_vs_off": cpu / base_cpu - 1.0,
                         "writer_cpu_s": statistics.median(t[2] for t in runs)}
    return {"tasks": len(tasks), "rounds": rounds, "variants": rows}


def run(quick: bool = False) -> dict[str, Any]:
    """The suite's result shape (``benchmarks/report.py``): title, tables, checks, notes, and
    ``figures`` with every run's seconds per workload and variant."""
    n = 500 if quick else 5000
    rounds = 2 if quick else 15
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        noop = _workload("noop", _tasks(n, "workers.agents:noop", ()), rounds, tmp)
        cpu = _workload("cpu_1ms", _tasks(n, "workers.agents:burn_cpu", (0.001,)),
                        max(1, rounds // 2), tmp)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        "workers": 2, "noop": noop, "cpu_1ms": cpu,
    }
    rows = []
    for workload in ("noop", "cpu_1ms"):
        w = figures[workload]
        for variant, row in w["variants"].items():
            rows.append([f"{workload} ({w['rounds']} rounds)", variant,
                         f"{row['median_s'] * 1000:.0f}", f"{row['best_s'] * 1000:.0f}",
                         f"{row['overhead_vs_off'] * 100:+.1f}%",
                         f"{row['parent_cpu_s'] * 1000:.0f}",
                         f"{row['parent_cpu_vs_off'] * 100:+.1f}%",
                         f"{row['writer_cpu_s'] * 1000:.0f}"])
    checks = []
    for workload, label in (("noop", "no-op"), ("cpu_1ms", "~1 ms")):
        over = figures[workload]["variants"]["jsonl"]["overhead_vs_off"]
        measured = f"{over * 100:+.1f}% (median)" + (", quick run: not judged" if quick else "")
        checks.append(check(f"JSON Lines sink on vs off, {n:,} {label} tasks", "< 5% wall",
                            measured, None if quick else over < 0.05))
    return {
        "title": "cost of the event stream and its sinks",
        "tables": [table(
            f"{n:,} tasks on 2 workers; medians of the rounds (variants interleaved)",
            ["workload", "variant", "wall median ms", "wall best ms", "wall vs off",
             "parent CPU ms", "parent CPU vs off", "writer CPU ms"], rows)],
        "checks": checks,
        "notes": [f"1-min load average {load_before[0]:.1f} before, "
                  f"{figures['machine']['load_avg_after'][0]:.1f} after: other work on the "
                  f"machine moves these figures",
                  "parent CPU: this process (the scheduler's loop and the sink's thread); "
                  "writer CPU: the writer process of writer='process'"],
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the markdown table (``--quick`` for a smoke run)."""
    args = sys.argv[1:] if argv is None else argv
    print(render("telemetry", run(quick="--quick" in args)))


if __name__ == "__main__":
    main()
