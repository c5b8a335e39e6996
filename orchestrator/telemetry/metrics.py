"""Run metrics, derived from task results (or from an event log): never measured twice.

``compute_metrics`` is the one formula; the scheduler feeds it ``TaskResult``s and the telemetry
reader feeds it what it rebuilt from events, so both give the same figures. Sums use
``math.fsum`` (exactly rounded), so they do not depend on the order of the results: a log lists
tasks in completion order, a result in graph order, and the figures must still be equal.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, NamedTuple, Sequence

from ..model.errors import CycleError
from ..model.results import RunMetrics, TaskResult

__all__ = ["compute_metrics", "critical_path", "CriticalPath"]


class CriticalPath(NamedTuple):
    """The chain of dependencies with the largest summed duration, first task first, and that
    sum (what ``RunMetrics.critical_path`` reports)."""

    chain: tuple[str, ...]
    length: float


def critical_path(durations: Mapping[str, float],
                  deps: Mapping[str, Sequence[str]] | None = None) -> CriticalPath:
    """The longest chain of dependencies among the tasks of ``durations`` (id -> seconds).

    ``deps``: each task's dependencies; ids that are not in ``durations`` are ignored. Without
    deps (a flat batch) the chain is the longest task. Ties go to the task named first (in
    ``durations``, then in a task's deps). Linear in tasks and edges, and iterative: a
    100,000-task chain does not reach the recursion limit. Raises ``CycleError`` (each task of
    its path depends on the next) when the deps form a cycle: no run has one, a damaged log can.
    """
    if not durations:
        return CriticalPath((), 0.0)
    if not deps:
        longest = max(durations, key=durations.__getitem__)
        return CriticalPath((longest,), durations[longest])
    own = {t: [d for d in dict.fromkeys(deps.get(t, ())) if d in durations] for t in durations}
    waiting = {t: len(ds) for t, ds in own.items()}
    dependents: dict[str, list[str]] = {t: [] for t in durations}
    for t, ds in own.items():
        for d in ds:
            dependents[d].append(t)
    order = [t for t in durations if not waiting[t]]  # Kahn's algorithm, ties in given order
    total: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for t in order:  # grows as it goes
        best = max(own[t], key=total.__getitem__, default=None)
        total[t] = durations[t] + (total[best] if best is not None else 0.0)
        via[t] = best
        for child in dependents[t]:
            waiting[child] -= 1
            if not waiting[child]:
                order.append(child)
    if len(total) < len(durations):
        raise CycleError(_cycle(own, total))
    last = max(durations, key=total.__getitem__)
    chain: list[str] = []
    node: str | None = last
    while node is not None:
        chain.append(node)
        node = via[node]
    return CriticalPath(tuple(reversed(chain)), total[last])


def _cycle(deps: Mapping[str, Sequence[str]], ordered: Mapping[str, float]) -> list[str]:
    """A cycle among the tasks Kahn's algorithm left out: each of them has a dependency that
    was left out too, so following one from any of them must come back to a task seen."""
    node = next(t for t in deps if t not in ordered)
    seen: dict[str, int] = {}
    path: list[str] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in deps[node] if d not in ordered)
    return [*path[seen[node]:], node]


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
    parallelism = serial / wall_time if wall_time > 0 else 0.0  # busy/wall
    cpu = math.fsum(r.cpu_time for r in results if r.cpu_time is not None)
    return RunMetrics(
        wall_time=wall_time,
        serial_time=serial,
        parallelism=parallelism,
        efficiency=parallelism / used,
        utilization=serial / (workers * wall_time) if wall_time > 0 and workers else 0.0,
        workers=workers,
        tasks=len(results),
        attempts=attempts,
        retries=retries,
        counts=counts,
        critical_path=critical_path({r.id: r.busy_time for r in results}, deps).length,
        cpu_time=cpu,
        cost_estimate=cost_estimate,
    )
