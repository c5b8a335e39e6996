"""The attempt table: an attempt enters once and leaves once; its counts are its two halves."""

from __future__ import annotations

from orchestrator.executors.base import Attempt
from orchestrator.scheduler.attempts import AttemptTable
from orchestrator.scheduler.records import TaskRecord
from orchestrator.scheduler.state import KillReason, TaskState
from tests.unit.harness import NOOP, t

S = TaskState


def ready(task_id: str) -> TaskRecord:
    rec = TaskRecord(t(task_id), 0, 1.0, ())
    rec.state = S.READY
    return rec


def attempt(ticket: int, task_id: str) -> Attempt:
    return Attempt(ticket, task_id, 1, NOOP, (), {}, 5.0)


def test_an_attempt_is_sent_then_runs_then_ends() -> None:
    table = AttemptTable()
    rec = ready("a")
    table.open(rec, attempt(7, "a"))
    assert rec.state is S.DISPATCHED and (len(table.sent), len(table.running)) == (1, 0)
    rec.kill_reason = KillReason.TIMEOUT  # left over from the attempt before
    entry = table.start(7, 1.5)
    assert entry is not None and entry[0] is rec
    assert (rec.state, rec.attempt, rec.started_at, rec.kill_reason) == (S.RUNNING, 1, 1.5, None)
    assert (len(table.sent), len(table.running)) == (0, 1)
    assert table.start(7, 2.0) is None  # a second start of the same attempt changes nothing
    assert rec.attempt == 1
    assert table.end(7, 3.0) == entry and not table
    assert table.end(7, 3.0) is None


def test_an_attempt_reported_ended_before_started_starts_when_it_ends() -> None:
    table = AttemptTable()
    rec = ready("a")
    table.open(rec, attempt(1, "a"))
    assert table.end(1, 2.5) is not None
    assert (rec.state, rec.attempt, rec.started_at) == (S.RUNNING, 1, 2.5) and not table


def test_a_withdrawn_attempt_never_counts() -> None:
    table = AttemptTable()
    sent, odd = ready("sent"), ready("odd")
    table.open(sent, attempt(1, "sent"))
    table.open(odd, attempt(2, "odd"))
    table.start(2, 0.0)
    assert table.withdraw(1) is not None
    assert (sent.state, sent.attempt) == (S.DISPATCHED, 0)
    # An executor that requeues an attempt it reported started: the start is taken back.
    assert table.withdraw(2) is not None
    assert (odd.state, odd.attempt) == (S.RETRY_WAIT, 0) and not table
    assert table.withdraw(2) is None


def test_entries_come_in_the_order_they_were_sent() -> None:
    table = AttemptTable()
    recs = {tid: ready(tid) for tid in "abc"}
    for ticket, tid in enumerate("abc", 1):
        table.open(recs[tid], attempt(ticket, tid))
    table.start(3, 0.0)  # started first, but sent last
    table.start(1, 0.0)
    assert [rec.id for rec, _ in table.in_order()] == ["a", "b", "c"]
    table.parked["d"] = attempt(9, "d")
    table.clear()
    assert not table and not table.parked
