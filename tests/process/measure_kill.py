"""Measure kill latency and replacement time on the real pool (not a test: prints figures).

    python -m tests.process.measure_kill [--kills 40] [--timeout 0.25] [--workers 4]

Runs ``--kills`` tasks that hang past their ``--timeout`` on ``--workers`` workers, interleaved
with sleeping bystander tasks (so other tasks are always running), and derives from the event
stream, per kill:

* deadline -> SIGTERM sent     (``task.started`` + timeout -> ``task.kill``)
* deadline -> worker gone      (-> ``worker.died``: the parent saw the process end)
* deadline -> timed_out result (-> ``task.timed_out``)
* worker gone -> next task started on a replacement (with work waiting, the slot is busy again)
* worker start-up (spawn -> ready) for every worker started during the run

The machine this runs on may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics

from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel
from orchestrator.telemetry.sinks import MemorySink


def _summary(name: str, values: list[float]) -> str:
    v = sorted(values)
    p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
    return (f"{name:40} n={len(v):3}  median {statistics.median(v) * 1e3:7.1f} ms  "
            f"p95 {p95 * 1e3:7.1f} ms  max {v[-1] * 1e3:7.1f} ms")


def measure(kills: int, timeout: float, workers: int) -> dict[str, list[float]]:
    tasks = []
    for i in range(kills):
        tasks.append(TaskSpec(f"hang-{i}", "workers.agents:hang", timeout=timeout))
        tasks.append(TaskSpec(f"busy-{i}", "workers.agents:sleep", args=(timeout * 2,)))
    sink = MemorySink()
    policy = OrchestrationPolicy(max_concurrency=workers)
    execute_parallel([TaskSpec(f"warm-{i}", "workers.agents:noop") for i in range(workers)],
                     policy)
    execute_parallel(tasks, policy, on_event=sink)
    events = sink.events
    started = {e.task_id: e for e in events if e.type == "task.started"}
    figures: dict[str, list[float]] = {
        "deadline -> SIGTERM sent": [], "deadline -> worker gone (parent saw it)": [],
        "deadline -> timed_out result": [], "worker gone -> next task started": [],
        "worker start-up (spawn -> ready)": []}
    for e in events:
        if e.type == "worker.started":
            figures["worker start-up (spawn -> ready)"].append(e.data["startup"])
        if not (e.task_id or "").startswith("hang-"):
            continue
        deadline = started[e.task_id].elapsed + timeout
        if e.type == "task.kill" and e.data["signal"] == "SIGTERM":
            figures["deadline -> SIGTERM sent"].append(e.elapsed - deadline)
        elif e.type == "task.timed_out":
            figures["deadline -> timed_out result"].append(e.elapsed - deadline)
            died = next(d for d in events if d.type == "worker.died" and d.pid == e.pid)
            figures["deadline -> worker gone (parent saw it)"].append(died.elapsed - deadline)
            after = next((s for s in events if s.type == "task.started" and s.seq > died.seq),
                         None)
            if after is not None:
                figures["worker gone -> next task started"].append(after.elapsed - died.elapsed)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    load = os.getloadavg()
    figures = measure(args.kills, args.timeout, args.workers)
    print(f"{args.kills} timeouts of {args.timeout}s on {args.workers} workers, "
          f"{os.cpu_count()} CPUs, load average before {load[0]:.1f} / after "
          f"{os.getloadavg()[0]:.1f}")
    for name, values in figures.items():
        if values:
            print(_summary(name, values))


if __name__ == "__main__":
    main()
