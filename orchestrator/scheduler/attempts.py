"""The attempt table: every attempt the executor holds, by ticket, with its task's record.

An attempt enters the table once (``open``: the executor took it, the task is dispatched) and
leaves it once: ``end`` when it ran (finished, or its process died), ``withdraw`` when it never
ran (revoked, or requeued because its worker died first), or ``clear`` when the run gives up
waiting for its kills. In between, ``start`` makes the one
move from dispatched to running. The counts are the sizes of the two halves, never kept apart.
A requeued attempt is parked by task id and sent again as it is (its arguments are already
prepared).

Every attempt in the table holds its task's resources (``Admission``): taken in ``open``,
given back in ``end``, ``withdraw`` and ``clear``, the only ways out, so none can leak.
"""

from __future__ import annotations

from ..executors.base import Attempt
from .admission import Admission
from .records import TaskRecord
from .state import TaskState

__all__ = ["AttemptTable", "Entry"]

S = TaskState
Entry = tuple[TaskRecord, Attempt]


class AttemptTable:
    """ticket -> (record, attempt), split into ``sent`` (dispatched, not started: queued behind
    a busy worker or on its way) and ``running``. ``parked``: task id -> a requeued attempt
    waiting to be sent again."""

    __slots__ = ("sent", "running", "parked", "admission")

    def __init__(self, admission: Admission | None = None) -> None:
        self.admission = admission  # None: attempts hold nothing but their worker slot
        self.sent: dict[int, Entry] = {}
        self.running: dict[int, Entry] = {}
        self.parked: dict[str, Attempt] = {}

    def __bool__(self) -> bool:
        return bool(self.sent or self.running)

    def open(self, rec: TaskRecord, attempt: Attempt) -> None:
        """The executor took ``attempt``: ``rec`` is dispatched. Mutates."""
        rec.move(S.DISPATCHED)
        self.sent[attempt.ticket] = (rec, attempt)
        if self.admission is not None:
            self.admission.take(attempt.ticket, rec)

    def start(self, ticket: int, at: float) -> Entry | None:
        """The sent attempt ``ticket`` started at run time ``at``: its record runs it and
        counts it. None if no sent attempt has that ticket. Mutates."""
        entry = self.sent.pop(ticket, None)
        if entry is None:
            return None
        self.running[ticket] = entry
        rec = entry[0]
        rec.move(S.RUNNING)
        rec.attempt += 1
        rec.started_at = at
        rec.kill_reason = None
        return entry

    def end(self, ticket: int, at: float) -> Entry | None:
        """The attempt ``ticket`` ran and ended at run time ``at``; one the executor reported
        ending without a start (it merged both) starts at ``at``. None if unknown. Mutates."""
        entry = self.running.pop(ticket, None)
        if entry is None and self.start(ticket, at) is not None:
            entry = self.running.pop(ticket)
        if entry is not None and self.admission is not None:
            self.admission.release(ticket)
        return entry

    def withdraw(self, ticket: int) -> Entry | None:
        """The attempt ``ticket`` leaves without having run. Its record is ``DISPATCHED`` (or,
        if it was thought to run, back in ``RETRY_WAIT`` with the attempt uncounted). None if
        unknown. Mutates."""
        entry = self.sent.pop(ticket, None)
        if entry is None:
            entry = self.running.pop(ticket, None)
            if entry is None:
                return None
            rec = entry[0]  # a well-behaved executor never requeues a started attempt
            rec.attempt -= 1
            rec.move(S.RETRY_WAIT)
        if self.admission is not None:
            self.admission.release(ticket)
        return entry

    def clear(self) -> None:
        """Forget every attempt: the run gave up waiting for them (their records are the
        caller's to end). Mutates."""
        self.sent.clear()
        self.running.clear()
        self.parked.clear()
        if self.admission is not None:
            self.admission.release_all()

    def in_order(self) -> list[Entry]:
        """Every entry, sent and running, in the order they were sent (by ticket)."""
        entries = [*self.sent.items(), *self.running.items()]
        entries.sort(key=_ticket)
        return [entry for _, entry in entries]


def _ticket(item: tuple[int, Entry]) -> int:
    return item[0]
