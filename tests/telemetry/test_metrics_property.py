"""Property: for any scripted run, metrics recomputed from its JSON Lines log equal its own."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from orchestrator import FakeClock, OrchestrationPolicy, RetryPolicy, TaskGraph, TaskSpec
from orchestrator.scheduler.loop import Scheduler
from orchestrator.telemetry.costs import CpuTimeCost, ReportedCost
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.reader import metrics_from_events, parse_event, validate_event
from orchestrator.telemetry.sinks import format_event
from orchestrator.testing import ScriptedExecutor


@st.composite
def runs(draw):
    n = draw(st.integers(1, 7))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.sampled_from([f"t{j}" for j in range(i)]), unique=True,
                             max_size=min(i, 2))) if i else []
        retry = RetryPolicy(max_attempts=draw(st.integers(1, 3)), backoff="fixed",
                            base_delay=draw(st.sampled_from([0.0, 0.25, 1.0])))
        timeout = draw(st.sampled_from([None, 1.0, 2.5]))
        tasks.append(TaskSpec(f"t{i}", "workers.agents:noop", deps=tuple(deps), retry=retry,
                              timeout=timeout))
    policy = OrchestrationPolicy(
        max_concurrency=draw(st.integers(1, 3)), kill_grace=0,
        cancellation=draw(st.sampled_from(["isolated", "cascading"])),
        on_failure=draw(st.sampled_from(["skip", "continue"])))
    actions = draw(st.lists(st.tuples(st.sampled_from(["finish", "fail", "crash", "wait"]),
                                      st.integers(0, 6), st.integers(1, 96)),
                            min_size=1, max_size=40))
    return tasks, policy, actions


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_metrics_from_the_log_equal_the_runs_metrics(run):
    tasks, policy, actions = run
    note(f"tasks={[(t.id, t.deps, t.retry.max_attempts, t.timeout) for t in tasks]}")
    clock = FakeClock()
    events: list[Event] = []
    ex = ScriptedExecutor(policy.max_concurrency)
    sched = Scheduler(TaskGraph(tasks), policy, ex, clock, on_event=events.append,
                      cost=CpuTimeCost(per_cpu_hour=7.0) + ReportedCost())
    ex.open(clock, policy.max_concurrency)
    sched.start()
    sched.step()
    script = iter(actions)
    while not sched.done:
        kind, pick, amount = next(script, ("finish", 0, 16))  # then let everything end
        running = ex.running()
        seconds = amount / 100  # not dyadic: float sums depend on their order
        if kind == "wait" or not running:
            clock.advance(seconds)
        else:
            tid = running[pick % len(running)]
            clock.advance(seconds / 4)
            if kind == "finish":
                ex.finish(tid, 1, duration=seconds / 4, cpu_time=seconds / 8,
                          reports={"cost": amount / 1000})
            elif kind == "fail":
                ex.fail(tid, "scripted", duration=seconds / 4)
            else:
                ex.crash(tid)
        sched.step()
        sched.step()
    result = sched.result()
    lines = [format_event(e) for e in events]
    back = []
    for line in lines:
        obj = json.loads(line)
        validate_event(obj)
        back.append(parse_event(obj))
    assert metrics_from_events(back) == result.metrics
