"""The futures pool's pure parts: the submission queue's order, the error mapping."""

from __future__ import annotations

import pickle
from concurrent.futures import CancelledError

from orchestrator.futures.errors import (
    MemoryLimitExceeded,
    TaskKilled,
    TaskPicklingError,
    TaskTimeout,
    WorkerCrashed,
    exception_for,
)
from orchestrator.futures.submissions import Submissions
from orchestrator.model.results import RemoteTraceback, TaskError


def test_submissions_come_out_by_priority_then_order():
    q: Submissions[str] = Submissions()
    for item, priority in [("a", 0), ("low", -1), ("b", 0), ("hi1", 3), ("hi2", 3), ("top", 9),
                           ("lower", -5)]:
        q.put(item, priority)
    out = []
    while (item := q.take()) is not None:
        out.append(item)
    assert out == ["top", "hi1", "hi2", "a", "b", "low", "lower"]
    assert not q


def test_each_error_kind_becomes_its_exception():
    def err(kind, type_name="X", **kw):
        return TaskError(kind=kind, type=type_name, message=f"{kind} message", **kw)

    timeout = exception_for("t-1", err("timeout"), 2.5)
    assert isinstance(timeout, TaskTimeout) and isinstance(timeout, TimeoutError)
    assert (timeout.task_id, timeout.timeout, str(timeout)) == ("t-1", 2.5, "timeout message")
    crash = exception_for("t-2", err("crash", signal="SIGSEGV"), None)
    assert isinstance(crash, WorkerCrashed) and crash.signal == "SIGSEGV"
    assert isinstance(exception_for("t", err("memory"), None), MemoryLimitExceeded)
    assert isinstance(exception_for("t", err("cancelled", "TaskKilled"), None), TaskKilled)
    assert isinstance(exception_for("t", err("cancelled", "Cancelled"), None), CancelledError)
    pick = exception_for("t", TaskError(kind="pickling", type="PicklingError",
                                        message="cannot pickle args[0].args[1]: x"), None)
    assert isinstance(pick, TaskPicklingError) and isinstance(pick, pickle.PicklingError)
    assert isinstance(pick, TypeError) and str(pick) == "cannot pickle args[1]: x"


def test_a_tasks_own_exception_is_rebuilt_with_the_worker_traceback():
    original = KeyError("k")
    error = TaskError(kind="exception", type="KeyError", message="'k'", traceback="Traceback...",
                      exception_bytes=pickle.dumps(original))
    exc = exception_for("t", error, None)
    assert isinstance(exc, KeyError) and exc.args == ("k",)
    assert isinstance(exc.__cause__, RemoteTraceback) and exc.__cause__.tb == "Traceback..."
