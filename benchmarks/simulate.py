"""A zero-overhead run of the real scheduler: same order, no processes, time that only jumps.

``simulate`` drives ``orchestrator.scheduler.Scheduler`` with ``testing.ScriptedExecutor`` and a
``FakeClock``: each running task finishes when the fake clock reaches its start plus its
duration; the clock then jumps to the next completion. Dispatch, pickling and process wake-ups
cost nothing, so the makespan it returns is what the scheduling order alone achieves; a real run's
makespan divided by it is the cost of dispatch.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from orchestrator import OrchestrationPolicy, TaskGraph, TaskSpec
from orchestrator.clock import FakeClock
from orchestrator.scheduler.loop import Scheduler
from orchestrator.testing import ScriptedExecutor

__all__ = ["simulate"]


def simulate(specs: Iterable[TaskSpec] | TaskGraph, durations: Mapping[str, float],
             policy: OrchestrationPolicy) -> float:
    """The makespan of ``specs`` on ``policy.max_concurrency`` zero-overhead workers, where task
    ``t`` runs for ``durations[t]`` seconds."""
    graph = specs if isinstance(specs, TaskGraph) else TaskGraph(specs)
    clock = FakeClock()
    executor = ScriptedExecutor(policy.max_concurrency)
    executor.open(clock, policy.max_concurrency)
    sched = Scheduler(graph, policy, executor, clock)
    sched.start()
    _settle(sched, executor)
    ends: dict[str, float] = {}
    while not sched.done:
        running = executor.running()
        if not running:
            raise RuntimeError(f"simulation stalled at t={clock.now():.6f}: nothing running, "
                               f"scheduler not done")
        for tid in running:
            ends.setdefault(tid, clock.now() + durations[tid])
        soonest = min(ends[t] for t in running)
        clock.advance(max(0.0, soonest - clock.now()))
        for tid in running:
            if ends[tid] <= soonest:
                del ends[tid]
                executor.finish(tid, duration=durations[tid])
        _settle(sched, executor)
    result = sched.result()
    if not result.ok:
        raise RuntimeError(f"simulation: tasks did not succeed: {result.failed[:3]}")
    return result.metrics.wall_time


def _settle(sched: Scheduler, executor: ScriptedExecutor) -> None:
    """Step until a step dispatches nothing new, all at the same instant.

    A real pool reports an attempt's start right after it is sent, and the scheduler reacts
    (e.g. queues more work behind busy workers) before any task can finish; stepping once per
    completion would skip that reaction.
    """
    while True:
        sent = len(executor.submitted)
        sched.step()
        if len(executor.submitted) == sent:
            return
