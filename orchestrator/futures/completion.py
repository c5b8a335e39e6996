"""The completion thread: it sets each finished task's future, so done-callbacks (and the
exceptions rebuilt from the worker's) run here, never on the loop's thread."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any, Union

from ..model.results import TaskError
from .errors import exception_for

__all__ = ["Completer", "Outcome"]

# (future, ok, value, error: the task's TaskError or the exception itself, timeout)
Outcome = tuple["Future[Any]", bool, Any, Union[TaskError, BaseException, None], Union[float, None]]
_STOP = None


class Completer:
    """Sets futures from batches of outcomes, in order, on one thread of its own."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[list[Outcome] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="orchestrator-pool-results",
                                       daemon=True)
        self.thread.start()

    def put(self, batch: list[Outcome]) -> None:
        if batch:
            self._queue.put(batch)

    def close(self) -> None:
        """Set what is queued, then stop."""
        self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            for outcome in batch:
                _settle(outcome)
            del batch, outcome  # drop the last result now: the caller may check it is freed


def _settle(outcome: Outcome) -> None:
    future, ok, value, error, timeout = outcome
    try:
        if ok:
            future.set_result(value)
        elif isinstance(error, BaseException):
            future.set_exception(error)
        else:
            task_id = getattr(future, "task_id", "?")
            future.set_exception(exception_for(task_id, error, timeout))
    except InvalidStateError:  # already settled (the loop broke after it finished)
        pass
    future._driver = None  # type: ignore[attr-defined]  # cancel() need not ask the loop
