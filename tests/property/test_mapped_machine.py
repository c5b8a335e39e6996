"""A stateful test of mapped tasks: hypothesis drives plan -> research (mapped) -> critique
(mapped over each research child's list) -> merge with finish (a list of drawn length) / fail /
crash / advance_clock / cancel, and checks after every step that every task, child or not, has
one state and at most one terminal event, and that a mapped task ends only after its children,
with their values in index order."""

from __future__ import annotations

import collections
from typing import Any

from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orchestrator import Each, Ref, TaskSpec
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from tests.property.strategies import policies
from tests.unit.harness import NOOP, Harness

TERMINAL = {"succeeded", "failed", "timed_out", "cancelled", "skipped"}
SPECS = [TaskSpec("plan", NOOP),
         TaskSpec("research", NOOP, args=(Each(Ref("plan")),)),
         TaskSpec("critique", NOOP, args=(Each(Each(Ref("research"))),)),
         TaskSpec("merge", NOOP, args=(Ref("critique"), Ref("research")))]


class MappedMachine(RuleBasedStateMachine):
    h: Harness

    @initialize(policy=policies(), max_expansion=st.sampled_from([3, 10]),
                global_timeout=st.sampled_from([None, 12.0]))
    def build(self, policy: dict[str, Any], max_expansion: int,
              global_timeout: float | None) -> None:
        note(f"policy: {policy}, max_expansion={max_expansion}, global_timeout={global_timeout}")
        self.h = Harness(SPECS, global_timeout=global_timeout, max_expansion=max_expansion,
                         **policy)
        self.steps = 0

    def pick(self, index: int) -> str:
        running = self.h.running
        return running[index % len(running)]

    def can_report(self) -> bool:
        return not self.h.done and bool(self.h.running)

    @precondition(can_report)
    @rule(index=st.integers(0, 5), length=st.integers(0, 4))
    def finish(self, index: int, length: int) -> None:
        self.steps += 1
        self.h.finish(self.pick(index), list(range(length)), duration=0.5)

    @precondition(can_report)
    @rule(index=st.integers(0, 5))
    def fail(self, index: int) -> None:
        self.steps += 1
        self.h.fail(self.pick(index), "scripted failure", duration=0.5)

    @precondition(can_report)
    @rule(index=st.integers(0, 5))
    def crash(self, index: int) -> None:
        self.steps += 1
        self.h.crash(self.pick(index), signal="SIGKILL")

    @precondition(lambda self: not self.h.done)
    @rule(seconds=st.sampled_from([0.5, 2.5, 5.0]))
    def advance_clock(self, seconds: float) -> None:
        self.steps += 1
        self.h.advance(seconds)

    @precondition(lambda self: not self.h.done and self.steps >= 8)
    @rule()
    def cancel(self) -> None:
        self.h.sched.abort(grace_limit=0.0)
        assert self.h.done

    @precondition(lambda self: self.h.done)
    @rule()
    def read_the_result(self) -> None:
        """Once the run is over, its result holds every task, each child included."""
        result = self.h.result()
        assert set(result.tasks) == set(self.h.states())
        assert {r.status.value for r in result} <= TERMINAL

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def every_task_has_one_state_and_at_most_one_terminal_event(self) -> None:
        ended = collections.Counter(e.task_id for e in self.h.sink.events
                                    if e.type in TERMINAL_EVENT_TYPES)
        for tid, state in self.h.states().items():
            assert ended[tid] == (1 if state in TERMINAL else 0), (tid, state, ended[tid])
        assert len(self.h.running) <= self.h.policy.max_concurrency

    @invariant()
    def a_mapped_task_ends_after_its_children_with_their_values(self) -> None:
        for rec in self.h.sched._records.values():
            if rec.children is None:
                continue
            left = [c.id for c in rec.children if not c.state.terminal]
            assert rec.children_left == len(left)
            if left:
                assert not rec.state.terminal or rec.state.value == "cancelled", (rec, left)
            elif rec.state.value == "succeeded":
                assert rec.value == [c.value for c in rec.children]
                assert all(c.state.value == "succeeded" for c in rec.children)
            expanded = [e.data for e in self.h.sink.events
                        if e.type == "task.expanded" and e.task_id == rec.id]
            assert expanded == [{"n": len(rec.children),
                                 "children": [c.id for c in rec.children]}]

    def teardown(self) -> None:
        """From wherever the rules left it, the run ends and every record is terminal."""
        if not hasattr(self, "h"):
            return
        h = self.h
        for _ in range(1000):
            if h.done:
                break
            if h.running:
                h.finish(h.running[0], [1, 2], duration=1.0)
            else:
                wait = h.sched.next_timeout()
                assert wait is not None, f"deadlock: {h.states()}"
                h.advance(wait)
        assert h.done and set(h.states().values()) <= TERMINAL
        result = h.result()
        assert set(result.tasks) == set(h.states())
        event(f"tasks: {'4' if len(result) == 4 else '5-9' if len(result) < 10 else '10+'}")


MappedMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestMappedMachine = MappedMachine.TestCase
