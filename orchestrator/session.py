"""One run's session: it checks out an executor, owns the run's event stream and its interrupts,
drives the scheduler (to the end, as a stream, or on a thread for asyncio) and has the run
judged before it finishes.

Unless an executor is given, a session uses the pool of worker processes kept warm between runs
(a private one while another thread's run holds it). Whatever stops a run early (Ctrl-C,
SIGTERM, an async cancel, an error, the consumer closing a stream) kills every worker before
the exception goes on.
"""

from __future__ import annotations

import asyncio
import functools
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Generator, Iterable, Iterator, Sequence, Sized

from .clock import Clock, MonotonicClock
from .executors.base import Executor
from .executors.local.warm import release_shared_pool, shared_pool
from .gating.gates import Gate
from .gating.judge import Judge, Merge
from .interrupts import InterruptFlag, attach_partial_result, interrupt_guard
from .loop_thread import Ended, Handoff, LoopThread
from .model.errors import SpecError
from .model.graph import TaskGraph
from .model.policy import OrchestrationPolicy
from .model.results import OrchestrationResult, TaskResult
from .model.spec import TaskSpec
from .scheduler.emitter import RunEvents
from .scheduler.facts import task_result
from .scheduler.loop import Scheduler
from .scheduler.records import TaskRecord
from .scheduler.state import StopReason
from .store.run_binding import StoreOptions
from .telemetry.costs import CostLike, as_cost_model
from .telemetry.events import EventHandler

__all__ = ["Session"]

_THREAD_NAME = "orchestrator-loop"


class _Cancelled(Exception):
    """The async caller was cancelled; the run was stopped."""


