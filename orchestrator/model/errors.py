"""The exceptions this library raises, in one tree.

* OrchestratorError                 exit code 2 unless noted: bad input, raised before anything runs
  x SpecError                       a TaskSpec field is wrong (also a ValueError)
  x PolicyError                     a policy field is wrong (also a ValueError)
  x GraphError                      the task graph is wrong (also a ValueError)
    + DuplicateTaskError            two tasks share an id
    + MissingDependencyError        a task depends on an id that is not defined
    + CycleError                    the dependencies form a cycle; ``.cycle`` holds its path
  x PoolError                       the worker pool (or the Dask cluster) cannot serve the run
  x TaskFailedError                 exit code 1: raised only when the caller asks for it
  x GateRejected                    exit code 3: a quality gate rejected the run
  x EventLogError                   an event log cannot be read: names the file, line and problem

A task's own failure is *data* in its ``TaskResult``, never an exception out of ``execute_*``,
unless the caller asks for one (``OrchestrationResult.raise_for_failures()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Sequence

if TYPE_CHECKING:
    from .results import TaskResult

__all__ = [
    "OrchestratorError",
    "SpecError",
    "PolicyError",
    "GraphError",
    "DuplicateTaskError",
    "MissingDependencyError",
    "CycleError",
    "PoolError",
    "TaskFailedError",
    "GateRejected",
    "EventLogError",
    "short_repr",
]


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` for a message (an int of 5,000 digits cannot even be
    printed: ``repr`` raises ``ValueError``)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class OrchestratorError(Exception):
    """Base of every error this library raises on purpose."""

    exit_code: ClassVar[int] = 2


class SpecError(OrchestratorError, ValueError):
    """A ``TaskSpec`` (or a workflow entry) is malformed."""


class PolicyError(OrchestratorError, ValueError):
    """A ``RetryPolicy`` or ``OrchestrationPolicy`` field is out of range."""


class GraphError(OrchestratorError, ValueError):
    """The set of tasks does not form a valid dependency graph."""


class DuplicateTaskError(GraphError):
    def __init__(self, task_id: str, message: str | None = None) -> None:
        self.task_id = task_id
        super().__init__(message or f"duplicate task id {task_id!r}")


class MissingDependencyError(GraphError):
    def __init__(self, task_id: str, missing: str) -> None:
        self.task_id = task_id
        self.missing = missing
        super().__init__(f"task {task_id!r} depends on {missing!r}, which is not defined")


class CycleError(GraphError):
    """``cycle`` is the path, first element repeated at the end: ``["a", "b", "a"]``.

    Each task in the path depends on the next one.
    """

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle: tuple[str, ...] = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


class PoolError(OrchestratorError):
    """The local worker pool could not start workers (or they die before they are ready), or
    the Dask cluster cannot be reached, cannot host runners, or has lost every worker."""


class TaskFailedError(OrchestratorError):
    """Raised by ``OrchestrationResult.raise_for_failures()``; the worker traceback is the cause."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, failed: Sequence[TaskResult] = ()) -> None:
        self.failed = tuple(failed)
        super().__init__(message)


class GateRejected(OrchestratorError):
    """A quality gate rejected the run: not raised, a verdict is data; its code is the CLI's 3."""

    exit_code: ClassVar[int] = 3


class EventLogError(OrchestratorError, ValueError):
    """An event log (JSON Lines) is malformed; the message names the file, the line and what is
    wrong (``path``, ``line`` hold the place)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
