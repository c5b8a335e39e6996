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
import contextlib
import functools
from contextlib import contextmanager
from dataclasses import replace
from typing import Generator, Iterable, Iterator, Sequence

from .clock import Clock, MonotonicClock
from .executors.base import Executor
from .executors.local.warm import release_shared_pool, shared_pool
from .gating.gates import Gate
from .gating.judge import Judge, Merge
from .interrupts import InterruptFlag, attach_partial_result, interrupt_guard
from .model.errors import SpecError
from .model.graph import TaskGraph
from .model.policy import OrchestrationPolicy
from .model.results import OrchestrationResult, TaskResult
from .model.spec import TaskSpec
from .scheduler.emitter import RunEvents
from .scheduler.facts import task_result
from .scheduler.loop import Scheduler
from .scheduler.records import TaskRecord
from .store.run_binding import StoreOptions
from .telemetry.costs import CostLike, as_cost_model
from .telemetry.events import EventHandler

__all__ = ["Session"]


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
        # Opened now: a bad store or an unknown run to resume fails before anything runs.
        self.store = store.bind() if store is not None else None

    # -- the ways to run ------------------------------------------------------------------------

    def execute(self) -> OrchestrationResult:
        """Run to the end, judge, finish; the result with its verdicts and merged value."""
        with self._checkout() as executor:
            sched = self._scheduler(executor)
            with interrupt_guard(executor.wakeup) as signals:
                passed = True
                try:
                    self._drive(sched, signals)
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
            sched = self._scheduler(executor)
            with interrupt_guard(executor.wakeup) as signals:
                try:
                    # closing(): a consumer that stops early closes the steps now, which kills
                    # the running tasks before this generator's own exit goes on.
                    with contextlib.closing(self._steps(sched, signals)) as steps:
                        for finished in steps:
                            for rec in finished:
                                yield task_result(rec)
                finally:
                    sched.finish_run()
                    self.events.close()  # every event delivered, sinks flushed
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

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _checkout(self) -> Iterator[Executor]:
        """The caller's executor, or the shared warm pool (given back healthy or not)."""
        size = self.policy.max_concurrency
        per_worker = self.policy.max_tasks_per_worker
        grown = self.policy.max_worker_memory_mb
        if self.executor is not None:
            self.executor.open(self.clock, size, max_tasks_per_worker=per_worker,
                               max_worker_memory_mb=grown)
            self._active = self.executor
            yield self.executor
            return
        pool, shared = shared_pool()
        healthy = False
        try:
            pool.open(self.clock, size, max_tasks_per_worker=per_worker,
                      max_worker_memory_mb=grown)
            self._active = pool
            yield pool
            healthy = True
        finally:
            release_shared_pool(pool, shared, healthy=healthy)

    def _scheduler(self, executor: Executor) -> Scheduler:
        return Scheduler(self.tasks, self.policy, executor, self.clock, events=self.events,
                         retain=self.retain, cost=self.cost, store=self.store)

    def _unbind(self) -> None:
        if self.store is not None:
            self.store.close()

    def _steps(self, sched: Scheduler,
               signals: InterruptFlag) -> Generator[list[TaskRecord], None, None]:
        """Drive ``sched`` to its end, yielding what each step finished; whatever stops it
        first kills every worker (``abort``) before the exception goes on."""
        sched.start()
        try:
            while not sched.done:
                if signals.raised:
                    raise signals.exception()
                if self._async_cancel.raised:
                    raise _Cancelled()
                yield sched.step(sched.next_timeout())
        except BaseException:  # GeneratorExit too
            sched.abort()
            raise

    def _drive(self, sched: Scheduler, signals: InterruptFlag) -> None:
        for _ in self._steps(sched, signals):
            pass

    def _run_alone(self, executor: Executor, signals: InterruptFlag, spec: TaskSpec,
                   policy: OrchestrationPolicy, run_id: str) -> TaskResult:
        """Run ``spec`` as a one-task run on ``executor``, without events (an in-worker
        gate)."""
        sched = Scheduler(TaskGraph([spec]), policy, executor, self.clock, run_id=run_id)
        self._drive(sched, signals)
        return sched.result()[spec.id]

    def _execute_or_cancelled(self) -> OrchestrationResult | None:
        try:
            return self.execute()
        except _Cancelled:
            return None
