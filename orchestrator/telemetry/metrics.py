"""Run metrics, derived from task results (or from an event log): never measured twice.

``compute_metrics`` is the one formula; the scheduler feeds it ``TaskResult``s and the telemetry
reader feeds it what it rebuilt from events, so both give the same figures. Sums use
``math.fsum`` (exactly rounded), so they do not depend on the order of the results: a log lists
tasks in completion order, a result in graph order, and the figures must still be equal.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from ..model.results import RunMetrics, TaskResult

__all__ = ["compute_metrics", "critical_path_time"]


def critical_path_time(durations: Mapping[str, float],
                       deps: Mapping[str, Sequence[str]] | None) -> float:
    """Length of the longest dependency chain, in the given durations."""
    if not durations:
        return 0.0
    if not deps:
        return max(durations.values())
    memo: dict[str, float] = {}
    for root in durations:
        if root in memo:
            continue
        # Iterative post-order: a 100,000-task chain must not hit the recursion limit.
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in memo:
                continue
            parents = [d for d in deps.get(node, ()) if d in durations]
            if expanded:
                memo[node] = durations[node] + max((memo[d] for d in parents), default=0.0)
            else:
                stack.append((node, True))
                stack.extend((d, False) for d in parents if d not in memo)
    return max(memo.values())


def compute_metrics(results: Iterable[TaskResult], *, wall_time: float, workers: int,
                    deps: Mapping[str, Sequence[str]] | None = None,
                    cost_estimate: float | None = None) -> RunMetrics:
    results = list(results)
    serial = math.fsum(r.busy_time for r in results)
    attempts = sum(r.attempts for r in results)
    retries = sum(len(r.retry_delays) for r in results)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    attempted = sum(1 for r in results if r.attempts)
    used = max(1, min(workers, attempted)) if attempted else max(1, workers)
    speedup = serial / wall_time if wall_time > 0 else 0.0
    cpu = math.fsum(r.cpu_time for r in results if r.cpu_time is not None)
    return RunMetrics(
        wall_time=wall_time,
        serial_time=serial,
        speedup_vs_serial=speedup,
        efficiency=speedup / used,
        utilization=serial / (workers * wall_time) if wall_time > 0 and workers else 0.0,
        workers=workers,
        tasks=len(results),
        attempts=attempts,
        retries=retries,
        counts=counts,
        critical_path=critical_path_time({r.id: r.busy_time for r in results}, deps),
        cpu_time=cpu,
        cost_estimate=cost_estimate,
    )
