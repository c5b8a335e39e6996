"""A stateful test: hypothesis drives Scheduler + ScriptedExecutor + FakeClock with the rules
finish / fail / crash / advance_clock / cancel and checks the invariants after every step."""

from __future__ import annotations

import collections
from typing import Any

from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from orchestrator import TaskSpec
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from tests.property.strategies import dags, describe, policies
from tests.unit.harness import Harness

TERMINAL = {"succeeded", "failed", "timed_out", "cancelled", "skipped"}


class SchedulerMachine(RuleBasedStateMachine):
    h: Harness

    @initialize(specs=dags(max_tasks=8), policy=policies(),
                global_timeout=st.sampled_from([None, 12.0]))
    def build(self, specs: list[TaskSpec], policy: dict[str, Any],
              global_timeout: float | None) -> None:
        note(describe(specs))
        note(f"policy: {policy}, global_timeout={global_timeout}")
        self.deps = {s.id: s.all_deps for s in specs}
        self.max_attempts = policy["retry"].max_attempts
        self.h = Harness(specs, global_timeout=global_timeout, **policy)
        self.steps = 0

    def pick(self, index: int) -> str:
        running = self.h.running
        return running[index % len(running)]

    def active(self) -> bool:
        return not self.h.done

    def can_report(self) -> bool:
        return not self.h.done and bool(self.h.running)

    def late(self) -> bool:
        # Cancelling ends the run; allowing it only after a while lets most runs get somewhere.
        return not self.h.done and self.steps >= 8

    # -- rules -----------------------------------------------------------------------------

    @precondition(can_report)
    @rule(index=st.integers(0, 5), duration=st.sampled_from([0.001, 1.0]))
    def finish(self, index: int, duration: float) -> None:
        self.steps += 1
        self.h.finish(self.pick(index), "value", duration=duration)

    @precondition(can_report)
    @rule(index=st.integers(0, 5), duration=st.sampled_from([0.001, 1.0]))
    def fail(self, index: int, duration: float) -> None:
        self.steps += 1
        self.h.fail(self.pick(index), "scripted failure", duration=duration)

    @precondition(can_report)
    @rule(index=st.integers(0, 5), signal=st.sampled_from(["SIGSEGV", "SIGKILL", None]))
    def crash(self, index: int, signal: str | None) -> None:
        self.steps += 1
        self.h.crash(self.pick(index), signal=signal, exit_code=None if signal else 3)

    @precondition(active)
    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.5, 5.0]))
    def advance_clock(self, seconds: float) -> None:
        self.steps += 1
        self.h.advance(seconds)

    @precondition(late)
    @rule()
    def cancel(self) -> None:
        """What Ctrl-C does to a run: Scheduler.abort()."""
        sched = self.h.sched
        steps = 0
        step = sched.step

        def guarded_step(timeout: float | None = 0.0) -> Any:
            # abort() waits on the run's clock, which a FakeClock never moves: fail, don't hang.
            nonlocal steps
            steps += 1
            assert steps < 1000, "abort() does not finish"
            return step(timeout)

        sched.step = guarded_step  # type: ignore[method-assign]
        try:
            sched.abort()
        finally:
            del sched.step
        assert self.h.done
        result = self.h.result()
        assert result.interrupted and not result.ok

    @precondition(lambda self: self.h.done)
    @rule()
    def read_the_result(self) -> None:
        """Once the run is over, its result is complete and run.finished is emitted once."""
        result = self.h.result()
        assert set(result.tasks) == set(self.deps)
        assert {r.status.value for r in result} <= TERMINAL
        assert len(self.h.sink.of_type("run.finished")) == 1

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def every_task_is_in_one_state_and_the_executor_agrees(self) -> None:
        states = self.h.states()
        assert set(states) == set(self.deps)
        by_state = collections.defaultdict(set)
        for tid, state in states.items():
            by_state[state].add(tid)
        assert by_state["running"] == set(self.h.running)
        assert by_state["dispatched"] == set(self.h.ex.queued())
        assert self.h.done == (set(states.values()) <= TERMINAL)

    @invariant()
    def running_stays_within_max_concurrency(self) -> None:
        policy = self.h.policy
        assert len(self.h.running) <= policy.max_concurrency
        assert list(self.h.states().values()).count("running") <= policy.max_concurrency
        assert len(self.h.ex.queued()) <= policy.pending_limit

    @invariant()
    def terminal_tasks_emitted_exactly_one_terminal_event(self) -> None:
        ended = collections.Counter(e.task_id for e in self.h.sink.events
                                    if e.type in TERMINAL_EVENT_TYPES)
        last_type = {e.task_id: e.type for e in self.h.sink.events
                     if e.type in TERMINAL_EVENT_TYPES}
        for tid, state in self.h.states().items():
            if state in TERMINAL:
                assert ended[tid] == 1, (tid, ended[tid])
                assert last_type[tid] == f"task.{state}"
            else:
                assert ended[tid] == 0, (tid, state)

    @invariant()
    def attempts_stay_within_max_attempts(self) -> None:
        for rec in self.h.sched._records.values():
            assert rec.attempt <= self.max_attempts

    @invariant()
    def a_task_that_ran_had_its_dependencies_done(self) -> None:
        states = self.h.states()
        skip = self.h.policy.on_failure == "skip"
        for tid, state in states.items():
            if state in ("pending", "cancelled", "skipped") and not self.ran(tid):
                continue
            for dep in self.deps[tid]:
                assert states[dep] in TERMINAL, (tid, dep, states[dep])
                if skip:
                    assert states[dep] == "succeeded", (tid, dep, states[dep])

    def ran(self, tid: str) -> bool:
        return self.h.sched._records[tid].attempt > 0

    def teardown(self) -> None:
        """From wherever the rules left it, the run still ends: no deadlock."""
        if not hasattr(self, "h"):
            return
        h = self.h
        for _ in range(1000):
            if h.done:
                break
            if h.running:
                h.finish(h.running[0], duration=1.0)
            else:
                wait = h.sched.next_timeout()
                assert wait is not None, f"deadlock: {h.states()}"
                h.advance(wait)
        assert h.done and set(h.states().values()) <= TERMINAL


SchedulerMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestSchedulerMachine = SchedulerMachine.TestCase