class Session:
    """One run of ``tasks`` (a graph, or a flat batch). ``retain=False`` streams the results
    (``stream()``); otherwise ``execute()`` returns the judged result."""

    def __init__(self, tasks: TaskGraph | Iterable[TaskSpec], policy: OrchestrationPolicy | None,
                 on_event: EventHandler | Sequence[EventHandler] | None,
                 executor: Executor | None, clock: Clock | None,
                 *, retain: bool, gates: Sequence[Gate] = (), merge: Merge | None = None,
                 cost: CostLike | None = None, store: StoreOptions | None = None) -> None:
        if policy is not None and not isinstance(policy, OrchestrationPolicy):
            raise SpecError(f"policy must be an OrchestrationPolicy, got {policy!r}")
        self.tasks = tasks
        self.policy = policy or OrchestrationPolicy()
        self.clock = clock or MonotonicClock()
        # off_loop: no sink or callback can delay the loop (scheduler/emitter.py).
        self.events = RunEvents(on_event, self.clock, off_loop=True)
        self.executor = executor
        self.retain = retain
        self.judge = Judge(tuple(gates), merge)
        self.cost = as_cost_model(cost) if cost is not None else None
        self._async_cancel = InterruptFlag()  # set by cancel(), from another thread
        self._active: Executor | None = None
        self._pool_shut_down = False  # shutdown_shared_pool() was called during the run
        # Opened now: a bad store or an unknown run to resume fails before anything runs.
        self.store = store.bind() if store is not None else None

    # -- the ways to run ------------------------------------------------------------------------

    def execute(self) -> OrchestrationResult:
        """Run to the end, judge, finish; the result with its verdicts and merged value. The
        loop runs on its own thread; the gates are judged here once it is done."""
        with self._checkout() as executor:
            sched = self._scheduler(executor)
            with interrupt_guard(executor.wakeup) as signals:
                passed = True
                try:
                    self._drive_on_thread(sched, signals)
                    run_task = functools.partial(self._run_alone, executor, signals)
                    judged = self.judge(sched.provisional_result(), events=self.events,
                                        policy=self.policy, run_task=run_task, signals=signals)
                    passed = all(v.passed for v in judged.gates)
                except KeyboardInterrupt as exc:
                    # Keep what finished: the caller (the CLI) reports and saves the partial run.
                    attach_partial_result(exc, sched.result())
                    raise
                finally:
                    sched.finish_run(gates_passed=passed)
                    self.events.close()  # every event delivered, sinks flushed
                    self._unbind()
            return replace(sched.result(), gates=judged.gates, merged=judged.merged)

    def stream(self) -> Iterator[TaskResult]:
        """Yield each task's result as it finishes; closing the iterator stops the run."""
        with self._checkout() as executor:
            with interrupt_guard(executor.wakeup) as signals:
                handoff: Handoff[TaskResult] = Handoff(self._handoff_bound(), executor.wakeup)
                body = functools.partial(self._stream_on_loop, executor, signals, handoff)
                thread = LoopThread(body, self.cancel, _THREAD_NAME).start()
                try:
                    while True:
                        try:
                            item = handoff.get()
                        except Ended:
                            break
                        yield item
                finally:
                    # A consumer that stops early (close, break, an error) stops the run: the
                    # loop kills what runs and finishes the run before this goes on.
                    thread.finish_quietly()
                    self._unbind()

    async def execute_async(self) -> OrchestrationResult:
        """``execute()`` on a thread; cancelling the awaiting task kills the running workers
        before the cancellation goes on."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._execute_or_cancelled)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            self.cancel()
            try:
                await future  # the workers are dead when this returns
            except BaseException:
                pass
            raise
        if result is None:
            raise asyncio.CancelledError()
        return result

    def cancel(self) -> None:
        """Ask the run to stop (any thread)."""
        self._async_cancel.cancelled = True
        if self._active is not None:
            self._active.wakeup()

    # -- on the loop's thread -------------------------------------------------------------------

    def _stream_on_loop(self, executor: Executor, signals: InterruptFlag,
                        handoff: Handoff[TaskResult]) -> None:
        sched = self._scheduler(executor)
        try:
            for finished in self._steps(sched, signals, hold=handoff.full):
                if finished:
                    handoff.put([task_result(rec) for rec in finished])
        except BaseException as exc:
            handoff.end(exc)
            raise
        finally:
            sched.finish_run()
            self.events.close()  # every event delivered, sinks flushed
        handoff.end()

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _checkout(self) -> Iterator[Executor]:
        """The caller's executor, or the shared warm pool (given back healthy or not)."""
        per_worker = self.policy.max_tasks_per_worker
        grown = self.policy.max_worker_memory_mb
        if self.executor is not None:
            size = self._size(self.executor.capacity)
            self.executor.open(self.clock, size, max_tasks_per_worker=per_worker,
                               max_worker_memory_mb=grown)
            self._active = self.executor
            yield self.executor
            return
        pool, shared = shared_pool(on_shutdown=self._on_pool_shutdown)
        healthy = False
        try:
            pool.open(self.clock, self._size(pool.capacity), max_tasks_per_worker=per_worker,
                      max_worker_memory_mb=grown)
            self._active = pool
            yield pool
            healthy = True
        finally:
            release_shared_pool(pool, shared, healthy=healthy)

    def _size(self, warm: int) -> int:
        """Workers for this run: ``max_concurrency``, but none started beyond what its tasks
        can keep busy (``-j 32`` for one task starts one). Workers already warm stay."""
        limit = self.policy.max_concurrency
        busy = most_busy(self.tasks)
        if busy is None:
            return limit
        return max(1, min(limit, max(busy, warm)))

    def _on_pool_shutdown(self) -> None:
        """``shutdown_shared_pool()`` while this run holds the pool (any thread): the run stops,
        its tasks end cancelled, and the pool closes when the run gives it back."""
        self._pool_shut_down = True
        if self._active is not None:
            self._active.wakeup()

    def _handoff_bound(self) -> int:
        """How many results may wait for a stream's consumer before the loop holds admissions:
        enough that a consumer keeping up never holds the workers back, few enough that large
        values do not pile up (at most this plus what was running wait for the consumer)."""
        return handoff_bound(self.policy)

    def _scheduler(self, executor: Executor) -> Scheduler:
        return Scheduler(self.tasks, self.policy, executor, self.clock, events=self.events,
                         retain=self.retain, cost=self.cost, store=self.store)

    def _unbind(self) -> None:
        if self.store is not None:
            self.store.close()

    def _steps(self, sched: Scheduler, signals: InterruptFlag, *,
               hold: Callable[[], bool] | None = None) -> Generator[list[TaskRecord], None, None]:
        """Drive ``sched`` to its end, yielding what each step finished; whatever stops it
        first kills every worker (``abort``) before the exception goes on. While ``hold()``
        says so, the scheduler admits nothing new (the consumer is behind)."""
        sched.start()
        try:
            while not sched.done:
                if signals.raised:
                    raise signals.exception()
                if self._async_cancel.raised:
                    raise _Cancelled()
                if self._pool_shut_down and not sched.stopping:
                    sched.stop(StopReason.POOL_SHUTDOWN)
                timeout = sched.next_timeout()
                if hold is not None:
                    held, sched.holding = sched.holding, hold()
                    if held and not sched.holding:
                        # Room again: admit now. A step waits first, and with nothing running
                        # nothing else would end that wait.
                        timeout = 0.0
                yield sched.step(timeout)
        except BaseException:  # GeneratorExit too
            sched.abort()
            raise

    def _drive(self, sched: Scheduler, signals: InterruptFlag) -> None:
        for _ in self._steps(sched, signals):
            pass

    def _drive_on_thread(self, sched: Scheduler, signals: InterruptFlag) -> None:
        """``_drive`` on the loop's own thread; this thread waits (and takes signals)."""
        body = functools.partial(self._drive, sched, signals)
        LoopThread(body, self.cancel, _THREAD_NAME).start().wait()

    def _run_alone(self, executor: Executor, signals: InterruptFlag, spec: TaskSpec,
                   policy: OrchestrationPolicy, run_id: str) -> TaskResult:
        """Run ``spec`` as a one-task run on ``executor``, without events (an in-worker
        gate)."""
        sched = Scheduler(TaskGraph([spec]), policy, executor, self.clock, run_id=run_id)
        self._drive_on_thread(sched, signals)
        return sched.result()[spec.id]

    def _execute_or_cancelled(self) -> OrchestrationResult | None:
        try:
            return self.execute()
        except _Cancelled:
            return None


def handoff_bound(policy: OrchestrationPolicy) -> int:
    """The stream's hand-off bound for ``policy``: ``max(16, 2 * max_concurrency)``."""
    return max(16, 2 * policy.max_concurrency)


# Above this many tasks a graph's longest chain is not measured (it costs a pass over the
# graph; with that many tasks the count alone rarely leaves a worker unused).
_CHAIN_LIMIT = 10_000


def most_busy(tasks: TaskGraph | Iterable[TaskSpec]) -> int | None:
    """How many of ``tasks`` can run at once, at most (None: not known, a generator). A task
    of a chain runs only after the one before it, so a graph of ``n`` tasks whose longest chain
    has ``c`` runs at most ``n - c + 1`` at once (exact for a chain and for a flat batch)."""
    if isinstance(tasks, TaskGraph):
        if any(spec.mapped for spec in tasks):
            return None  # a mapped task (Each) grows the graph at run time: not known
        n = len(tasks)
        if n == 0 or n > _CHAIN_LIMIT:
            return n
        depth: dict[str, int] = {}
        for tid in tasks.topological_order():
            depth[tid] = 1 + max((depth[d] for d in tasks.deps(tid)), default=0)
        return n - max(depth.values()) + 1
    if isinstance(tasks, Sized):
        return len(tasks)
    return None
