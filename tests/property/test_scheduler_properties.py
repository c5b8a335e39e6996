"""Properties of whole runs on random DAGs with random failures, crashes and timeouts.

Each example builds an acyclic graph, a policy and a script of attempt outcomes, drives the
scheduler to the end through ScriptedExecutor and FakeClock (hypothesis also picks which running
task reports next), then checks the run against its event log.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from orchestrator import TaskSpec
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from tests.property.strategies import OUTCOMES, dags, descendants, describe, policies
from tests.unit.harness import Harness

# derandomize: the same examples on every run, so CI is deterministic; 100 examples keep the
# suite fast on a loaded 2-core machine.
RUNS = settings(max_examples=100, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

Attempt = tuple[str, float]  # (outcome, reported duration)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[TaskSpec], dict[str, Any],
                                        dict[str, list[Attempt]], list[int]]:
    specs = draw(dags())
    policy = draw(policies())
    # Short durations switch prefetch on, long ones keep it off: both paths get exercised.
    attempt = st.tuples(st.sampled_from(OUTCOMES), st.sampled_from([0.001, 1.0]))
    script = {s.id: draw(st.lists(attempt, min_size=3, max_size=3)) for s in specs}
    picks = draw(st.lists(st.integers(0, 5), min_size=1, max_size=20))
    return specs, policy, script, picks


def drive(h: Harness, script: dict[str, list[Attempt]], picks: list[int]) -> None:
    """Play the script until the run is done; fail on a deadlock."""
    for step in range(10_000):
        if h.done:
            return
        movable = [tid for tid in h.running if outcome_of(h, script, tid)[0] != "hang"]
        if not movable:
            wait = h.sched.next_timeout()
            assert wait is not None, "deadlock: nothing can finish and no timer is armed"
            h.advance(wait)
            continue
        tid = movable[picks[step % len(picks)] % len(movable)]
        kind, duration = outcome_of(h, script, tid)
        if kind == "ok":
            h.finish(tid, f"value of {tid}", duration=duration)
        elif kind == "fail":
            h.fail(tid, f"{tid} failed", duration=duration)
        else:
            h.crash(tid)
    raise AssertionError("the run did not end")


def outcome_of(h: Harness, script: dict[str, list[Attempt]], tid: str) -> Attempt:
    return script[tid][h.ex.attempt_of(tid).attempt - 1]


def run(specs: list[TaskSpec], policy: dict[str, Any], script: dict[str, list[Attempt]],
        picks: list[int], **overrides: Any) -> Harness:
    policy = {**policy, **overrides}
    note(describe(specs))
    note(f"policy: {policy}")
    h = Harness(specs, **policy)
    drive(h, script, picks)
    return h


@RUNS
@given(scenarios())
def test_every_task_ends_in_exactly_one_terminal_state_with_one_terminal_event(
        case: tuple[Any, ...]) -> None:
    h = run(*case)
    result = h.result()
    assert set(result.tasks) == {s.id for s in case[0]}
    terminal = [(e.task_id, e.type) for e in h.sink.events if e.type in TERMINAL_EVENT_TYPES]
    assert sorted(terminal) == sorted((tid, f"task.{r.status.value}")
                                      for tid, r in result.tasks.items())


@RUNS
@given(scenarios())
def test_no_task_starts_before_its_dependencies_are_done(case: tuple[Any, ...]) -> None:
    specs, policy = case[0], case[1]
    h = run(*case)
    deps = {s.id: s.all_deps for s in specs}
    ended: dict[str, str] = {}
    for e in h.sink.events:
        if e.type in TERMINAL_EVENT_TYPES:
            assert e.task_id is not None
            ended[e.task_id] = e.type
        elif e.type == "task.started":
            assert e.task_id is not None
            for dep in deps[e.task_id]:
                assert dep in ended, f"{e.task_id} started before {dep} ended"
                if policy["on_failure"] == "skip":
                    assert ended[dep] == "task.succeeded"


@RUNS
@given(scenarios())
def test_attempts_never_exceed_max_attempts(case: tuple[Any, ...]) -> None:
    policy = case[1]
    h = run(*case)
    result = h.result()
    for tid, res in result.tasks.items():
        starts = sum(1 for e in h.sink.events if e.type == "task.started" and e.task_id == tid)
        assert res.attempts == starts <= policy["retry"].max_attempts
        assert len(res.retry_delays) <= res.attempts
        assert len(res.retry_delays) == sum(
            1 for e in h.sink.events if e.type == "task.retry_scheduled" and e.task_id == tid)


@RUNS
@given(scenarios())
def test_skipped_tasks_are_exactly_the_descendants_of_failed_ones(case: tuple[Any, ...]) -> None:
    specs = case[0]
    h = run(*case, on_failure="skip", cancellation="isolated")
    result = h.result()
    failed = {tid for tid, r in result.tasks.items() if r.status.value in ("failed", "timed_out")}
    skipped = {tid for tid, r in result.tasks.items() if r.status.value == "skipped"}
    assert skipped == descendants(specs, failed)
    for tid in skipped:
        error = result[tid].error
        assert error is not None and error.kind == "upstream" and error.upstream in failed
    assert all(r.status.value != "cancelled" for r in result.tasks.values())


@RUNS
@given(scenarios())
def test_under_cascading_the_first_final_failure_cancels_everything_left(
        case: tuple[Any, ...]) -> None:
    h = run(*case, cancellation="cascading")
    result = h.result()
    terminal = [e for e in h.sink.events if e.type in TERMINAL_EVENT_TYPES]
    first = next((i for i, e in enumerate(terminal)
                  if e.type in ("task.failed", "task.timed_out")), None)
    for e in terminal[first + 1:] if first is not None else ():
        assert e.task_id is not None
        res = result[e.task_id]
        # Whatever ends after the cascade was cancelled (or skipped below the failed task),
        # unless its own deadline kill was already under way when the cascade came.
        own_timeout = res.error is not None and res.error.kind == "timeout"
        assert e.type in ("task.cancelled", "task.skipped") or (
            e.type == "task.timed_out" and own_timeout), (e.task_id, e.type)
