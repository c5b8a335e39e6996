"""What a running task can learn about itself, and how it reports cost and metrics.

``workers.current_task()`` returns the ``TaskContext`` of the task running in this worker:
``id``, ``attempt`` (from 1), ``deadline`` (a ``time.monotonic()`` value, or None) and
``report(cost=..., **metrics)``, whose figures travel back with the result.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

__all__ = ["TaskContext", "current_task"]


class TaskContext:
    __slots__ = ("id", "attempt", "deadline", "reports")

    def __init__(self, task_id: str, attempt: int, deadline: float | None) -> None:
        self.id = task_id
        self.attempt = attempt
        self.deadline = deadline
        self.reports: dict[str, Any] = {}

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def report(self, **figures: Any) -> None:
        """Report figures for this attempt (e.g. ``cost=0.02, tokens=812``).

        Numbers add up over several calls; other values replace the previous one.
        """
        for name, value in figures.items():
            old = self.reports.get(name)
            if isinstance(value, (int, float)) and isinstance(old, (int, float)):
                self.reports[name] = old + value
            else:
                self.reports[name] = value

    def __repr__(self) -> str:
        return f"TaskContext(id={self.id!r}, attempt={self.attempt}, deadline={self.deadline})"


_current: ContextVar[TaskContext | None] = ContextVar("orchestrator_task", default=None)


def current_task() -> TaskContext:
    """The context of the task running here; raises RuntimeError outside a task."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_task() called outside a task run by the orchestrator")
    return ctx


def _set(ctx: TaskContext | None) -> None:
    _current.set(ctx)
