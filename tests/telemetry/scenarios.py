"""Scripted runs (ScriptedExecutor + FakeClock, no processes) that exercise every event type a
scheduler emits: retries, timeouts and kills, crashes, skips, cascades, cancellation."""

from __future__ import annotations

from typing import Callable

from orchestrator import (
    FakeClock,
    OrchestrationPolicy,
    RateLimit,
    RetryAfter,
    RetryPolicy,
    TaskGraph,
    TaskSpec,
)
from orchestrator.model.results import OrchestrationResult
from orchestrator.scheduler.loop import Scheduler
from orchestrator.telemetry.costs import CostModel, CpuTimeCost, ReportedCost
from orchestrator.telemetry.events import Event
from orchestrator.testing import ScriptedExecutor

Scenario = Callable[[], tuple[OrchestrationResult, list[Event]]]


def t(tid: str, *deps: str, **kw: object) -> TaskSpec:
    return TaskSpec(tid, "workers.agents:noop", deps=deps, **kw)  # type: ignore[arg-type]


def start(tasks: list[TaskSpec], *, workers: int = 2, cost: CostModel | None = None,
          **policy: object) -> tuple[Scheduler, ScriptedExecutor, FakeClock, list[Event]]:
    clock = FakeClock()
    events: list[Event] = []
    ex = ScriptedExecutor(workers)
    pol = OrchestrationPolicy(max_concurrency=workers, **policy)  # type: ignore[arg-type]
    sched = Scheduler(TaskGraph(tasks), pol, ex, clock, on_event=events.append, cost=cost)
    ex.open(clock, workers)
    sched.start()
    sched.step()
    return sched, ex, clock, events


def settle(sched: Scheduler) -> None:
    """Step until the executor has nothing more to say, as the real loop does (it blocks in
    ``wait`` only when nothing is pending), so each event is handled when it happens."""
    for _ in range(5):
        sched.step()


def retries_timeouts_and_skips() -> tuple[OrchestrationResult, list[Event]]:
    """a: fails once then succeeds; b: times out (killed), retried, times out again;
    c (after a): succeeds; d (after b): skipped; e: crashes its worker."""
    retry = RetryPolicy(max_attempts=2, backoff="fixed", base_delay=0.5)
    tasks = [t("a", retry=retry), t("b", timeout=2.0, retry=retry), t("c", "a"), t("d", "b"),
             t("e")]
    sched, ex, clock, events = start(tasks, kill_grace=0.25,
                                     cost=CpuTimeCost(per_cpu_hour=36.0) + ReportedCost())
    assert ex.running() == ["a", "b"]
    clock.advance(0.25)
    ex.fail("a", "flaky", duration=0.25)  # retried in 0.5 s; e takes the free worker
    settle(sched)
    clock.advance(0.0625)
    ex.crash("e", signal="SIGSEGV")  # no retry policy: failed
    settle(sched)
    clock.advance(0.4375)  # t=0.75: a's retry is due
    settle(sched)
    clock.advance(0.25)
    ex.finish("a", 1, duration=0.25, reports={"cost": 0.25, "tokens": 7}, cpu_time=0.25,
              peak_rss=2**20)
    settle(sched)  # c starts
    clock.advance(0.125)
    ex.finish("c", 2, duration=0.125, reports={"cost": 0.5}, cpu_time=0.125, peak_rss=2**21)
    settle(sched)
    clock.advance(0.875)  # t=2.0: b's deadline: SIGTERM (obeyed at once), retry in 0.5 s
    settle(sched)
    clock.advance(0.5)
    settle(sched)
    clock.advance(2.0)  # the second attempt times out too: b timed_out, d skipped
    settle(sched)
    assert sched.done, ex.running()
    return sched.result(), events


def cascade_cancels_the_rest() -> tuple[OrchestrationResult, list[Event]]:
    """cancellation='cascading': one failure kills the running task and cancels the rest."""
    tasks = [t("a"), t("b"), t("c", "a"), t("d")]
    sched, ex, clock, events = start(tasks, cancellation="cascading", kill_grace=0)
    clock.advance(0.75)
    ex.fail("a", "broken", duration=0.75)
    sched.step()
    sched.step()
    assert sched.done
    return sched.result(), events


def interrupted_during_retry_wait() -> tuple[OrchestrationResult, list[Event]]:
    """Ctrl-C while one task waits for its retry and another runs: both cancelled."""
    retry = RetryPolicy(max_attempts=3, backoff="fixed", base_delay=5.0)
    tasks = [t("a", retry=retry), t("b"), t("c", "b")]
    sched, ex, clock, events = start(tasks, kill_grace=0)
    clock.advance(1.0)
    ex.fail("a", "first", duration=1.0)
    sched.step()
    clock.advance(0.5)
    sched.abort()
    assert sched.done
    return sched.result(), events


def rate_limited_with_retry_after() -> tuple[OrchestrationResult, list[Event]]:
    """Three tasks hold "api" (capacity 1, 2 starts a second): b waits for the capacity, then
    a's RetryAfter(0.5) pauses the bucket."""
    tasks = [t(tid, resources={"api": 1}, retry=RetryPolicy(max_attempts=2)) for tid in "abc"]
    sched, ex, clock, events = start(tasks, resources={"api": 1},
                                     rate_limits={"api": RateLimit(2)})
    clock.advance(0.25)
    ex.fail("a", RetryAfter(0.5), duration=0.25)
    settle(sched)
    while not sched.done:
        for tid in ex.running():
            clock.advance(0.125)
            ex.finish(tid, duration=0.125)
        settle(sched)
        wait = sched.next_timeout()
        if wait is not None and not ex.running():
            clock.advance(wait)
            settle(sched)
    return sched.result(), events


SCENARIOS: dict[str, Scenario] = {
    "rate_limited_with_retry_after": rate_limited_with_retry_after,
    "retries_timeouts_and_skips": retries_timeouts_and_skips,
    "cascade_cancels_the_rest": cascade_cancels_the_rest,
    "interrupted_during_retry_wait": interrupted_during_retry_wait,
}
