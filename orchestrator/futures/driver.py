"""The pool's loop thread: it owns the run (one per pool) and everything the scheduler holds.

Other threads talk to it through thread-safe deques (submissions, kill and revoke requests), and
wake its ``executor.wait`` with ``executor.wakeup()`` (at most one wake-up pending at a time,
so a burst of submits costs one pipe write). It takes a submission only when the scheduler has
room (``max_workers`` running plus ``max_pending`` queued ahead); the future stays pending until
its task begins in a worker, and a ``cancel()`` meanwhile is answered here (``revoke``: the task
is taken back from the ready queue or from its worker's pipe, ``future.py``). A result is set
here when its future has no done-callback; any other outcome goes to the ``Completer`` thread:
a done-callback never runs on this thread, so none can delay a deadline, and this thread holds
no lock while anything user-written runs.

The driver holds no reference to the ``ProcessPool`` in front of it, so a pool dropped without
``shutdown()`` is collected; its finalizer closes the intake and the run ends once its tasks
have (``weakref.finalize``, as the stdlib's pool does with its wake-up weakref).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import Sequence

from ..clock import Clock
from ..executors.base import Executor
from ..model.policy import OrchestrationPolicy
from ..model.spec import TaskSpec
from ..scheduler.emitter import RunEvents
from ..scheduler.intake import LiveScheduler
from ..scheduler.records import TaskRecord
from ..scheduler.state import TaskState
from ..telemetry.events import EventHandler
from .completion import Completer, Outcome
from .future import (
    PENDING,
    PoolFuture,
    cancel_given_back,
    mark_running,
    notify_cancelled,
    set_result_here,
)
from .metrics import MetricsSoFar
from .submissions import Submissions

__all__ = ["Driver", "PoolFuture"]

_running: weakref.WeakSet[Driver] = weakref.WeakSet()


def _finish_all_at_exit() -> None:
    """At interpreter exit, let every pool finish what was submitted (as the stdlib's pool
    does), before the local pools' own exit handler kills whatever workers are left."""
    drivers = list(_running)
    for driver in drivers:
        driver.close(cancel_pending=False)
    for driver in drivers:
        driver.join()


# Run before the atexit handlers, as concurrent.futures.process registers its own.
getattr(threading, "_register_atexit", lambda fn: None)(_finish_all_at_exit)


class _Revoke:
    """One ``Driver.revoke`` request: the futures, and the loop's answers once ``done``."""

    __slots__ = ("futures", "answers", "done")

    def __init__(self, futures: list[PoolFuture]) -> None:
        self.futures = futures
        self.answers = [False] * len(futures)
        self.done = threading.Event()


