"""What a run's records add up to: its results in order, its metrics and its cost."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Mapping

from ..model.graph import TaskGraph
from ..model.results import RunMetrics, TaskResult
from ..telemetry.metrics import compute_metrics
from .facts import deps_of, results_in_order
from .records import TaskRecord

if TYPE_CHECKING:
    from ..telemetry.costs import CostModel
    from .admission import Admission

__all__ = ["ordered_results", "run_metrics", "run_cost"]


def ordered_results(records: Mapping[str, TaskRecord], graph: TaskGraph | None,
                    retain: bool) -> dict[str, TaskResult]:
    """id -> TaskResult in graph order (a retained flat batch: pulled order; a streaming one
    keeps none)."""
    if graph is not None:
        order = graph.topological_order()
    else:
        order = list(records) if retain else []
    return results_in_order(order, records)


def run_metrics(records: Mapping[str, TaskRecord], graph: TaskGraph | None,
                results: list[TaskResult], admission: Admission, *, started: float, now: float,
                workers: int, cost_estimate: float | None) -> RunMetrics:
    deps = None
    if graph is not None:
        deps = {tid: deps_of(rec) for tid, rec in records.items()}
    metrics = compute_metrics(results, wall_time=now - started, workers=workers, deps=deps,
                              cost_estimate=cost_estimate)
    if admission.used:
        metrics = replace(metrics, resources=admission.figures(started, now))
    return metrics


def run_cost(cost: CostModel | None, results: list[TaskResult]) -> float | None:
    """The run's estimated cost; None when there is no cost model or nobody priced the run. A
    reused task cost nothing in this run: what it reported was spent in another."""
    if cost is None:
        return None
    value = cost.estimate([r for r in results if r.reused_from is None])
    return None if value is None else float(value)
