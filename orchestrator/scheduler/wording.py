"""Every message of the scheduler's that a person reads: why a task failed, timed out, was
cancelled or skipped, and the warning about a dropped event callback.

Pure functions of their arguments, each text in one place (tests/unit/test_wording.py pins them),
apart from the loop that decides when each applies.
"""

from __future__ import annotations

from ..model.results import TaskError
from .records import TaskRecord
from .state import KillReason, StopReason

__all__ = [
    "lost_attempt_error", "leftover_timeout_error", "cancelled_error", "upstream_error",
    "pickling_error", "callback_dropped", "killed_error", "revoked_error", "expansion_error",
    "children_failed_error",
]


def lost_attempt_error(rec: TaskRecord, reason: KillReason | None, *, pid: int | None,
                       signal: str | None, exit_code: int | None, timeout: float | None,
                       global_timeout: float | None, memory_limit: float | None,
                       cause: str | None = None) -> TaskError:
    """Why the process running ``rec``'s attempt died: killed for ``reason`` (``TIMEOUT``,
    ``RUN_TIMEOUT``, ``MEMORY_LIMIT``), or by itself (``reason`` None: a crash). ``cause`` says
    how when a signal or exit code cannot (a cluster worker left); ``rec.worker`` names the
    cluster worker, if any."""
    how = cause or signal or (f"exit code {exit_code}" if exit_code is not None else "unknown")
    where = f"task {rec.id!r} attempt {rec.attempt}"
    worker = f"worker pid {pid}" + (f" on {rec.worker}" if rec.worker else "")
    if reason is KillReason.TIMEOUT:
        return TaskError(kind="timeout", type="TimeoutError",
                         message=f"{where} timed out after {timeout}s; killed {worker} ({how})")
    if reason is KillReason.RUN_TIMEOUT:
        return TaskError(kind="timeout", type="TimeoutError",
                         message=f"{where} was still running when the run's global_timeout of "
                                 f"{global_timeout}s expired; killed {worker} ({how})")
    if reason is KillReason.MEMORY_LIMIT:
        peak = (rec.rss_seen or 0) / 2**20
        return TaskError(kind="memory", type="MemoryLimitExceeded",
                         message=f"{where} exceeded its memory limit of {memory_limit:g} MB "
                                 f"(peak seen {peak:.0f} MB); killed {worker} ({how})")
    return TaskError(kind="crash", type="WorkerCrashed",
                     message=f"{worker} died while running {where}: {how}",
                     exit_code=exit_code, signal=signal)


def leftover_timeout_error(task_id: str) -> TaskError:
    """A task being killed for its time when the run gave up waiting for the kill."""
    return TaskError(kind="timeout", type="TimeoutError",
                     message=f"task {task_id!r} timed out; its worker was killed while the run "
                             f"stopped")


def cancelled_error(task_id: str, stop: StopReason | None, cause: str | None,
                    global_timeout: float | None) -> TaskError:
    """Why a task was cancelled: the run stopped for ``stop`` (``CASCADE`` after task ``cause``
    failed, ``RUN_TIMEOUT``, or an interrupt)."""
    if stop is StopReason.CASCADE:
        message = (f"task {task_id!r} cancelled: task {cause!r} failed and cancellation is "
                   f"'cascading'")
    elif stop is StopReason.RUN_TIMEOUT:
        message = (f"task {task_id!r} cancelled: the run's global_timeout of {global_timeout}s "
                   f"expired before it started")
    elif stop is StopReason.POOL_SHUTDOWN:
        message = (f"task {task_id!r} cancelled: the shared worker pool was shut down "
                   f"(shutdown_shared_pool()) during the run")
    else:
        message = f"task {task_id!r} cancelled: the run was interrupted"
    return TaskError(kind="cancelled", type="Cancelled", message=message, upstream=cause)


def killed_error(task_id: str) -> TaskError:
    """A task stopped on request (``ProcessPool.kill``), its process tree killed if it ran."""
    return TaskError(kind="cancelled", type="TaskKilled",
                     message=f"task {task_id!r} was killed on request")


def revoked_error(task_id: str) -> TaskError:
    """A task cancelled before it began (``Future.cancel`` on the pool's future)."""
    return TaskError(kind="cancelled", type="CancelledError",
                     message=f"task {task_id!r} was cancelled before it started")


def upstream_error(task_id: str, root: str, root_status: str,
                   because: str | None = None) -> TaskError:
    """Why a task was skipped: the upstream task ``root`` ended ``root_status`` (``because``:
    a mapped ``root``'s own reason, which names its failed children)."""
    message = f"task {task_id!r} skipped: upstream task {root!r} {root_status}"
    return TaskError(kind="upstream", type="UpstreamFailed",
                     message=message + (f" ({because})" if because else ""), upstream=root)


def expansion_error(message: str) -> TaskError:
    """A mapped task could not expand (``message`` names the task, its source, what it got)."""
    return TaskError(kind="expansion", type="ExpansionError", message=message)


def children_failed_error(task_id: str, failed: list[TaskRecord], total: int) -> TaskError:
    """Some of mapped task ``task_id``'s ``total`` children did not succeed: each is named with
    its status and error (the first five)."""
    named = ", ".join(f"{c.id} {c.state.value}" + (f" ({c.error})" if c.error else "")
                      for c in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return TaskError(kind="mapped", type="MappedTaskFailed",
                     message=f"{len(failed)} of {total} children of mapped task {task_id!r} did "
                             f"not succeed: {named}{more}")


def pickling_error(message: str) -> TaskError:
    """The task's arguments could not be sent to a worker (``message`` names the argument)."""
    return TaskError(kind="pickling", type="PicklingError", message=message)


def callback_dropped(exc: BaseException, event_type: str, run_id: str) -> str:
    """The warning when an ``on_event`` callback raised and is called no more."""
    return (f"on_event callback raised {type(exc).__name__}: {exc} (on a {event_type!r} event); "
            f"it will not be called again in run {run_id}")
