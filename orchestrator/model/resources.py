"""Named resources and rate limits: what a task holds while an attempt runs, and what a run has.

``TaskSpec(resources={"cpu": 1, "api": 1})`` names the amounts a task holds on top of its worker
slot; ``OrchestrationPolicy(resources={"api": 3}, rate_limits={"api": RateLimit(5)})`` gives each
name its capacity and, optionally, a token bucket. ``"cpu"`` always has a capacity: the usable
cores unless the policy says otherwise. A name with a rate limit and no capacity is limited in
rate only. The checks here are pure; the scheduler's ``admission`` module enforces them.
"""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from workers.retry import RETRY_AFTER_TYPE

from .errors import PolicyError, SpecError

if TYPE_CHECKING:
    from .graph import TaskGraph
    from .results import TaskError
    from .spec import TaskSpec

__all__ = [
    "RateLimit", "usable_cores", "check_request", "check_capacities", "check_rate_limits",
    "check_fits", "retry_after_seconds", "weighted_ranks", "Request", "ResourceUsage",
]

Request = tuple[tuple[str, float], ...]  # (name, amount) sorted by name: a task's signature


def usable_cores() -> int:
    """The cores this process may run on (``os.sched_getaffinity`` where it exists)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        return max(1, len(getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _positive(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _name_ok(name: Any) -> bool:
    return isinstance(name, str) and bool(name.strip())


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``rate`` starts per ``per`` seconds, at most ``burst`` at once (default:
    ``rate``). Each attempt start of a task that holds the name takes one token."""

    rate: float
    per: float = 1.0
    burst: float | None = None

    def __post_init__(self) -> None:
        for name in ("rate", "per"):
            value = getattr(self, name)
            if not _positive(value):
                raise PolicyError(f"RateLimit.{name} must be a number > 0, got {value!r}")
        burst = self.rate if self.burst is None else self.burst
        if not _positive(burst) or burst < 1:
            raise PolicyError(f"RateLimit.burst must be a number >= 1, got {self.burst!r}")
        object.__setattr__(self, "burst", float(burst))

    @property
    def per_second(self) -> float:
        return self.rate / self.per

    @property
    def size(self) -> float:
        """The bucket's size (``burst``, filled in)."""
        assert self.burst is not None
        return self.burst


@dataclass(frozen=True)
class ResourceUsage:
    """One resource over a run: its ``capacity`` (None: limited in rate only), the ``peak``
    and the time-weighted ``mean`` amount in use, and ``wait``, the seconds tasks waited for it
    in all."""

    capacity: float | None
    peak: float
    mean: float
    wait: float

    def to_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "peak": self.peak, "mean": self.mean,
                "wait": self.wait}


def check_request(value: Any, task_id: str) -> dict[str, float]:
    """A task's ``resources``, checked: names -> positive amounts, sorted by name."""
    return _amounts(value, f"task {task_id!r}: resources", "amount", SpecError)


def check_capacities(value: Any) -> dict[str, float]:
    """The policy's ``resources``, checked, with ``"cpu"`` filled in (usable cores)."""
    given = _amounts(value, "OrchestrationPolicy.resources", "capacity", PolicyError)
    return dict(sorted({"cpu": usable_cores(), **given}.items()))


def _amounts(value: Any, where: str, what: str, error: type[Exception]) -> dict[str, float]:
    """``value`` checked as names -> numbers > 0, sorted by name; ``where`` starts every
    message, ``what`` says what a number is."""
    if not isinstance(value, Mapping):
        raise error(f"{where} must be a mapping of name to {what}, got {value!r}")
    for name, amount in value.items():
        if not _name_ok(name):
            raise error(f"{where}: a name must be a non-empty string, got {name!r}")
        if not _positive(amount):
            raise error(f"{where}[{name!r}] must be a number > 0, got {amount!r}")
    return dict(sorted(value.items()))


def check_rate_limits(value: Any) -> dict[str, RateLimit]:
    """The policy's ``rate_limits``, checked: names -> ``RateLimit``."""
    if not isinstance(value, Mapping):
        raise PolicyError(f"OrchestrationPolicy.rate_limits must be a mapping of name to "
                          f"RateLimit, got {value!r}")
    for name, limit in value.items():
        if not _name_ok(name):
            raise PolicyError(f"OrchestrationPolicy.rate_limits: a name must be a non-empty "
                              f"string, got {name!r}")
        if not isinstance(limit, RateLimit):
            raise PolicyError(f"OrchestrationPolicy.rate_limits[{name!r}] must be a RateLimit, "
                              f"got {limit!r}")
    return dict(sorted(value.items()))


def check_fits(spec: TaskSpec, capacities: Mapping[str, float],
               rate_limits: Mapping[str, RateLimit]) -> None:
    """Bad input unless every resource ``spec`` names has a capacity (or a rate limit) and its
    amount is within that capacity: such a task could never start."""
    for name, amount in spec.resources.items():
        capacity = capacities.get(name)
        if capacity is None:
            if name in rate_limits:
                continue
            known = ", ".join(sorted({*capacities, *rate_limits}))
            raise SpecError(f"task {spec.id!r}: resource {name!r} has no capacity in the "
                            f"policy (known: {known}); add it to OrchestrationPolicy(resources=)")
        if amount > capacity:
            raise SpecError(f"task {spec.id!r}: requests {amount:g} of resource {name!r}, "
                            f"but its capacity is {capacity:g}; it could never start")


def retry_after_seconds(error: TaskError) -> float | None:
    """The seconds of a ``RetryAfter`` the task raised, or None for any other error."""
    if error.kind != "exception" or RETRY_AFTER_TYPE not in error.type_chain:
        return None
    if error.exception_bytes is None:
        return None
    try:
        exc = pickle.loads(error.exception_bytes)
    except Exception:
        return None
    seconds = getattr(exc, "seconds", None)
    return float(seconds) if isinstance(seconds, (int, float)) else None


def weighted_ranks(graph: TaskGraph, capacities: Mapping[str, float],
                   workers: int) -> Mapping[str, float]:
    """The graph's critical-path ranks with resource pressure: a task's estimate counts
    ``pressure`` times, the largest over the names it holds, where a name's pressure is how
    long its work (estimate x amount) takes on its capacity over how long all the work takes
    on the workers (at least 1). A CPU-bound chain is long when cores are scarce."""
    specs = graph.specs
    if not any(spec.resources for spec in specs.values()):
        return graph.ranks()
    from .graph import resolve_estimates

    est = resolve_estimates(specs.values())
    spread = sum(est.values()) / workers
    load: dict[str, float] = {}
    for spec in specs.values():
        for name, amount in spec.resources.items():
            load[name] = load.get(name, 0.0) + est[spec.id] * amount
    pressure = {name: max(1.0, work / capacities[name] / spread) if spread > 0
                and name in capacities else 1.0 for name, work in load.items()}
    ranks: dict[str, float] = {}
    for tid in reversed(graph.topological_order()):
        spec = specs[tid]
        scale = max((pressure[name] for name in spec.resources), default=1.0)
        below = [ranks[d] for d in graph.dependents(tid)]
        ranks[tid] = est[tid] * scale + (max(below) if below else 0.0)
    return ranks
