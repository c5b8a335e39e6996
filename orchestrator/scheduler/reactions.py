"""What the loop does with each thing it reacts to: an executor's event (an attempt started,
finished, was lost or requeued; a worker started or died) and a timer that fired (a deadline,
the end of a kill's grace, a retry's wake-up, a memory check, the run's deadline).
"""

from __future__ import annotations

from typing import Any, Callable, Final, Mapping

from ..executors.base import (
    AttemptFinished,
    AttemptLost,
    AttemptRequeued,
    AttemptStarted,
    ExecutorEvent,
    WorkerExited,
    WorkerStarted,
)
from ..telemetry.events import EventType
from .attempts import Entry
from .expansion import Expansion
from .facts import merge_reports
from .records import TaskRecord
from .state import LOST_ENDS, KillReason, StopReason, TaskState
from .timers import Timer
from .wording import lost_attempt_error

__all__ = ["Reactions"]

S = TaskState


class Reactions(Expansion):
    """The scheduler's reactions to the executor's events and to its timers (each one decides
    and hands the ending to ``Endings``)."""

    # -- the executor's events -----------------------------------------------------------------

    def _handle(self, event: ExecutorEvent) -> None:
        if isinstance(event, AttemptFinished):
            self._on_finished(event)
        elif isinstance(event, AttemptStarted):
            self._on_started(event)
        elif isinstance(event, AttemptLost):
            self._on_lost(event)
        elif isinstance(event, AttemptRequeued):
            self._on_requeued(event)
        elif isinstance(event, WorkerStarted):
            self.events.run_event(EventType.WORKER_STARTED, pid=event.pid,
                                  data={"slot": event.slot, "startup": round(event.startup, 6)})
        elif isinstance(event, WorkerExited):
            self.events.run_event(EventType.WORKER_DIED, pid=event.pid, reason=event.reason,
                                  data={"slot": event.slot, "exit_code": event.exit_code,
                                        "signal": event.signal})

    def _on_started(self, ev: AttemptStarted) -> None:
        entry = self._attempts.start(ev.ticket, ev.at - self._started_at)
        if entry is None:
            return
        rec, attempt = entry
        rec.worker_pid = ev.pid
        rec.worker = ev.worker
        if attempt.timeout is not None:
            self._timers.set((Timer.DEADLINE, ev.ticket), ev.at + attempt.timeout)
        if self._memory_limit(rec) is not None and not self._timers.armed((Timer.MEMORY, None)):
            self._timers.set((Timer.MEMORY, None), ev.at + self.policy.memory_check_interval)
        if self.events.handler is not None:
            self.events.task_event(EventType.TASK_STARTED, rec, pid=ev.pid,
                                   data=None if ev.worker is None else {"worker": ev.worker})
        if self._stopping is not None:
            self._kill(rec, ev.ticket, self._stopping.kill)

    def _on_finished(self, ev: AttemptFinished) -> None:
        entry = self._attempt_ended(ev.ticket, ev.at, ev.duration)
        if entry is None:
            return
        rec = entry[0]
        # Every attempt that reported counts: a retried attempt's CPU was spent (and paid) too.
        if ev.cpu_time is not None:
            rec.cpu_time = ev.cpu_time + (rec.cpu_time or 0.0)
        if ev.peak_rss is not None:
            rec.peak_rss = max(ev.peak_rss, rec.peak_rss or 0)
        if ev.reports:
            merge_reports(rec.reports, ev.reports)
        rec.stdout_tail, rec.stderr_tail = ev.stdout_tail, ev.stderr_tail
        if ev.ok:
            rec.value = ev.value
            rec.error = None
            self._end(rec, S.SUCCEEDED)
        else:
            assert ev.error is not None
            self._retry_or_end(rec, ev.error, S.FAILED)

    def _on_lost(self, ev: AttemptLost) -> None:
        entry = self._attempt_ended(ev.ticket, ev.at, None)
        if entry is None:
            return
        rec, attempt = entry
        reason = rec.kill_reason if ev.killed else None
        ends = LOST_ENDS[reason]
        if ends is S.CANCELLED:
            self._cancel(rec)
            return
        error = lost_attempt_error(rec, reason, pid=ev.pid, signal=ev.signal,
                                   exit_code=ev.exit_code, cause=ev.cause,
                                   timeout=attempt.timeout,
                                   global_timeout=self.policy.global_timeout,
                                   memory_limit=self._memory_limit(rec))
        self._retry_or_end(rec, error, ends)

    def _on_requeued(self, ev: AttemptRequeued) -> None:
        entry = self._attempts.withdraw(ev.ticket)
        if entry is None:
            return
        rec, attempt = entry
        if self._stopping is not None:
            self._end_unstarted(rec)
            return
        rec.move(S.READY)  # no second task.ready: it was announced when it first got ready
        self._attempts.parked[rec.id] = attempt
        self._ready.push(rec)

    def _attempt_ended(self, ticket: int, at: float, duration: float | None) -> Entry | None:
        """Take the attempt that ran out of the table and record its time on its record; None
        if the ticket is not in the table (e.g. withdrawn). Mutates."""
        end = at - self._started_at
        entry = self._attempts.end(ticket, end)
        if entry is None:
            return None
        rec, attempt = entry
        # Its serialised arguments are not needed again (a retry prepares its own): freed now,
        # so the parent holds one copy per attempt in flight, not one per attempt ever run.
        attempt.prepared = None
        self._timers.cancel((Timer.DEADLINE, ticket))
        if rec.kill_reason is not None:  # only a kill arms the escalation (``_kill``)
            self._timers.cancel((Timer.ESCALATE, ticket))
        if duration is None:
            started = rec.started_at
            duration = 0.0 if started is None else max(0.0, end - started)
        rec.finished_at = end
        rec.duration = duration
        rec.busy_time += duration
        self._prefetch.observe(duration)
        return entry

    # -- timers --------------------------------------------------------------------------------

    def _memory_limit(self, rec: TaskRecord) -> float | None:
        limit = rec.spec.max_memory_mb
        return limit if limit is not None else self.policy.max_task_memory_mb

    def _fire_timers(self) -> None:
        now = self.clock.now()
        for kind, subject in self._timers.pop_due(now):
            _ON_TIMER[kind](self, subject, now)

    def _deadline_passed(self, ticket: Any, now: float) -> None:
        entry = self._attempts.running.get(ticket)
        if entry is not None and entry[0].kill_reason is None:
            self._kill(entry[0], ticket, KillReason.TIMEOUT)

    def _grace_over(self, ticket: Any, now: float) -> None:
        entry = self._attempts.running.get(ticket)
        if entry is not None:
            rec = entry[0]
            self._kill(rec, ticket, rec.kill_reason or KillReason.INTERRUPT, force=True)

    def _retry_due(self, task_id: Any, now: float) -> None:
        rec = self._records.get(task_id)
        if rec is not None and rec.state is S.RETRY_WAIT:
            self._make_ready(rec)

    def _check_memory(self, _: Any, now: float) -> None:
        """Kill the running attempts whose worker passed its memory limit; check again later
        while any is watched. Mutates."""
        watched = 0
        for rec, attempt in self._attempts.in_order():
            limit = self._memory_limit(rec)
            if rec.state is not S.RUNNING or limit is None:
                continue
            watched += 1
            if rec.kill_reason is not None:
                continue
            rss = self.executor.memory(attempt.ticket)
            if rss is None:
                continue
            rec.rss_seen = max(rss, rec.rss_seen or 0)
            if rss > limit * 2**20:
                self._kill(rec, attempt.ticket, KillReason.MEMORY_LIMIT)
        if watched:
            self._timers.set((Timer.MEMORY, None), now + self.policy.memory_check_interval)

    def _run_expired(self, _: Any, now: float) -> None:
        self._stop(StopReason.RUN_TIMEOUT)

    def _token_due(self, _: Any, now: float) -> None:
        """Nothing to do: the step's dispatch, right after the timers, admits the waiter."""


# What each kind of timer does when it fires, given its subject and the time.
_ON_TIMER: Final[Mapping[Timer, Callable[[Reactions, Any, float], None]]] = {
    Timer.DEADLINE: Reactions._deadline_passed,
    Timer.ESCALATE: Reactions._grace_over,
    Timer.RETRY: Reactions._retry_due,
    Timer.MEMORY: Reactions._check_memory,
    Timer.RUN: Reactions._run_expired,
    Timer.TOKEN: Reactions._token_due,
}
