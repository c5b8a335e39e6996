"""The public entry points: check the input's shape, then run it in a ``Session``.

``execute_graph`` / ``execute_parallel`` return an ``OrchestrationResult``; ``iter_parallel``
yields each ``TaskResult`` as it finishes (completion order, flat memory); the ``*_async`` twins
run the same loop on a thread and, when the awaiting task is cancelled, kill the running workers
before the cancellation propagates.

Unless ``executor=`` is given, runs use one pool of worker processes kept warm between calls
(shut down at interpreter exit, or by ``shutdown_shared_pool()``); a call made while that pool is
busy (another thread) gets a private pool for its duration.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

from .clock import Clock
from .executors.base import Executor
from .gating.gates import Gate
from .model.graph import TaskGraph, as_flat_batch, as_graph
from .model.policy import OrchestrationPolicy
from .model.results import OrchestrationResult, TaskResult
from .model.spec import TaskSpec
from .session import Session
from .store.run_binding import StoreLike, StoreOptions
from .telemetry.costs import CostLike
from .telemetry.events import EventHandler

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
    store: StoreLike | None = None,
    run_name: str | None = None,
    resume: bool | str | None = None,
    cache: bool = False,
) -> OrchestrationResult:
    """Run a dependency graph; every task ends in exactly one terminal state.

    Bad input (duplicate ids, missing dependencies, cycles, malformed specs) raises before
    anything runs. A task's failure is data in the result, not an exception.
    ``merge`` combines the succeeded values into ``result.merged``; then each of ``gates``
    judges the result (a failed gate makes ``result.ok`` false; ``gates.in_worker`` runs one in
    a worker process). ``cost`` (a cost adapter, see ``orchestrator.telemetry.costs``) prices
    the run into ``result.metrics.cost_estimate``.

    ``store`` (a ``RunStore`` or a path) keeps the run: each task's outcome is on disk as it
    ends. ``resume=True`` continues the newest run named ``run_name`` (``"default"`` when not
    given), ``resume="<run id>"`` that run: a task whose fingerprint equals that of a task that
    succeeded there is not run again (its ``TaskResult`` has ``attempts == 0`` and
    ``reused_from``). ``cache=True`` reuses a succeeded result with the same fingerprint from
    any run in the store (``TaskSpec(cache=...)`` decides per task). docs/store.md.
    """
    session = Session(as_graph(graph_or_tasks), policy, on_event, executor, clock, retain=True,
                      gates=gates, merge=merge, cost=cost,
                      store=_store(store, run_name, resume, cache))
    return session.execute()


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
    store: StoreLike | None = None,
    run_name: str | None = None,
    resume: bool | str | None = None,
    cache: bool = False,
) -> OrchestrationResult:
    """Run independent tasks; ``tasks`` may be any iterable, a generator included (pulled lazily).

    A task with dependencies (``deps`` or a ``Ref``) is rejected: use ``execute_graph``.
    ``merge``, ``gates``, ``cost``, ``store``, ``run_name``, ``resume`` and ``cache`` as for
    ``execute_graph``.
    """
    session = Session(as_flat_batch(tasks), policy, on_event, executor, clock, retain=True,
                      gates=gates, merge=merge, cost=cost,
                      store=_store(store, run_name, resume, cache))
    return session.execute()


def iter_parallel(
    tasks: Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    clock: Clock | None = None,
    store: StoreLike | None = None,
    run_name: str | None = None,
    resume: bool | str | None = None,
    cache: bool = False,
) -> Iterator[TaskResult]:
    """Yield each task's result as it finishes; memory stays flat however many tasks come in.

    Closing the iterator early (``break``) stops the run: running tasks are killed.
    ``store``, ``run_name``, ``resume``, ``cache`` as for ``execute_graph``: a reused input is
    yielded in its place (as it is pulled, before what runs), without a worker; stored results
    are looked up one at a time, so memory stays flat however many the store holds.
    """
    session = Session(as_flat_batch(tasks), policy, on_event, executor, clock, retain=False,
                      store=_store(store, run_name, resume, cache))
    return session.stream()


async def execute_graph_async(
    graph_or_tasks: TaskGraph | Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
    store: StoreLike | None = None,
    run_name: str | None = None,
    resume: bool | str | None = None,
    cache: bool = False,
) -> OrchestrationResult:
    """``execute_graph`` for asyncio programs. ``on_event`` is called from a worker thread."""
    session = Session(as_graph(graph_or_tasks), policy, on_event, executor, None, retain=True,
                      gates=gates, merge=merge, cost=cost,
                      store=_store(store, run_name, resume, cache))
    return await session.execute_async()


async def execute_parallel_async(
    tasks: Iterable[TaskSpec],
    policy: OrchestrationPolicy | None = None,
    *,
    on_event: EventHandler | Sequence[EventHandler] | None = None,
    executor: Executor | None = None,
    gates: Sequence[Gate] = (),
    merge: Callable[[dict[str, Any]], Any] | None = None,
    cost: CostLike | None = None,
    store: StoreLike | None = None,
    run_name: str | None = None,
    resume: bool | str | None = None,
    cache: bool = False,
) -> OrchestrationResult:
    """``execute_parallel`` for asyncio programs. ``on_event`` is called from a worker thread."""
    session = Session(as_flat_batch(tasks), policy, on_event, executor, None, retain=True,
                      gates=gates, merge=merge, cost=cost,
                      store=_store(store, run_name, resume, cache))
    return await session.execute_async()


def _store(store: StoreLike | None, run_name: str | None, resume: bool | str | None,
           cache: bool) -> StoreOptions | None:
    if store is None and run_name is None and not resume and cache is False:
        return None
    return StoreOptions(store, run_name, resume, cache)
