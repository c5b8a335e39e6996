"""``PoolFuture``, and what the pool's threads do to a future's state.

A pool future is pending until its task's first attempt begins in a worker, not merely until the
pool's loop takes it, so ``cancel()`` succeeds as long as the call has not begun: waiting in the
pool's queue (the future is simply cancelled; the loop skips it) or taken by the loop (the loop
is asked to give it back, from its own queue or from a worker's pipe, ``Driver.revoke``).

The states are the stdlib's (``concurrent.futures._base``). Everything done under a future's
lock here is the stdlib's own bookkeeping; a done-callback always runs with no lock held.
"""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import Driver

__all__ = ["PoolFuture", "cancel_given_back", "notify_cancelled", "mark_running",
           "set_result_here", "PENDING"]


class PoolFuture(Future[Any]):
    """A ``concurrent.futures.Future`` that knows its task: ``task_id``, and once done
    ``duration`` (the last attempt's run time in the worker) and ``attempts``.

    It is running once its task's first attempt has begun in a worker: until then ``cancel()``
    succeeds, whether the task waits in the pool's queue or in a worker's pipe."""

    task_id: str = ""
    duration: float | None = None
    attempts: int = 0
    _driver: Driver | None = None  # the loop that took it, until it began or ended

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


def mark_running(future: PoolFuture) -> None:
    """The task began: ``set_running_or_notify_cancel`` less the locking it repeats."""
    with future._condition:
        if future._state == PENDING:
            future._state = RUNNING
        future._driver = None


def set_result_here(future: PoolFuture, value: Any) -> bool:
    """``future.set_result(value)`` on this thread if it has no done-callback (so no user code
    runs here); False if it has one, or is not pending or running: the caller hands it on.
    Checked under the future's lock, so a callback added meanwhile finds it done and runs on
    the thread that adds it, as the stdlib's do."""
    with future._condition:
        state = future._state
        if future._done_callbacks or (state != RUNNING and state != PENDING):  # type: ignore
            return False
        future._result = value
        future._state = FINISHED
        for waiter in future._waiters:
            waiter.add_result(future)
        future._condition.notify_all()
    future._driver = None
    return True
