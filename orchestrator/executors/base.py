"""The Executor protocol, the Attempt it runs and the events it reports.

An ``Executor`` starts attempts, kills them, and reports what happened as a list of events from
``wait(timeout)``. The scheduler owns every decision (what to run, when to give up, when to
escalate a kill); an executor only carries them out and reports facts. Three implementations:
``local.LocalPool`` (worker processes, the default), ``dask.DaskExecutor`` (the same on a Dask
distributed cluster), ``inline.InlineExecutor`` (in this process, for debugging; it cannot stop a
running task) and ``scripted.ScriptedExecutor`` (a test decides every outcome).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, TypeVar, Union

from workers.protocol import RAW

from ..clock import Clock
from ..model.results import TaskError
from ..model.spec import TaskFn

__all__ = [
    "Attempt", "AttemptStarted", "AttemptFinished", "AttemptLost", "AttemptRequeued",
    "WorkerStarted", "WorkerExited", "ExecutorEvent", "Executor", "error_from_tuple",
    "finished_value", "finished_reports", "attempt_finished", "ClosesOnExit",
]


@dataclass(slots=True)
class Attempt:
    """One try of one task. ``ticket`` is unique per attempt within a run."""

    ticket: int
    task_id: str
    attempt: int
    fn: TaskFn
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    timeout: float | None = None
    prepared: Any = None  # the executor's serialised form, kept for a requeue
    output: str | None = None  # where its stdout/stderr go: None, the parent's stderr; or a dir


@dataclass(slots=True)
class AttemptStarted:
    """The attempt started in process ``pid``; ``worker``: the address of the cluster worker
    that runs it (``None`` on this machine)."""

    ticket: int
    pid: int | None
    at: float
    worker: str | None = None


@dataclass(slots=True)
class AttemptFinished:
    """The attempt returned (``ok``) or raised; ``duration`` as measured where it ran;
    ``worker`` as for ``AttemptStarted``."""

    ticket: int
    pid: int | None
    at: float
    ok: bool
    value: Any = None
    error: TaskError | None = None
    duration: float | None = None
    cpu_time: float | None = None
    peak_rss: int | None = None
    reports: Mapping[str, Any] = field(default_factory=dict)
    worker: str | None = None
    # The last bytes of what the attempt wrote to stdout and stderr (``workers.output``).
    stdout_tail: str | None = None
    stderr_tail: str | None = None


@dataclass(slots=True)
class AttemptLost:
    """The process running the attempt died: killed on request (``killed``) or by itself.
    ``cause``: what happened, when neither a signal nor an exit code says it (e.g. the cluster
    worker that ran it left)."""

    ticket: int
    pid: int | None
    at: float
    exit_code: int | None
    signal: str | None
    killed: bool
    cause: str | None = None


@dataclass(slots=True)
class AttemptRequeued:
    """The attempt was sent but never started (its worker died first); not charged."""

    ticket: int


@dataclass(slots=True)
class WorkerStarted:
    pid: int
    slot: int
    at: float
    startup: float


@dataclass(slots=True)
class WorkerExited:
    pid: int
    slot: int
    at: float
    exit_code: int | None
    signal: str | None
    reason: str  # "killed" | "crashed" | "retired" | "shutdown"


ExecutorEvent = Union[
    AttemptStarted, AttemptFinished, AttemptLost, AttemptRequeued, WorkerStarted, WorkerExited
]


_Closing = TypeVar("_Closing", bound="ClosesOnExit")


class ClosesOnExit:
    """``with executor:`` closes it on the way out, killing what still runs when the block
    raised; ``closed`` says whether ``close`` ran. For the executors that own processes."""

    _closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, *, kill: bool = False) -> None:
        raise NotImplementedError

    def __enter__(self: _Closing) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)


class Executor(Protocol):
    """What the scheduler needs from a place that runs attempts.

    Optional: a ``prefetch_below_s`` attribute, how short recent attempts must be for the
    scheduler to queue more behind busy workers (default ``scheduler.ready.PREFETCH_BELOW_S``,
    5 ms; the Dask executor, whose round trip is far longer, says 1 s)."""

    @property
    def capacity(self) -> int:
        """How many attempts can run at once."""
        ...

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None,
             max_worker_memory_mb: float | None = None) -> None:
        """Be ready to run ``size`` attempts at once; reuse what is already running.

        ``max_tasks_per_worker``: the run's policy (replace a worker after that many attempts);
        ``max_worker_memory_mb``: the run's policy (recycle a worker that grew past it; an
        executor without local workers ignores it). None keeps the executor's own setting.
        """
        ...

    def prepare(self, attempt: Attempt) -> None:
        """Serialise the attempt now; raise ``SerializationError`` if it cannot be sent."""
        ...

    def idle(self) -> int:
        """Workers with nothing sent to them."""
        ...

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        """Send ``attempt`` to an idle worker, or (``queue``) behind a busy one.

        False when it was not taken (nothing idle, or too large to queue).
        """
        ...

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        """Stop the running attempt ``ticket`` (SIGTERM, or SIGKILL when ``force``) with its
        whole process tree; the outcome arrives later as ``AttemptLost``. Returns the pids."""
        ...

    def revoke(self, ticket: int) -> bool:
        """Withdraw ``ticket`` if it was sent but has not started; True when withdrawn (no
        event follows). False once it began, or when the executor cannot tell.
        """
        ...

    def memory(self, ticket: int) -> int | None:
        """Resident bytes of the process tree running ``ticket``, if it is running."""
        ...

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        """Block until something happens (or ``timeout`` seconds pass, or ``wakeup``)."""
        ...

    def wakeup(self) -> None:
        """Make a blocked ``wait`` return now. Safe to call from any thread."""
        ...

    def begin_run(self) -> None: ...

    def end_run(self) -> None: ...

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker (at once, with ``kill``) and release everything."""
        ...


