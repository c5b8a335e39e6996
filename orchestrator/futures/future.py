"""``PoolFuture``, and what the pool's threads do to a future's state.

A pool future is pending until its task's first attempt begins in a worker, not merely until the
pool's loop takes it, so ``cancel()`` succeeds as long as the call has not begun: waiting in the
pool's queue (the future is simply cancelled; the loop skips it) or taken by the loop (the loop
is asked to give it back, from its own queue or from a worker's pipe, ``Driver.revoke``).

The states are the stdlib's (``concurrent.futures._base``). Everything done under a future's
lock here is the stdlib's own bookkeeping; a done-callback always runs with no lock held.
"""

from __future__ import annotations

import threading
from _thread import RLock
from collections import deque
from concurrent.futures import Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import Driver

__all__ = ["PoolFuture", "cancel_given_back", "notify_cancelled", "mark_running",
           "set_result_here", "PENDING"]


class _Condition(threading.Condition):
    """A ``threading.Condition`` on an ``RLock`` (the one a ``Future`` makes), without the five
    bound methods of its lock that ``Condition.__init__`` stores on each instance. Those are
    objects the garbage collector tracks: half of a future's, and a pool holding thousands of
    futures paid for them in collections (gen 1 and 2 passes over every waiting future)."""

    def __init__(self) -> None:  # not Condition.__init__: everything it sets is here
        self._lock = RLock()
        self._waiters: deque[Any] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def _release_save(self) -> Any:
        return self._lock._release_save()  # type: ignore[attr-defined]

    def _acquire_restore(self, state: Any) -> None:
        self._lock._acquire_restore(state)  # type: ignore[attr-defined]

    def _is_owned(self) -> bool:
        return self._lock._is_owned()  # type: ignore[attr-defined, no-any-return]


class PoolFuture(Future[Any]):
    """A ``concurrent.futures.Future`` that knows its task: ``task_id``, and once done
    ``duration`` (the last attempt's run time in the worker) and ``attempts``.

    It is running once its task's first attempt has begun in a worker: until then ``cancel()``
    succeeds, whether the task waits in the pool's queue or in a worker's pipe."""

    task_id: str = ""
    duration: float | None = None
    attempts: int = 0
    _driver: Driver | None = None  # the loop that took it, until it began or ended

    def __init__(self) -> None:
        # ``Future.__init__``'s fields (a test pins the set), on the leaner condition.
        self._condition = _Condition()
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks: list[Any] = []
        # Ours too, all set here: an attribute first set later, once other futures exist, made
        # CPython give each instance a dict of its own (another object for the collector).
        self.task_id = ""
        self._driver = None
        self.duration = None
        self.attempts = 0

    def cancel(self) -> bool:
        """The stdlib's ``Future.cancel``: False if the call has begun or ended, else cancel it
        and True. ``wait`` and ``as_completed`` see it done at once (the stdlib's pool tells
        them only once its queue reaches the call)."""
        with self._condition:
            state = self._state
            if state == RUNNING or state == FINISHED:
                return False
            if state == CANCELLED or state == CANCELLED_AND_NOTIFIED:
                return True
            driver = self._driver
            if driver is None:  # not taken: checked and cancelled under one lock (``take``)
                self._state = CANCELLED
                self._condition.notify_all()
                self.set_running_or_notify_cancel()
        if driver is None:
            self._invoke_callbacks()  # type: ignore[attr-defined]
            return True
        return driver.revoke([self])[0] and cancel_given_back(self)


def cancel_given_back(future: Future[Any]) -> bool:
    """Cancel ``future``, which the loop gave back (nothing else holds it now), and tell its
    waiters."""
    if not Future.cancel(future):
        return False
    notify_cancelled(future)
    return True


def notify_cancelled(future: Future[Any]) -> None:
    """Tell ``wait`` and ``as_completed`` that ``future`` was cancelled, if not told yet."""
    with future._condition:
        if future._state == CANCELLED:
            future.set_running_or_notify_cancel()


# The loop's own changes below take the condition's lock itself (its ``acquire`` and
# ``release`` are C methods) rather than ``with``: ``Condition.__enter__``/``__exit__`` are two
# Python calls, and these run for every task.

def mark_running(future: PoolFuture) -> None:
    """The task began: ``set_running_or_notify_cancel`` less the locking it repeats."""
    lock = future._condition._lock  # type: ignore[attr-defined]
    lock.acquire()
    if future._state == PENDING:
        future._state = RUNNING
    future._driver = None
    lock.release()


def set_result_here(future: PoolFuture, value: Any) -> bool:
    """``future.set_result(value)`` on this thread if it has no done-callback (so no user code
    runs here); False if it has one, or is not pending or running: the caller hands it on.
    Checked under the future's lock, so a callback added meanwhile finds it done and runs on
    the thread that adds it, as the stdlib's do."""
    condition = future._condition
    lock = condition._lock  # type: ignore[attr-defined]
    lock.acquire()
    try:
        state = future._state
        if future._done_callbacks or (state != RUNNING and state != PENDING):
            return False
        future._result = value
        future._state = FINISHED
        for waiter in future._waiters:  # wait() and as_completed()
            waiter.add_result(future)
        if condition._waiters:  # type: ignore[attr-defined]  # threads blocked in result()
            condition.notify_all()
        future._driver = None
        return True
    finally:
        lock.release()
