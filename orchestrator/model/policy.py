"""RetryPolicy and OrchestrationPolicy: frozen, validated on construction.

A bad value fails at construction with a message that names the field, the value and what is
allowed. ``RetryPolicy.delay`` is a pure function of ``(policy, task id, attempt)``: jitter comes
from a RNG seeded with ``"{seed}:{task_id}:{attempt}"`` (a str seed is stable across processes and
``PYTHONHASHSEED``), so the same policy gives the same delays whatever the completion order.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Mapping, Union

from .errors import PolicyError, short_repr
from .resources import RateLimit, check_capacities, check_rate_limits

if TYPE_CHECKING:
    from .results import TaskError

__all__ = ["RetryPolicy", "OrchestrationPolicy", "default_concurrency"]

Backoff = Literal["fixed", "exponential"]
Cancellation = Literal["isolated", "cascading"]
OnFailure = Literal["skip", "continue"]
ExceptionMatcher = Union[type[BaseException], str]


def default_concurrency() -> int:
    """Usable cores: CPU affinity and cgroup quotas respected (loky's count)."""
    try:
        from loky import cpu_count

        return max(1, int(cpu_count()))
    except Exception:  # pragma: no cover - loky is a dependency; belt and braces
        return max(1, os.cpu_count() or 1)


# Seconds above this are refused: ~31 years is no real limit, and a larger value would
# overflow a float (an int of 400 digits) or a thread wait (``threading.TIMEOUT_MAX``).
MAX_SECONDS = 1e9


def _is_number(value: Any, limit: float = math.inf) -> bool:
    """A real int or float, finite, with ``abs(value) <= limit``; a huge int is no error."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond the float range
        return False
    return math.isfinite(as_float) and abs(as_float) <= limit


def _is_seconds(value: Any) -> bool:
    return _is_number(value, MAX_SECONDS)


def _require(ok: bool, owner: str, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise PolicyError(f"{owner}.{name} must be {allowed}, got {short_repr(value)}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed task is tried again.

    Delay before attempt ``n + 1`` (``n`` = the attempt that just failed, from 1):
    ``fixed``: ``base_delay``; ``exponential``: ``base_delay * multiplier ** (n - 1)``; capped at
    ``max_delay``; then scaled by a factor drawn uniformly from ``[1 - jitter, 1 + jitter]``.

    ``retry_on`` lists exception classes (or their names, ``"ValueError"`` or
    ``"mypkg.errors.Transient"``) worth retrying; the worker's exception matches through its MRO.
    """

    max_attempts: int = 1
    backoff: Backoff = "fixed"
    base_delay: float = 0.0
    multiplier: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.0
    seed: int = 0
    retry_on: tuple[ExceptionMatcher, ...] = (Exception,)
    retry_on_timeout: bool = True
    retry_on_crash: bool = True

    def __post_init__(self) -> None:
        o = "RetryPolicy"
        v = self.max_attempts
        _require(isinstance(v, int) and not isinstance(v, bool) and v >= 1, o, "max_attempts", v,
                 "an integer >= 1")
        _require(self.backoff in ("fixed", "exponential"), o, "backoff", self.backoff,
                 "'fixed' or 'exponential'")
        _require(_is_seconds(self.base_delay) and self.base_delay >= 0, o, "base_delay",
                 self.base_delay, f"a number of seconds >= 0 and <= {MAX_SECONDS:g}")
        _require(_is_number(self.multiplier) and self.multiplier >= 1, o, "multiplier",
                 self.multiplier, "a number >= 1")
        _require(_is_seconds(self.max_delay) and self.max_delay >= 0, o, "max_delay",
                 self.max_delay, f"a number of seconds >= 0 and <= {MAX_SECONDS:g}")
        _require(_is_number(self.jitter) and 0 <= self.jitter <= 1, o, "jitter", self.jitter,
                 "a number between 0 and 1")
        _require(isinstance(self.seed, int) and not isinstance(self.seed, bool), o, "seed",
                 self.seed, "an integer")
        retry_on = self.retry_on
        if isinstance(retry_on, (type, str)):
            retry_on = (retry_on,)
        _require(isinstance(retry_on, (tuple, list)), o, "retry_on", self.retry_on,
                 "a tuple of exception classes or names")
        for item in retry_on:
            ok = (isinstance(item, type) and issubclass(item, BaseException)) or (
                isinstance(item, str) and bool(item)
            )
            _require(ok, o, "retry_on", self.retry_on, "a tuple of exception classes or names")
        object.__setattr__(self, "retry_on", tuple(retry_on))
        for flag in ("retry_on_timeout", "retry_on_crash"):
            value = getattr(self, flag)
            _require(isinstance(value, bool), o, flag, value, "True or False")

    def delay(self, task_id: str, attempt: int) -> float:
        """Seconds to wait after attempt ``attempt`` (1-based) of ``task_id`` failed. Pure."""
        if attempt < 1:
            raise PolicyError(f"attempt must be >= 1, got {attempt!r}")
        if self.backoff == "exponential":
            try:
                raw = self.base_delay * self.multiplier ** (attempt - 1)
            except OverflowError:  # multiplier ** (attempt - 1) left the float range
                raw = math.inf if self.base_delay > 0 else 0.0
        else:
            raw = self.base_delay
        capped = min(raw, self.max_delay)
        if self.jitter and capped:
            rng = random.Random(f"{self.seed}:{task_id}:{attempt}")
            capped *= rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return capped

    def retries_error(self, error: TaskError) -> bool:
        """Whether a failure of this kind is worth another attempt (attempts aside)."""
        kind = error.kind
        if kind == "timeout":
            return self.retry_on_timeout
        if kind in ("crash", "memory"):
            return self.retry_on_crash
        if kind != "exception":
            return False  # pickling, cancelled, upstream: trying again cannot help
        chain = error.type_chain or (error.type,)
        for matcher in self.retry_on:
            if isinstance(matcher, str):
                if any(name == matcher or name.rsplit(".", 1)[-1] == matcher for name in chain):
                    return True
            else:
                name = f"{matcher.__module__}.{matcher.__qualname__}"
                if name in chain:
                    return True
        return False


@dataclass(frozen=True)
class OrchestrationPolicy:
    """How a whole run behaves.

    ``max_concurrency``: tasks running at once (one worker process each); default: usable cores.
    ``task_timeout``: seconds a task may run (counted from its start in a worker).
    ``global_timeout``: seconds the whole run may take; then running tasks are killed (timed_out)
    and tasks that never started end cancelled.
    ``cancellation``: ``"cascading"``: the first task that ends failed or timed out stops the run;
    ``"isolated"``: nothing else is affected.
    ``on_failure``: ``"skip"``: dependents of a failed task end skipped; ``"continue"``: they run
    and a ``Ref`` to the failed task resolves to its ``TaskError``.
    ``max_pending``: tasks dispatched ahead of free workers (default ``max_concurrency``).
    ``kill_grace``: seconds between SIGTERM and SIGKILL when a task is stopped.
    ``max_task_memory_mb``: resident memory (worker plus children) above which a task is killed.
    ``max_tasks_per_worker``: replace a worker after this many tasks (for agents that leak).
    ``critical_path_first``: order ready tasks by their longest remaining path (else FIFO).
    ``resources``: the capacity of each resource name tasks hold (``"cpu"`` defaults to the
    usable cores); ``rate_limits``: a ``RateLimit`` token bucket per name (``model/resources.py``).
    """

    max_concurrency: int = field(default_factory=default_concurrency)
    task_timeout: float | None = None
    global_timeout: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cancellation: Cancellation = "isolated"
    on_failure: OnFailure = "skip"
    max_pending: int | None = None
    kill_grace: float = 0.2
    max_task_memory_mb: float | None = None
    max_tasks_per_worker: int | None = None
    critical_path_first: bool = True
    memory_check_interval: float = 0.05
    resources: Mapping[str, float] = field(default_factory=dict)
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = "OrchestrationPolicy"
        object.__setattr__(self, "resources", check_capacities(self.resources))
        object.__setattr__(self, "rate_limits", check_rate_limits(self.rate_limits))
        v = self.max_concurrency
        _require(isinstance(v, int) and not isinstance(v, bool) and v >= 1, o, "max_concurrency",
                 v, "an integer >= 1")
        for name in ("task_timeout", "global_timeout"):
            value = getattr(self, name)
            _require(value is None or (_is_seconds(value) and value > 0), o, name, value,
                     f"a number of seconds > 0 and <= {MAX_SECONDS:g}, or None")
        _require(isinstance(self.retry, RetryPolicy), o, "retry", self.retry, "a RetryPolicy")
        _require(self.cancellation in ("isolated", "cascading"), o, "cancellation",
                 self.cancellation, "'isolated' or 'cascading'")
        _require(self.on_failure in ("skip", "continue"), o, "on_failure", self.on_failure,
                 "'skip' or 'continue'")
        p = self.max_pending
        _require(p is None or (isinstance(p, int) and not isinstance(p, bool) and p >= 0), o,
                 "max_pending", p, "an integer >= 0, or None")
        _require(_is_seconds(self.kill_grace) and self.kill_grace >= 0, o, "kill_grace",
                 self.kill_grace, f"a number of seconds >= 0 and <= {MAX_SECONDS:g}")
        m = self.max_task_memory_mb
        _require(m is None or (_is_number(m) and m > 0), o, "max_task_memory_mb", m,
                 "a number of megabytes > 0, or None")
        n = self.max_tasks_per_worker
        _require(n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 1), o,
                 "max_tasks_per_worker", n, "an integer >= 1, or None")
        _require(isinstance(self.critical_path_first, bool), o, "critical_path_first",
                 self.critical_path_first, "True or False")
        i = self.memory_check_interval
        _require(_is_seconds(i) and i > 0, o, "memory_check_interval", i,
                 f"a number of seconds > 0 and <= {MAX_SECONDS:g}")

    @property
    def pending_limit(self) -> int:
        """How many tasks may be dispatched ahead of free workers."""
        return self.max_concurrency if self.max_pending is None else self.max_pending

    def replace(self, **changes: Any) -> OrchestrationPolicy:
        """A copy with ``changes`` applied (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)

