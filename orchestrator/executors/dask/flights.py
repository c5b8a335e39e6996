"""What the executor knows of each attempt it sent to the cluster (a ``Flight``), and the executor
event that a host's outcome, or a lost future, makes of it. Pure functions of their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import (
    Attempt,
    AttemptLost,
    AttemptRequeued,
    ExecutorEvent,
    attempt_finished,
)

__all__ = ["Flight", "outcome_event", "lost_event"]


@dataclass(slots=True)
class Flight:
    """One attempt on the cluster, from its submit to its outcome."""

    attempt: Attempt
    key: str  # its Dask key
    future: Any  # its distributed.Future
    started: bool = False
    worker: str | None = None  # where it runs, once started
    pid: int | None = None  # its runner, once started
    kill: int | None = None  # the last signal asked for
    confirm_by: float | None = None  # a SIGKILL's outcome is due by then
    watched: bool = False  # its host samples its memory
    rss: int | None = None  # the last sample


def outcome_event(flight: Flight, outcome: Any, at: float) -> ExecutorEvent:
    """The event for what ``run_attempt`` returned, or for the exception its future raised
    (the Dask worker died or the task was let go): lost if it had started, else requeued (it
    never ran, so it is not charged)."""
    ticket = flight.attempt.ticket
    if isinstance(outcome, tuple) and outcome and outcome[0] == "done":
        return attempt_finished(flight.attempt.task_id, ticket, outcome[2], at, outcome[3:],
                                outcome[1])
    if isinstance(outcome, tuple) and outcome and outcome[0] == "lost":
        _, worker, pid, exit_code, sig, cause = outcome
        return AttemptLost(ticket, pid if pid is not None else flight.pid, at, exit_code, sig,
                           killed=flight.kill is not None, cause=cause)
    if not flight.started:
        return AttemptRequeued(ticket)
    return lost_event(flight, at, f"its Dask worker was lost ({_describe(outcome)})")


def lost_event(flight: Flight, at: float, cause: str) -> AttemptLost:
    """``flight``'s attempt is lost for ``cause`` (no exit status is known)."""
    return AttemptLost(flight.attempt.ticket, flight.pid, at, None, None,
                       killed=flight.kill is not None, cause=cause)


def _describe(outcome: Any) -> str:
    if isinstance(outcome, BaseException):
        text = str(outcome).strip()
        return f"{type(outcome).__name__}: {text}" if text else type(outcome).__name__
    return f"unexpected outcome {outcome!r:.80}"
