"""The task lifecycle table: every listed move works, every other one raises InvalidTransition."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.model.results import TaskStatus
from orchestrator.scheduler.records import TaskRecord
from orchestrator.scheduler.state import (
    ALLOWED,
    LOST_ENDS,
    TERMINAL,
    InvalidTransition,
    KillReason,
    StopReason,
    TaskState,
)
from tests.unit.harness import exactly, t

S = TaskState
ALL_PAIRS = list(itertools.product(TaskState, TaskState))


def record_in(state: TaskState) -> TaskRecord:
    rec = TaskRecord(t("job-7"), 0, 1.0, ())
    rec.state = state  # put it there directly: the table under test is the only guard of move()
    return rec


def test_the_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(TaskState)


@pytest.mark.parametrize(("src", "dst"), [(a, b) for a, b in ALL_PAIRS if b in ALLOWED[a]],
                         ids=lambda s: s.value)
def test_every_listed_move_is_made(src: TaskState, dst: TaskState) -> None:
    rec = record_in(src)
    rec.move(dst)
    assert rec.state is dst


@pytest.mark.parametrize(("src", "dst"), [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED[a]],
                         ids=lambda s: s.value)
def test_every_other_move_raises_naming_the_task_and_both_states(src: TaskState,
                                                                 dst: TaskState) -> None:
    rec = record_in(src)
    with pytest.raises(InvalidTransition, match=exactly(
            f"task 'job-7': {src.value} -> {dst.value} is not allowed")):
        rec.move(dst)
    assert rec.state is src


def test_terminal_states_are_dead_ends_and_map_to_statuses() -> None:
    assert TERMINAL == {S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED, S.SKIPPED}
    for state in TaskState:
        assert state.terminal == (state in TERMINAL)
        assert (ALLOWED[state] == frozenset()) == state.terminal
    assert {s.status() for s in TERMINAL} == set(TaskStatus)


def test_every_state_is_reachable_from_pending_and_reaches_a_terminal_state() -> None:
    reachable = {S.PENDING}
    frontier = [S.PENDING]
    while frontier:
        for nxt in ALLOWED[frontier.pop()] - reachable:
            reachable.add(nxt)
            frontier.append(nxt)
    assert reachable == set(TaskState)
    for state in TaskState:
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in ALLOWED[frontier.pop()] - seen:
                seen.add(nxt)
                frontier.append(nxt)
        assert seen & TERMINAL, state


def test_a_new_record_is_pending_with_nothing_charged() -> None:
    rec = TaskRecord(t("a"), 3, 2.5, ("b",))
    assert (rec.state, rec.attempt, rec.seq, rec.rank, rec.dependents) == (
        S.PENDING, 0, 3, 2.5, ("b",))
    assert rec.id == "a" and rec.retry_delays == () and rec.error is None


def test_every_stop_reason_kills_for_its_own_reason() -> None:
    assert {stop: stop.kill for stop in StopReason} == {
        StopReason.CASCADE: KillReason.CASCADE,
        StopReason.RUN_TIMEOUT: KillReason.RUN_TIMEOUT,
        StopReason.INTERRUPT: KillReason.INTERRUPT,
        StopReason.POOL_SHUTDOWN: KillReason.POOL_SHUTDOWN,
    }
    assert [stop for stop in StopReason if stop.last_failure_stands] == [StopReason.RUN_TIMEOUT]


def test_a_lost_attempt_ends_by_what_it_was_killed_for() -> None:
    assert set(LOST_ENDS) == {None, *KillReason}
    assert {reason: LOST_ENDS[reason] for reason in LOST_ENDS} == {
        None: S.FAILED,
        KillReason.TIMEOUT: S.TIMED_OUT,
        KillReason.MEMORY_LIMIT: S.FAILED,
        KillReason.RUN_TIMEOUT: S.TIMED_OUT,
        KillReason.CASCADE: S.CANCELLED,
        KillReason.INTERRUPT: S.CANCELLED,
        KillReason.POOL_SHUTDOWN: S.CANCELLED,
        KillReason.REQUESTED: S.CANCELLED,
    }


def test_kill_reasons_are_the_task_kill_event_reasons() -> None:
    assert sorted(reason.value for reason in KillReason) == [
        "cascade", "interrupt", "memory_limit", "pool_shutdown", "requested", "run_timeout",
        "timeout"]
