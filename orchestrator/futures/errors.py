"""What a ``ProcessPool`` future raises when its task did not return, and how a task's
``TaskError`` becomes that exception.

* TaskTimeout(TimeoutError)          ran past its timeout; killed with its process tree
* WorkerCrashed(ChildProcessError)   its worker process died (the signal or exit code named)
* TaskKilled(Exception)              stopped by ``pool.kill(future)``
* MemoryLimitExceeded(MemoryError)   its worker passed the memory limit; killed
* TaskPicklingError(PicklingError, TypeError)  an argument or the result could not be pickled
                                     (a TypeError too: the stdlib's pool raises one there)
* anything else                      the task's own exception, rebuilt, with the worker's
                                     traceback text as ``__cause__`` (as the stdlib does)
"""

from __future__ import annotations

import pickle
from concurrent.futures import CancelledError

from ..model.results import RemoteTraceback, TaskError

__all__ = ["TaskTimeout", "WorkerCrashed", "TaskKilled", "MemoryLimitExceeded",
           "TaskPicklingError", "exception_for"]


class TaskTimeout(TimeoutError):
    """The task ran past ``timeout`` seconds and was killed, process tree included."""

    def __init__(self, message: str, task_id: str, timeout: float | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.timeout = timeout


class WorkerCrashed(ChildProcessError):
    """The worker process running the task died: ``signal`` (e.g. ``"SIGSEGV"``) or
    ``exit_code`` says how. Only this task's future fails; the pool goes on."""

    def __init__(self, message: str, task_id: str, exit_code: int | None,
                 signal: str | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.exit_code = exit_code
        self.signal = signal


class TaskKilled(Exception):
    """The task was stopped by ``ProcessPool.kill``; its process tree was killed if it ran."""

    def __init__(self, message: str, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class MemoryLimitExceeded(MemoryError):
    """The task's worker (with its children) passed the pool's ``memory_limit``; killed."""

    def __init__(self, message: str, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class TaskPicklingError(pickle.PicklingError, TypeError):
    """The task's arguments (or its result) could not be pickled; the message names the
    part."""

    def __init__(self, message: str, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


def _unpacked(message: str) -> str:
    """A pickling message's path as the user wrote the call (not through ``Packed``)."""
    return (message.replace("args[0].args[", "args[").replace("args[0].kwargs[", "kwargs[")
            .replace("args[0].fn", "the function"))


def exception_for(task_id: str, error: TaskError | None, timeout: float | None) -> BaseException:
    """The exception a future raises for a task that ended with ``error``."""
    if error is None:
        return CancelledError(f"task {task_id!r} ended without a result")
    kind = error.kind
    exc: BaseException
    if kind == "timeout":
        exc = TaskTimeout(error.message, task_id, timeout)
    elif kind == "crash":
        exc = WorkerCrashed(error.message, task_id, error.exit_code, error.signal)
    elif kind == "memory":
        exc = MemoryLimitExceeded(error.message, task_id)
    elif kind == "cancelled":
        exc = (TaskKilled(error.message, task_id) if error.type == "TaskKilled"
               else CancelledError(error.message))
    elif kind == "pickling":
        exc = TaskPicklingError(_unpacked(error.message), task_id)
    else:
        return error.exception()
    if error.traceback:
        exc.__cause__ = RemoteTraceback(error.traceback)
    return exc
