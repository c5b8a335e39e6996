"""Scheduler logic against ScriptedExecutor and FakeClock: no processes, no sleeps."""

from __future__ import annotations

from orchestrator import OrchestrationPolicy, Ref, RetryPolicy, TaskGraph, TaskSpec, TaskStatus
from orchestrator.scheduler.loop import Scheduler
from orchestrator.telemetry.events import Event
from orchestrator.testing import ScriptedExecutor


def make(tasks, clock, workers=2, events=None, **policy):
    policy.setdefault("max_concurrency", workers)
    ex = ScriptedExecutor(workers)
    sched = Scheduler(TaskGraph(tasks), OrchestrationPolicy(**policy), ex, clock,
                      on_event=None if events is None else events.append)
    ex.open(clock, policy["max_concurrency"])
    sched.start()
    sched.step()
    return sched, ex


def t(tid, *deps, **kw):
    return TaskSpec(tid, "workers.agents:noop", deps=deps, **kw)


def test_dependencies_run_in_order_and_refs_resolve(fake_clock):
    tasks = [t("a"), t("b"), TaskSpec("c", "workers.agents:add", args=(Ref("a"), Ref("b")))]
    sched, ex = make(tasks, fake_clock)
    assert ex.running() == ["a", "b"]
    ex.finish("a", 2)
    sched.step()
    assert ex.running() == ["b"]
    ex.finish("b", 3)
    sched.step()
    assert ex.attempt_of("c").args == (2, 3)
    ex.finish("c", 5)
    sched.step()
    assert sched.done
    result = sched.result()
    assert result.ok and result["c"].value == 5
    assert list(result.tasks) == ["a", "b", "c"]


def test_timeout_kills_and_retries_with_exact_delay(fake_clock):
    events: list[Event] = []
    retry = RetryPolicy(max_attempts=2, backoff="exponential", base_delay=1.5)
    sched, ex = make([t("a", timeout=5.0, retry=retry)], fake_clock, workers=1, events=events,
                     kill_grace=0)
    fake_clock.advance(4.999)
    sched.step()
    assert ex.kills == []
    fake_clock.advance(0.001)
    sched.step()
    assert ex.kills == [("a", True)]
    sched.step()
    assert ex.running() == []  # waiting 1.5 s before attempt 2
    fake_clock.advance(1.5)
    sched.step()
    assert ex.running() == ["a"]
    ex.finish("a", "ok")
    sched.step()
    res = sched.result()["a"]
    assert res.status is TaskStatus.SUCCEEDED and res.attempts == 2
    assert res.retry_delays == (1.5,)
    types = [e.type for e in events if e.task_id == "a"]
    assert types == ["task.ready", "task.started", "task.kill", "task.retry_scheduled",
                     "task.ready", "task.started", "task.succeeded"]
