"""Quality gates: callbacks that judge a run before it is finalised.

A gate is a callable taking the provisional ``OrchestrationResult`` and returning a verdict:
``GateVerdict``, a ``bool``, a ``(bool, message)`` pair, or ``None`` (pass). A gate that raises
fails, with the exception as its message. A merger (``merge=``) combines the values of the
succeeded tasks into ``result.merged`` before the gates run, so a gate can audit it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    from .results import OrchestrationResult

__all__ = ["GateVerdict", "Gate", "gate_name", "run_gate"]

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
    name = getattr(gate, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(gate, "__qualname__", None) or type(gate).__name__


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