def error_from_tuple(err: tuple[Any, ...]) -> TaskError:
    """The ``TaskError`` for an error tuple as a worker sends it (``workers.protocol``)."""
    kind, type_name, message, tb, chain, exc_bytes = err
    return TaskError(kind=kind, type=type_name, message=message, traceback=tb,
                     type_chain=tuple(chain), exception_bytes=exc_bytes)


def finished_value(task_id: str, ok: bool, form: int, payload: Any,
                   err: tuple[Any, ...] | None) -> tuple[bool, Any, TaskError | None]:
    """``(ok, value, error)`` of a DONE as a worker sends it: the value unpickled (a large
    ``bytes`` result, form RAW, as it came: no second copy). A value that cannot be unpickled
    here is the task's pickling error."""
    if not ok:
        assert err is not None
        return False, None, error_from_tuple(err)
    if form == RAW:
        return True, payload, None
    try:
        return True, pickle.loads(payload), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a __reduce__ too: only this task fails
        return False, None, TaskError(
            kind="pickling", type=type(exc).__qualname__,
            message=f"task {task_id!r}: its result could not be unpickled in the parent: "
                    f"{_safe_str(exc)}")


def finished_reports(task_id: str, raw: Mapping[str, bytes] | None) -> Mapping[str, Any]:
    """The ``report()`` figures of a DONE, each pickled apart in the worker. A figure that
    cannot be unpickled here is dropped, and ``reports_error`` on the result says which."""
    if not raw:
        return {}
    reports: dict[str, Any] = {}
    lost: list[str] = []
    for name, data in raw.items():
        try:
            reports[name] = pickle.loads(data)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit from a __reduce__ too
            lost.append(f"{name!r} could not be unpickled in the parent: "
                        f"{type(exc).__qualname__}: {_safe_str(exc)}")
    if lost:
        worker_side = reports.pop("reports_error", None)
        reports["reports_error"] = "; ".join(([worker_side] if worker_side else []) + lost)
    return reports


def attempt_finished(task_id: str, ticket: int, pid: int | None, at: float,
                     done: tuple[Any, ...], worker: str | None = None) -> AttemptFinished:
    """The ``AttemptFinished`` for the fields of a DONE after its ticket: ``(ok, form, value,
    error, run_s, cpu_s, peak_rss, reports, tails, retire)`` (``workers.protocol``)."""
    ok, form, payload, err, run_s, cpu_s, peak, raw_reports, tails = done[:9]
    ok, value, error = finished_value(task_id, ok, form, payload, err)
    out, err_tail = tails if tails is not None else (None, None)
    reports = finished_reports(task_id, raw_reports) if raw_reports else {}
    return AttemptFinished(ticket, pid, at, ok, value, error, run_s, cpu_s, peak, reports,
                           worker, out, err_tail)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<str() failed on {type(exc).__qualname__}>"
