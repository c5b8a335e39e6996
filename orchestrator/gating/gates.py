"""Quality gates: callbacks that judge a run before it is finalised.

A gate is a callable taking the provisional ``OrchestrationResult`` and returning a verdict:
``GateVerdict``, a ``bool``, a ``(bool, message)`` pair, or ``None`` (pass). A gate that raises
fails, with the exception as its message. A merger (``merge=``) combines the values of the
succeeded tasks into ``result.merged`` before the gates run, so a gate can audit it.

Built-in gates for the common checks: ``AllSucceeded()``, ``MaxFailureRate(0.05)``,
``MinSpeedup(1.5)``. A CPU-heavy gate (an auditor agent) can run in a worker process under the
same timeout and retry rules as a task: ``in_worker(audit, timeout=30, retry=RetryPolicy(2))``;
it gets a copy of the provisional result (so that result, values included, must pickle).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

from ..model.errors import PolicyError, SpecError

if TYPE_CHECKING:
    from ..model.policy import RetryPolicy
    from ..model.results import OrchestrationResult
    from ..model.spec import TaskFn

__all__ = [
    "GateVerdict", "Gate", "gate_name", "run_gate", "coerce_verdict", "WorkerGate", "in_worker",
    "AllSucceeded", "MaxFailureRate", "MinSpeedup",
]

GateOutcome = Union["GateVerdict", bool, tuple[bool, str], None]
Gate = Callable[["OrchestrationResult"], GateOutcome]


@dataclass(frozen=True)
class GateVerdict:
    name: str
    passed: bool
    message: str = ""
    error: str | None = None  # traceback text when the gate raised

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "message": self.message}
        if self.error:
            out["error"] = self.error
        return out


def gate_name(gate: Any) -> str:
    """``gate.name`` when it has one, else its ``__name__`` (a function), else its class name."""
    name = getattr(gate, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(gate, "__name__", None) or type(gate).__name__


def run_gate(gate: Gate, result: OrchestrationResult) -> GateVerdict:
    """Call one gate; never raises (a raising gate is a failed gate)."""
    name = gate_name(gate)
    try:
        outcome = gate(result)
    except Exception as exc:
        return GateVerdict(name, False, f"gate raised {type(exc).__name__}: {exc}",
                           traceback.format_exc())
    return coerce_verdict(name, outcome)


def coerce_verdict(name: str, outcome: Any) -> GateVerdict:
    """Turn what a gate returned into a ``GateVerdict`` (anything unexpected fails)."""
    if isinstance(outcome, GateVerdict):
        return outcome
    if outcome is None:
        return GateVerdict(name, True)
    if isinstance(outcome, bool):
        return GateVerdict(name, outcome, "" if outcome else "rejected")
    if (isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool)):
        return GateVerdict(name, outcome[0], str(outcome[1]))
    return GateVerdict(name, False, f"gate returned {outcome!r}; expected a GateVerdict, a bool, "
                                    f"a (bool, message) pair or None")


# -- gates that run in a worker -------------------------------------------------------------


@dataclass(frozen=True)
class WorkerGate:
    """A gate run in a worker process, like a task: ``timeout`` kills it, ``retry`` retries it
    (both default to the run's policy). ``fn`` is a callable (cloudpickled) or an import path
    ``"pkg.module:function"``; it gets the provisional result and returns what any gate returns.
    A gate that times out, crashes or raises on its last attempt fails, with the reason.
    """

    fn: TaskFn
    name: str = ""
    timeout: float | None = None
    retry: RetryPolicy | None = None

    def __post_init__(self) -> None:
        from ..model.policy import RetryPolicy

        if not (callable(self.fn) or isinstance(self.fn, str)):
            raise SpecError(f"in_worker: fn must be callable or an import path, got {self.fn!r}")
        if self.timeout is not None and (isinstance(self.timeout, bool) or
                                         not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise PolicyError(f"in_worker: timeout must be > 0 seconds or None, "
                              f"got {self.timeout!r}")
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise PolicyError(f"in_worker: retry must be a RetryPolicy or None, got {self.retry!r}")
        if not self.name:
            fn = self.fn
            object.__setattr__(self, "name", fn.rsplit(":", 1)[-1] if isinstance(fn, str)
                               else gate_name(fn))

    def __call__(self, result: OrchestrationResult) -> GateOutcome:
        """Run in this process (what the worker does): lets ``run_gate`` treat it as any gate."""
        from workers.resolve import resolve

        fn = resolve(self.fn) if isinstance(self.fn, str) else self.fn
        return fn(result)  # type: ignore[no-any-return]


def in_worker(fn: TaskFn, *, name: str = "", timeout: float | None = None,
              retry: RetryPolicy | None = None) -> WorkerGate:
    """Declare a gate that runs in a worker process under a task's timeout and retry rules."""
    return WorkerGate(fn, name, timeout, retry)


# -- built-in gates ---------------------------------------------------------------------------
# Classes with a ``name``, not closures: they pickle, so they also run under ``in_worker``.


def _check_fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise PolicyError(f"{what} must be a number from 0 to 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AllSucceeded:
    """Passes when every task succeeded; the message names the first that did not."""

    name: str = "all_succeeded"

    def __call__(self, result: OrchestrationResult) -> GateVerdict:
        failed = result.failed
        if not failed:
            return GateVerdict(self.name, True, f"all {len(result)} tasks succeeded")
        names = ", ".join(f"{r.id} ({r.status.value})" for r in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        return GateVerdict(self.name, False,
                           f"{len(failed)} of {len(result)} tasks did not succeed: {names}{more}")


@dataclass(frozen=True)
class MaxFailureRate:
    """Passes when at most ``rate`` (0..1) of the tasks did not succeed (failed, timed out,
    cancelled or skipped). ``MaxFailureRate(0.05)``: at most 5%."""

    rate: float
    name: str = "max_failure_rate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _check_fraction(self.rate, "MaxFailureRate.rate"))

    def __call__(self, result: OrchestrationResult) -> GateVerdict:
        total = len(result)
        bad = len(result.failed)
        observed = bad / total if total else 0.0
        passed = observed <= self.rate
        return GateVerdict(self.name, passed,
                           f"failure rate {observed:.1%} ({bad} of {total}) "
                           f"{'<=' if passed else '>'} {self.rate:.1%}")


@dataclass(frozen=True)
class MinSpeedup:
    """Passes when ``metrics.speedup_vs_serial`` (serial time / wall time) is at least ``x``."""

    x: float
    name: str = "min_speedup"

    def __post_init__(self) -> None:
        x = self.x
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not x >= 0:
            raise PolicyError(f"MinSpeedup.x must be a number >= 0, got {x!r}")

    def __call__(self, result: OrchestrationResult) -> GateVerdict:
        speedup = result.metrics.speedup_vs_serial
        passed = speedup >= self.x
        return GateVerdict(self.name, passed,
                           f"speedup {speedup:.2f}x {'>=' if passed else '<'} {self.x:g}x")