class Driver:
    """One pool's run, driven on its own thread (``start``), ended by ``close``."""

    def __init__(self, executor: Executor, owns_executor: bool, policy: OrchestrationPolicy,
                 on_event: EventHandler | Sequence[EventHandler] | None,
                 clock: Clock) -> None:
        self.executor = executor
        self.policy = policy
        self.clock = clock
        self._owns = owns_executor
        self._queue: Submissions[tuple[PoolFuture, TaskSpec]] = Submissions()
        self._kills: deque[str] = deque()
        self._revokes: deque[_Revoke] = deque()
        self._revoked: set[str] = set()  # given back to Future.cancel: ended, nothing to set
        self._futures: dict[str, PoolFuture] = {}  # taken by the scheduler; this thread's
        self._closing = False
        self._wake_pending = False
        # Set (under the lock) before the executor closes: a late wake-up must not write to
        # its closed pipe, whose descriptor number may belong to another file by then.
        self._wake_lock = threading.Lock()
        self._executor_closed = False
        self.failure: BaseException | None = None  # what broke the loop, if anything did
        self.events = RunEvents(on_event, clock, off_loop=True)
        self.metrics = MetricsSoFar(policy.max_concurrency, clock)
        self.sched = LiveScheduler(self._take, policy, executor, clock, events=self.events)
        self.sched.on_first_start = self._begun
        self._completer = Completer()
        self._thread = threading.Thread(target=self._run, name="orchestrator-pool-loop",
                                        daemon=True)
        self._started = threading.Event()

    # -- any thread ------------------------------------------------------------------------------

    def start(self) -> None:
        _running.add(self)
        self._thread.start()
        self._started.wait()
        if self.failure is not None:
            raise self.failure

    def put(self, future: PoolFuture, spec: TaskSpec) -> None:
        """Queue a submission (the caller checked the pool is open)."""
        self._queue.put((future, spec), spec.priority)
        self._wake()

    def kill(self, task_id: str) -> None:
        self._kills.append(task_id)
        self._wake()

    def revoke(self, futures: list[PoolFuture]) -> list[bool]:
        """Ask the loop to give back each of ``futures`` (taken, not begun); whether it did.
        The caller then cancels those."""
        request = _Revoke(futures)
        with self._wake_lock:
            if self._executor_closed:  # the loop has ended: every task with it
                return request.answers
            self._revokes.append(request)
        self._wake(force=True)
        request.done.wait()
        return request.answers

    def close(self, cancel_pending: bool) -> None:
        """No more submissions; with ``cancel_pending`` every future not begun is cancelled."""
        self._closing = True
        if cancel_pending:
            while (item := self._queue.take()) is not None:
                item[0].cancel()
            taken = [f for f in self._futures.copy().values() if f._driver is not None]
            if taken and threading.current_thread() is not self._thread:
                for future, given in zip(taken, self.revoke(taken), strict=True):
                    if given:
                        cancel_given_back(future)
        self._wake(force=True)

    def join(self, timeout: float | None = None) -> None:
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if threading.current_thread() is not self._completer.thread:
            self._completer.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _wake(self, force: bool = False) -> None:
        if force or not self._wake_pending:
            self._wake_pending = True
            with self._wake_lock:
                if not self._executor_closed:
                    self.executor.wakeup()

    # -- the loop thread -------------------------------------------------------------------------

    def _take(self) -> TaskSpec | None:
        """The next submission not cancelled; None if none now. Its future stays pending (and
        cancellable through ``revoke``) until the task begins."""
        queue = self._queue
        while (item := queue.take()) is not None:
            future, spec = item
            lock = future._condition._lock  # type: ignore[attr-defined]  # see future.py
            lock.acquire()
            if future._state != PENDING:  # cancelled (the only way out of pending)
                lock.release()
                notify_cancelled(future)
                continue
            future._driver = self
            lock.release()
            self._futures[spec.id] = future
            return spec
        return None

    def _begun(self, task_id: str) -> None:
        """The task's first attempt began: its future is running from now."""
        future = self._futures.get(task_id)
        if future is not None and future._driver is not None:
            mark_running(future)

    def _answer(self, request: _Revoke) -> None:
        """Give back each future of ``request`` whose task has not begun (ends cancelled)."""
        for i, future in enumerate(request.futures):
            task_id = future.task_id
            if self._futures.get(task_id) is not future or future._driver is None:
                continue  # begun or ended
            if self.sched.revoke_task(task_id):
                future._driver = None
                self._revoked.add(task_id)
                request.answers[i] = True
            else:
                mark_running(future)  # its worker claimed it: it runs
        request.done.set()

    def _run(self) -> None:
        sched = self.sched
        try:
            self.executor.open(self.clock, self.policy.max_concurrency,
                               max_tasks_per_worker=self.policy.max_tasks_per_worker)
            sched.start()
        except BaseException as exc:
            self.failure = exc
            self._started.set()
            self._finish(started=False)
            return
        self._started.set()
        try:
            self._loop(sched)
        except BaseException as exc:  # a bug, or the executor failed: fail what is left
            self.failure = exc
            sched.abort()
        finally:
            self._finish(started=True)

    def _loop(self, sched: LiveScheduler) -> None:
        while True:
            self._wake_pending = False  # a submit from here on wakes the wait again
            closing = self._closing
            while self._kills:
                sched.kill_task(self._kills.popleft())
            while self._revokes:
                self._answer(self._revokes.popleft())
            if closing and not self._queue:
                sched.close()
            if sched.done:
                return
            timeout = 0.0 if self._queue and sched.room else sched.next_timeout()
            finished = sched.step(timeout)
            if finished:
                self._hand_over(finished)
                del finished  # the records hold the tasks' arguments and values: drop them now

    def _hand_over(self, finished: list[TaskRecord]) -> None:
        futures, revoked = self._futures, self._revoked
        self.metrics.add(finished)
        batch: list[Outcome] = []
        for rec in finished:
            task_id = rec.spec.id
            future = futures.pop(task_id, None)
            if future is None:
                continue
            if revoked and task_id in revoked:  # cancelled by its caller: nothing to set
                revoked.discard(task_id)
                continue
            future.duration = rec.duration
            future.attempts = rec.attempt
            if rec.state is TaskState.SUCCEEDED:
                # No callback to run: set here, sparing the completion thread a hand-off.
                if not set_result_here(future, rec.value):
                    batch.append((future, True, rec.value, None, None))
            else:
                timeout = rec.spec.timeout or self.policy.task_timeout
                batch.append((future, False, None, rec.error, timeout))
        self._completer.put(batch)

    def _finish(self, *, started: bool) -> None:
        sched = self.sched
        try:
            if started:
                sched.finish_run()
            self.metrics.end()
            self.events.close()
        finally:
            with self._wake_lock:
                self._executor_closed = True
            while self._revokes:  # nothing begins any more; what has not, never will
                self._revokes.popleft().done.set()
            try:
                if self._owns:
                    self.executor.close(kill=self.failure is not None)
            finally:  # whatever the close raised, no future is left waiting
                self._fail_leftovers()
                self._completer.close()

    def _fail_leftovers(self) -> None:
        """Whatever the run could not end (the loop broke): its futures get the error."""
        error = RuntimeError(f"the pool's loop stopped: {self.failure!r}")
        leftovers = [*self._futures.values()]
        self._futures.clear()
        while (item := self._queue.take()) is not None:
            if item[0].set_running_or_notify_cancel():
                leftovers.append(item[0])
        self._completer.put([(f, False, None, error, None) for f in leftovers])
