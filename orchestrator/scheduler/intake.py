"""A run that takes tasks while it goes on: the scheduler behind ``ProcessPool``.

A ``LiveScheduler`` is a flat batch whose input is a callable (``source``) rather than an
iterator: each step it pulls what ``source`` gives, while the window has room, and the run stays
open until ``close()``. ``source`` returning None means "nothing now", not "the end", so the loop
never blocks on its input (whoever feeds it wakes the executor's ``wait`` instead).

It also stops one task on request (``kill_task``), whatever state it is in: an attempt running
is killed with its tree (``KillReason.REQUESTED``: never retried, ends cancelled), a task not yet
started ends cancelled at once. ``revoke_task`` cancels one only if it has not begun: waiting in
the ready queue, or sent to a worker that can still give it back (``Executor.revoke``). Everything
here runs on the loop's thread.
"""

from __future__ import annotations

from typing import Callable

from ..executors.base import AttemptStarted
from ..model.graph import Estimates
from ..model.spec import TaskSpec, as_flat_task
from .loop import Scheduler
from .records import TaskRecord
from .state import KillReason, TaskState
from .timers import Timer
from .wording import killed_error, revoked_error

__all__ = ["LiveScheduler"]

S = TaskState


class LiveScheduler(Scheduler):
    """A flat-batch ``Scheduler`` fed by ``source()`` until ``close()``; ``retain`` is off."""

    def __init__(self, source: Callable[[], TaskSpec | None], *args: object,
                 **kwargs: object) -> None:
        super().__init__((), *args, retain=False, **kwargs)  # type: ignore[arg-type]
        self._source = source
        self._open = True
        self._count = 0
        self._estimates = Estimates()
        self._intake = None  # the empty batch given to the base class: never pulled
        self._kill_on_start: set[str] = set()  # killed while queued behind a busy worker
        self._ended: dict[TaskState, int] = {}  # terminal state -> tasks: the records go
        # Called with a task's id when its first attempt begins (the pool's futures run then).
        self.on_first_start: Callable[[str], None] | None = None

    @property
    def done(self) -> bool:
        return not self._open and super().done

    def close(self) -> None:
        """No more input: the run ends once what it holds has ended. Mutates."""
        self._open = False

    def _pull(self) -> None:
        """Take tasks from ``source`` while the window has room. Mutates."""
        if self._stopping is not None:
            return
        source = self._source
        estimates = self._estimate_rule()
        while self._unfinished < self._window:
            item = source()
            if item is None:
                return
            spec = as_flat_task(item)
            if spec.estimate is not None:
                estimates.add(spec)
            rec = TaskRecord(spec, self._count, estimates.of(spec), ())
            self._count += 1
            self._admit(rec)
            self._make_ready(rec)

    @property
    def room(self) -> bool:
        """Whether the next ``step`` would pull more input."""
        return self._stopping is None and self._unfinished < self._window

    def kill_task(self, task_id: str) -> bool:
        """Stop ``task_id`` now (ends cancelled, never retried); False if it is not here or has
        ended. Mutates."""
        rec = self._records.get(task_id)
        if rec is None or rec.state.terminal:
            return False
        rec.error = killed_error(task_id)
        if self._withdraw(rec):
            self._end_killed(rec)
        elif rec.state is S.RUNNING:
            for ticket, (other, _) in self._attempts.running.items():
                if other is rec:
                    if rec.kill_reason is not KillReason.REQUESTED:
                        self._kill(rec, ticket, KillReason.REQUESTED, force=True)
                    break
        elif rec.state is S.DISPATCHED:
            self._kill_on_start.add(task_id)  # its worker began it: killed once that is known
        else:
            if rec.state is S.RETRY_WAIT:
                self._timers.cancel((Timer.RETRY, task_id))
            self._end_killed(rec)
        return True

    def revoke_task(self, task_id: str) -> bool:
        """End ``task_id`` cancelled if it has not begun (``Future.cancel``: queued here, or
        sent and taken back from its worker); False if it has, or has ended. Mutates."""
        rec = self._records.get(task_id)
        if rec is None or rec.state.terminal or rec.attempt or not self._withdraw(rec):
            return False
        rec.error = revoked_error(task_id)
        self._end(rec, S.CANCELLED)
        return True

    def _withdraw(self, rec: TaskRecord) -> bool:
        """Take ``rec`` out of the queue, or its attempt back from its worker, if it waits
        there; False if it is anywhere else. Mutates."""
        if rec.state is S.READY:
            self._ready.discard(rec)
            self._attempts.parked.pop(rec.id, None)
            return True
        if rec.state is S.DISPATCHED:
            for ticket, (other, _) in list(self._attempts.sent.items()):
                if other is rec and self.executor.revoke(ticket):
                    self._attempts.withdraw(ticket)
                    return True
        return False

    def _end(self, rec: TaskRecord, state: TaskState, *, skip_below: bool = True) -> None:
        super()._end(rec, state, skip_below=skip_below)
        ended = self._ended  # by member, not by ``.value``: a Python property, read per task
        ended[state] = ended.get(state, 0) + 1

    def _final_counts(self) -> dict[str, int]:
        counts = {state.value: n for state, n in self._ended.items()}
        for state, n in super()._final_counts().items():  # what did not end (an abort)
            counts[state] = counts.get(state, 0) + n
        return counts

    def _end_killed(self, rec: TaskRecord) -> None:
        rec.error = killed_error(rec.id)
        self._end(rec, S.CANCELLED)

    def _cancel(self, rec: TaskRecord, *, skip_below: bool = True) -> None:
        if rec.kill_reason is KillReason.REQUESTED:  # its attempt was killed by kill_task
            rec.error = killed_error(rec.id)
            self._end(rec, S.CANCELLED, skip_below=skip_below)
            return
        super()._cancel(rec, skip_below=skip_below)

    def _on_started(self, ev: AttemptStarted) -> None:
        super()._on_started(ev)
        entry = self._attempts.running.get(ev.ticket)
        if entry is None:
            return
        rec = entry[0]
        if rec.attempt == 1 and self.on_first_start is not None:
            self.on_first_start(rec.spec.id)
        pending = self._kill_on_start
        if pending and rec.id in pending:
            pending.discard(rec.id)
            self._kill(rec, ev.ticket, KillReason.REQUESTED, force=True)
