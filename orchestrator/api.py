"""The public entry points: validate, build the graph, run a Scheduler, return the result.

``execute_graph`` / ``execute_parallel`` return an ``OrchestrationResult``; ``iter_parallel``
yields each ``TaskResult`` as it finishes (completion order, flat memory); the ``*_async`` twins
run the same loop on a thread and, when the awaiting task is cancelled, kill the running workers
before the cancellation propagates.

Unless ``executor=`` is given, runs use one pool of worker processes kept warm between calls
(shut down at interpreter exit, or by ``shutdown_shared_pool()``); a call made while that pool is
busy (another thread) gets a private pool for its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Generator, Iterable, Iterator, Sequence

from .clock import Clock, MonotonicClock
from .executors.base import Executor
from .executors.local.warm import release_shared_pool, shared_pool
from .gating.gates import Gate, GateVerdict, WorkerGate, coerce_verdict, run_gate
from .interrupts import InterruptFlag, attach_partial_result, interrupt_guard
from .model.errors import DuplicateTaskError, SpecError
from .model.graph import TaskGraph
from .model.policy import OrchestrationPolicy
from .model.results import OrchestrationResult, TaskResult
from .model.spec import TaskSpec
from .scheduler.loop import Scheduler
from .scheduler.state import TaskRecord
from .telemetry.costs import CostLike, as_cost_model
from .telemetry.events import EventHandler, EventType
from .telemetry.sinks import combine_handlers, flush_handlers

__all__ = [
    "execute_graph", "execute_parallel", "iter_parallel", "execute_graph_async",
    "execute_parallel_async",
]


def execute_graph(
    graph_or_tasks: TaskGraph | Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    clock: Clock | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
) -> OrchestrationResult:
    """Run a dependency graph; every task ends in exactly one terminal state.

    Bad input (duplicate ids, missing dependencies, cycles, malformed specs) raises before
    anything runs. A task's failure is data in the result, not an exception.
    ``merge`` combines the succeeded values into ``result.merged``; then each of ``gates``
    judges the result (a failed gate makes ``result.ok`` false; ``gates.in_worker`` runs one in
    a worker process). ``cost`` (a cost adapter, see ``orchestrator.telemetry.costs``) prices
    the run into ``result.metrics.cost_estimate``.
    """
    run = _Run(_as_graph(graph_or_tasks), policy, on_event, executor, clock, retain=True,
               gates=gates, merge=merge, cost=cost)
    return run.execute()


def execute_parallel(
    tasks: Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    clock: Clock | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
) -> OrchestrationResult:
    """Run independent tasks; ``tasks`` may be any iterable, a generator included (pulled lazily).

    A task with dependencies (``deps`` or a ``Ref``) is rejected: use ``execute_graph``.
    ``merge``, ``gates`` and ``cost`` as for ``execute_graph``.
    """
    run = _Run(_as_flat(tasks), policy, on_event, executor, clock, retain=True, gates=gates,
               merge=merge, cost=cost)
    return run.execute()


def iter_parallel(
    tasks: Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    clock: Clock | None = None,
) -> Iterator[TaskResult]:
    """Yield each task's result as it finishes; memory stays flat however many tasks come in.

    Closing the iterator early (``break``) stops the run: running tasks are killed.
    """
    run = _Run(_as_flat(tasks), policy, on_event, executor, clock, retain=False)
    return run.stream()


async def execute_graph_async(
    graph_or_tasks: TaskGraph | Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
) -> OrchestrationResult:
    """``execute_graph`` for asyncio programs. ``on_event`` is called from a worker thread."""
    run = _Run(_as_graph(graph_or_tasks), policy, on_event, executor, None, retain=True,
               gates=gates, merge=merge, cost=cost)
    return await run.execute_async()


async def execute_parallel_async(
    tasks: Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
) -> OrchestrationResult:
    """``execute_parallel`` for asyncio programs. ``on_event`` is called from a worker thread."""
    run = _Run(_as_flat(tasks), policy, on_event, executor, None, retain=True, gates=gates,
               merge=merge, cost=cost)
    return await run.execute_async()


# -- input checks ---------------------------------------------------------------------------


def _as_graph(graph_or_tasks: TaskGraph | Iterable[TaskSpec]) -> TaskGraph:
    if isinstance(graph_or_tasks, TaskGraph):
        return graph_or_tasks
    if isinstance(graph_or_tasks, (str, bytes, TaskSpec)):
        raise SpecError(f"expected a TaskGraph or an iterable of TaskSpecs, got {graph_or_tasks!r}")
    return TaskGraph(graph_or_tasks)


def _as_flat(tasks: Iterable[TaskSpec]) -> Iterable[TaskSpec]:
    """Check a list up front (nothing runs if one task is bad); leave a generator lazy."""
    if isinstance(tasks, (str, bytes, TaskSpec, TaskGraph)):
        raise SpecError(f"expected an iterable of TaskSpecs, got {tasks!r}")
    if isinstance(tasks, Sequence):
        seen: set[str] = set()
        for spec in tasks:
            if not isinstance(spec, TaskSpec):
                raise SpecError(f"expected a TaskSpec, got {spec!r}")
            if spec.all_deps:
                raise SpecError(
                    f"task {spec.id!r} has dependencies {list(spec.all_deps)}; flat batches take "
                    f"independent tasks (use execute_graph for dependencies)")
            if spec.id in seen:
                raise DuplicateTaskError(spec.id)
            seen.add(spec.id)
    return tasks


# -- one run -------------------------------------------------------------------------------


class _Cancelled(Exception):
    """The async caller was cancelled; the run was stopped."""


class _Run:
    def __init__(self, tasks: TaskGraph | Iterable[TaskSpec], policy: OrchestrationPolicy | None,
                 on_event: EventHandler | Sequence[EventHandler] | None,
                 executor: Executor | None, clock: Clock | None,
                 *, retain: bool, gates: Sequence[Gate] = (),
                 merge: Callable[[dict[str, Any]], Any] | None = None,
                 cost: CostLike | None = None) -> None:
        if policy is not None and not isinstance(policy, OrchestrationPolicy):
            raise SpecError(f"policy must be an OrchestrationPolicy, got {policy!r}")
        self.tasks = tasks
        self.policy = policy or OrchestrationPolicy()
        self.sinks = on_event
        self.on_event = combine_handlers(on_event)
        self.executor = executor
        self.clock = clock or MonotonicClock()
        self.retain = retain
        self.gates = list(gates)
        for gate in self.gates:
            if not callable(gate):
                raise SpecError(f"every gate must be callable, got {gate!r}")
        if merge is not None and not callable(merge):
            raise SpecError(f"merge must be callable, got {merge!r}")
        self.merge = merge
        self.cost = as_cost_model(cost) if cost is not None else None
        self.flag = InterruptFlag()
        self._active: Executor | None = None

    @contextmanager
    def _executor(self) -> Iterator[Executor]:
        size = self.policy.max_concurrency
        per_worker = self.policy.max_tasks_per_worker
        if self.executor is not None:
            self.executor.open(self.clock, size, max_tasks_per_worker=per_worker)
            self._active = self.executor
            yield self.executor
            return
        pool, shared = shared_pool()
        healthy = False
        try:
            pool.open(self.clock, size, max_tasks_per_worker=per_worker)
            self._active = pool
            yield pool
            healthy = True
        finally:
            release_shared_pool(pool, shared, healthy=healthy)

    def _scheduler(self, executor: Executor) -> Scheduler:
        return Scheduler(self.tasks, self.policy, executor, self.clock, on_event=self.on_event,
                         retain=self.retain, cost=self.cost)

    def execute(self) -> OrchestrationResult:
        with self._executor() as executor:
            sched = self._scheduler(executor)
            with interrupt_guard(executor.wakeup) as signals:
                passed = True
                try:
                    self._drive(sched, signals)
                    result = self._judge(sched, executor, signals)
                    passed = all(v.passed for v in result.gates)
                except KeyboardInterrupt as exc:
                    # Keep what finished: the caller (the CLI) reports and saves the partial run.
                    attach_partial_result(exc, sched.result())
                    raise
                finally:
                    sched.finish(gates_passed=passed)
                    flush_handlers(self.sinks)
            final = sched.result()
            return replace(final, gates=result.gates, merged=result.merged)

    def _judge(self, sched: Scheduler, executor: Executor,
               signals: InterruptFlag) -> OrchestrationResult:
        """Merge the succeeded values, then run every gate on the provisional result."""
        result = sched.result(finish=False)
        verdicts: list[GateVerdict] = []
        if self.merge is not None:
            try:
                result = replace(result, merged=self.merge(result.values))
            except Exception as exc:
                verdicts.append(GateVerdict("merge", False,
                                            f"merge raised {type(exc).__name__}: {exc}",
                                            traceback.format_exc()))
        for gate in self.gates:
            if signals.raised:  # Ctrl-C during an in-process gate: honoured between gates
                raise signals.exception()
            provisional = replace(result, gates=tuple(verdicts))
            extra: dict[str, Any] = {}
            if isinstance(gate, WorkerGate):
                verdict, attempts = self._run_in_worker(gate, provisional, sched.run_id,
                                                        executor, signals)
                extra = {"in_worker": True, "attempts": attempts}
            else:
                verdict = run_gate(gate, provisional)
            verdicts.append(verdict)
            sched.emit(EventType.GATE_PASSED if verdict.passed else EventType.GATE_FAILED,
                       reason=None if verdict.passed else verdict.message,
                       data={**verdict.to_dict(), **extra})
        if signals.raised:
            raise signals.exception()
        return replace(result, gates=tuple(verdicts))

    def _run_in_worker(self, gate: WorkerGate, provisional: OrchestrationResult, run_id: str,
                       executor: Executor, signals: InterruptFlag) -> tuple[GateVerdict, int]:
        """Run one gate as a one-task run on the same executor: the task rules apply to it
        (timeout kills the worker, retry policy, crash isolation). Returns (verdict, attempts)."""
        spec = TaskSpec(f"gate:{gate.name}", gate.fn, args=(provisional,), timeout=gate.timeout,
                        retry=gate.retry)
        policy = replace(self.policy, global_timeout=None, cancellation="isolated")
        sched = Scheduler(TaskGraph([spec]), policy, executor, self.clock,
                          run_id=f"{run_id}:{spec.id}")
        self._drive(sched, signals)
        task = sched.result()[spec.id]
        if task.ok:
            return coerce_verdict(gate.name, task.value), task.attempts
        error = task.error
        return GateVerdict(gate.name, False,
                           f"gate {gate.name!r} ran in a worker and {task.status.value} after "
                           f"{task.attempts} attempt(s): {error}",
                           error.traceback if error is not None else None), task.attempts

    def _steps(self, sched: Scheduler,
               signals: InterruptFlag) -> Generator[list[TaskRecord], None, None]:
        """Drive ``sched`` to its end, yielding what each step finished. Whatever stops it
        (Ctrl-C, SIGTERM, an async cancel, an error, the consumer closing a stream) kills every
        worker before the exception goes on."""
        sched.start()
        try:
            while not sched.done:
                if signals.raised:
                    raise signals.exception()
                if self.flag.raised:
                    raise _Cancelled()
                yield sched.step(sched.next_timeout())
        except BaseException:  # GeneratorExit too
            sched.abort("interrupt")
            raise

    def _drive(self, sched: Scheduler, signals: InterruptFlag) -> None:
        for _ in self._steps(sched, signals):
            pass

    def stream(self) -> Iterator[TaskResult]:
        with self._executor() as executor:
            sched = self._scheduler(executor)
            with interrupt_guard(executor.wakeup) as signals:
                try:
                    # closing(): a consumer that stops early closes the steps now, which kills
                    # the running tasks before this generator's own exit goes on.
                    with contextlib.closing(self._steps(sched, signals)) as steps:
                        for finished in steps:
                            for rec in finished:
                                yield sched.task_result(rec)
                finally:
                    sched.finish()
                    flush_handlers(self.sinks)

    def cancel(self) -> None:
        """Ask the run to stop (any thread)."""
        self.flag.cancelled = True
        if self._active is not None:
            self._active.wakeup()

    async def execute_async(self) -> OrchestrationResult:
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

    def _execute_or_cancelled(self) -> OrchestrationResult | None:
        try:
            return self.execute()
        except _Cancelled:
            return None
