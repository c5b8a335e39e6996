"""Cost adapters: turn a run's task results into one money (or token, or credit) figure.

A cost adapter has ``estimate(results) -> float``. Two come with the engine and they add up::

    cost = CpuTimeCost(per_cpu_hour=0.05) + ReportedCost("cost")
    result = execute_graph(tasks, cost=cost)
    result.metrics.cost_estimate        # CPU seconds priced, plus what the tasks reported

``CpuTimeCost`` prices the CPU time measured in the workers (every attempt that reported it; an
attempt killed for a timeout cannot report, so its CPU is not priced). ``ReportedCost`` sums
what tasks reported from inside the worker with ``workers.current_task().report(cost=...)``
(e.g. the price of the model tokens an agent used); a task's ``reports`` sum the numbers of
every attempt that finished, failed ones included (their tokens were spent too). Any object
with an ``estimate`` method, or a plain function of the results, is an adapter too
(``as_cost_model``).

A figure nobody gave is unknown, not free: ``ReportedCost`` is ``None`` when no task reported
its key, and a ``SumCost`` is ``None`` when every part is (``None`` parts count as nothing
beside a known one). The CLI table, ``--output``, ``run.finished`` and ``events summarize``
then all show it as unknown (``n/a`` or ``null``), never as 0.

Sums use ``math.fsum``: the figure does not depend on the order of the results, so the same run
read back from its event log prices exactly the same.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Protocol, Sequence, Union, runtime_checkable

from ..model.errors import PolicyError
from ..model.results import TaskResult

__all__ = ["CostModel", "CostAdapter", "CpuTimeCost", "ReportedCost", "SumCost", "as_cost_model"]


@runtime_checkable
class CostModel(Protocol):
    """Anything that prices a run from its task results."""

    def estimate(self, results: Sequence[TaskResult]) -> float | None: ...


class CostAdapter:
    """Base class of the built-in adapters: ``a + b`` gives their ``SumCost``."""

    def estimate(self, results: Sequence[TaskResult]) -> float | None:
        raise NotImplementedError

    def __add__(self, other: CostModel) -> SumCost:
        return SumCost(self, other)


class CpuTimeCost(CostAdapter):
    """``per_cpu_hour`` times the CPU hours the tasks used (measured in the workers)."""

    def __init__(self, per_cpu_hour: float) -> None:
        if (not isinstance(per_cpu_hour, (int, float)) or isinstance(per_cpu_hour, bool)
                or not math.isfinite(per_cpu_hour) or per_cpu_hour < 0):
            raise PolicyError(
                f"CpuTimeCost.per_cpu_hour must be a finite number >= 0, got {per_cpu_hour!r}")
        self.per_cpu_hour = float(per_cpu_hour)

    def estimate(self, results: Sequence[TaskResult]) -> float:
        seconds = math.fsum(r.cpu_time for r in results if r.cpu_time is not None)
        return seconds / 3600.0 * self.per_cpu_hour

    def __repr__(self) -> str:
        return f"CpuTimeCost(per_cpu_hour={self.per_cpu_hour!r})"


class ReportedCost(CostAdapter):
    """The sum of what tasks reported under ``key`` (``current_task().report(cost=...)``),
    times ``scale`` (e.g. a price per token when tasks report ``tokens=``).

    A value that is not a number is left out with a ``RuntimeWarning`` naming the task.
    ``None`` when no task reported ``key``: the cost is unknown.
    """

    def __init__(self, key: str = "cost", *, scale: float = 1.0) -> None:
        if not isinstance(key, str) or not key:
            raise PolicyError(f"ReportedCost.key must be a non-empty string, got {key!r}")
        if (not isinstance(scale, (int, float)) or isinstance(scale, bool)
                or not math.isfinite(scale)):
            raise PolicyError(f"ReportedCost.scale must be a finite number, got {scale!r}")
        self.key = key
        self.scale = float(scale)

    def estimate(self, results: Sequence[TaskResult]) -> float | None:
        values: list[float] = []
        for r in results:
            value = r.reports.get(self.key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                warnings.warn(f"task {r.id!r} reported {self.key}={value!r}, which is not a "
                              f"number; ReportedCost left it out", RuntimeWarning, stacklevel=2)
                continue
            values.append(float(value))
        return math.fsum(values) * self.scale if values else None

    def __repr__(self) -> str:
        return f"ReportedCost(key={self.key!r}, scale={self.scale!r})"


class SumCost(CostAdapter):
    """The sum of several adapters' estimates."""

    def __init__(self, *parts: CostLike) -> None:
        self.parts: tuple[CostModel, ...] = tuple(as_cost_model(p) for p in parts)

    def estimate(self, results: Sequence[TaskResult]) -> float | None:
        known = [float(v) for v in (p.estimate(results) for p in self.parts) if v is not None]
        return math.fsum(known) if known else None

    def __repr__(self) -> str:
        return f"SumCost({', '.join(map(repr, self.parts))})"


class _FunctionCost(CostAdapter):
    def __init__(self, fn: Callable[[Sequence[TaskResult]], float | None]) -> None:
        self.fn = fn

    def estimate(self, results: Sequence[TaskResult]) -> float | None:
        value = self.fn(results)
        return None if value is None else float(value)

    def __repr__(self) -> str:
        return f"as_cost_model({self.fn!r})"


CostLike = Union[CostModel, Callable[[Sequence[TaskResult]], Union[float, None]]]


def as_cost_model(cost: CostLike) -> CostModel:
    """An adapter as given, or a function of the results wrapped as one."""
    if isinstance(cost, CostModel):
        return cost
    if callable(cost):
        return _FunctionCost(cost)
    raise PolicyError(f"cost must be a cost adapter (with an estimate(results) method) or a "
                      f"function of the task results, got {cost!r}")
