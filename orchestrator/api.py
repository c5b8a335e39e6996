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
) -> OrchestrationResult:
    """Run a dependency graph; every task ends in exactly one terminal state.

    Bad input (duplicate ids, missing dependencies, cycles, malformed specs) raises before
    anything runs. A task's failure is data in the result, not an exception.
    ``merge`` combines the succeeded values into ``result.merged``; then each of ``gates``
    judges the result (a failed gate makes ``result.ok`` false; ``gates.in_worker`` runs one in
    a worker process). ``cost`` (a cost adapter, see ``orchestrator.telemetry.costs``) prices
    the run into ``result.metrics.cost_estimate``.
    """
    session = Session(as_graph(graph_or_tasks), policy, on_event, executor, clock, retain=True,
                      gates=gates, merge=merge, cost=cost)
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
) -> OrchestrationResult:
    """Run independent tasks; ``tasks`` may be any iterable, a generator included (pulled lazily).

    A task with dependencies (``deps`` or a ``Ref``) is rejected: use ``execute_graph``.
    ``merge``, ``gates`` and ``cost`` as for ``execute_graph``.
    """
    session = Session(as_flat_batch(tasks), policy, on_event, executor, clock, retain=True,
                      gates=gates, merge=merge, cost=cost)
    return session.execute()


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
    session = Session(as_flat_batch(tasks), policy, on_event, executor, clock, retain=False)
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
) -> OrchestrationResult:
    """``execute_graph`` for asyncio programs. ``on_event`` is called from a worker thread."""
    session = Session(as_graph(graph_or_tasks), policy, on_event, executor, None, retain=True,
                      gates=gates, merge=merge, cost=cost)
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
) -> OrchestrationResult:
    """``execute_parallel`` for asyncio programs. ``on_event`` is called from a worker thread."""
    session = Session(as_flat_batch(tasks), policy, on_event, executor, None, retain=True,
                      gates=gates, merge=merge, cost=cost)
    return await session.execute_async()
