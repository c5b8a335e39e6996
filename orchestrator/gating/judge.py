"""Judging a run before it is final: merge the succeeded values, then run each gate in turn.

Each gate sees the provisional result with the verdicts before it, and each verdict is emitted
as a ``gate.passed`` / ``gate.failed`` event on the run's own event stream. A gate declared
``in_worker`` is a one-task run on the run's own executor, without events, so a timeout kills
its worker and retries and crash isolation apply exactly as to tasks; its verdict and attempts
go into its ``gate.*`` event.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable

from ..interrupts import InterruptFlag
from ..model.errors import SpecError
from ..model.policy import OrchestrationPolicy
from ..model.results import OrchestrationResult, TaskResult
from ..model.spec import TaskSpec
from ..scheduler.emitter import RunEvents
from ..telemetry.events import EventType
from .gates import Gate, GateVerdict, WorkerGate, coerce_verdict, run_gate

__all__ = ["Judge", "Merge", "RunTask"]

Merge = Callable[[dict[str, Any]], Any]
RunTask = Callable[[TaskSpec, OrchestrationPolicy, str], TaskResult]
"""Run one task to its end on the run's executor under ``policy`` as run ``run_id``, stopping
for an interrupt as the run does (the session's)."""


@dataclass(frozen=True)
class Judge:
    """A run's merge and gates, checked when the run is set up (before anything runs)."""

    gates: tuple[Gate, ...] = ()
    merge: Merge | None = None

    def __post_init__(self) -> None:
        for gate in self.gates:
            if not callable(gate):
                raise SpecError(f"every gate must be callable, got {gate!r}")
        if self.merge is not None and not callable(self.merge):
            raise SpecError(f"merge must be callable, got {self.merge!r}")

    def __call__(self, result: OrchestrationResult, *, events: RunEvents,
                 policy: OrchestrationPolicy, run_task: RunTask,
                 signals: InterruptFlag) -> OrchestrationResult:
        """``result`` merged (``merged``) and judged (``gates``). A Ctrl-C during an in-process
        gate is honoured between gates: the interrupt is raised there."""
        verdicts: list[GateVerdict] = []
        if self.merge is not None:
            try:
                result = replace(result, merged=self.merge(result.values))
            except Exception as exc:
                verdicts.append(GateVerdict("merge", False,
                                            f"merge raised {type(exc).__name__}: {exc}",
                                            traceback.format_exc()))
        for gate in self.gates:
            if signals.raised:
                raise signals.exception()
            provisional = replace(result, gates=tuple(verdicts))
            extra: dict[str, Any] = {}
            if isinstance(gate, WorkerGate):
                verdict, attempts = _in_worker(gate, provisional, policy, run_task)
                extra = {"in_worker": True, "attempts": attempts}
            else:
                verdict = run_gate(gate, provisional)
            verdicts.append(verdict)
            events.run_event(EventType.GATE_PASSED if verdict.passed else EventType.GATE_FAILED,
                             reason=None if verdict.passed else verdict.message,
                             data={**verdict.to_dict(), **extra})
        if signals.raised:
            raise signals.exception()
        return replace(result, gates=tuple(verdicts))


def _in_worker(gate: WorkerGate, provisional: OrchestrationResult, policy: OrchestrationPolicy,
               run_task: RunTask) -> tuple[GateVerdict, int]:
    """Run one gate as a one-task run: the task rules apply to it (its timeout kills the worker,
    its retry policy, crash isolation); the run's deadline and cascade do not. Returns
    (verdict, attempts)."""
    spec = TaskSpec(f"gate:{gate.name}", gate.fn, args=(provisional,), timeout=gate.timeout,
                    retry=gate.retry)
    alone = replace(policy, global_timeout=None, cancellation="isolated")
    task = run_task(spec, alone, f"{provisional.run_id}:{spec.id}")
    if task.ok:
        return coerce_verdict(gate.name, task.value), task.attempts
    error = task.error
    return GateVerdict(gate.name, False,
                       f"gate {gate.name!r} ran in a worker and {task.status.value} after "
                       f"{task.attempts} attempt(s): {error}",
                       error.traceback if error is not None else None), task.attempts
