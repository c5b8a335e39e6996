"""The futures pool's pure parts: the submission queue's order, the error mapping, the future."""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import CancelledError, Future, as_completed, wait

from orchestrator.futures.errors import (
    MemoryLimitExceeded,
    TaskKilled,
    TaskPicklingError,
    TaskTimeout,
    WorkerCrashed,
    exception_for,
)
from orchestrator.futures.future import PoolFuture
from orchestrator.futures.submissions import Submissions
from orchestrator.model.results import RemoteTraceback, TaskError
from tests.futures.helpers import tracked_reachable


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


# -- PoolFuture on its lean condition ----------------------------------------------

def test_a_pool_future_sets_every_field_a_stdlib_future_sets():
    ours, theirs = PoolFuture(), Future()
    assert set(vars(theirs)) <= set(vars(ours))
    for name, value in vars(theirs).items():
        if name != "_condition":
            assert getattr(ours, name) == value, name
    assert isinstance(ours._condition, threading.Condition)


def test_a_pool_future_holds_fewer_tracked_objects_than_a_stdlib_one():
    # Condition.__init__ stores five bound methods per instance: a pool holding thousands of
    # waiting futures paid for them in every collection.
    assert tracked_reachable(PoolFuture()) < tracked_reachable(Future()) - 4


def test_the_lean_condition_waits_notifies_and_reenters():
    future = PoolFuture()
    condition = future._condition
    with condition, condition:  # an RLock, as the stdlib's future's
        assert condition.wait(0) is False
    waiting, woken = threading.Event(), []

    def waiter() -> None:
        with condition:
            waiting.set()
            woken.append(condition.wait_for(lambda: future._state == "FINISHED", timeout=60))

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait()
    with condition:  # the waiter is inside wait(): it released the lock to get here
        future._state = "FINISHED"
        condition.notify_all()
    thread.join()
    assert woken == [True]
    assert condition.acquire(False) and condition.acquire(blocking=True, timeout=1)
    condition.release()
    condition.release()


def test_a_pool_future_works_with_wait_and_as_completed_beside_stdlib_ones():
    ours, theirs = PoolFuture(), Future()
    assert ours.set_running_or_notify_cancel()
    done = []
    thread = threading.Thread(target=lambda: done.extend(as_completed([ours, theirs],
                                                                      timeout=60)))
    thread.start()
    ours.set_result(1)
    theirs.set_exception(ValueError("x"))
    thread.join()
    assert set(done) == {ours, theirs}
    finished, pending = wait([ours, theirs], timeout=0)
    assert finished == {ours, theirs} and not pending
    assert ours.result(timeout=0) == 1
