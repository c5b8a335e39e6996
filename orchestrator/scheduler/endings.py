"""Every path a task takes to its terminal state, and the run's stop.

``Endings`` is the scheduler's bottom layer. It sets up the state every layer shares (records,
ready queue, attempt table, timers: listed in the package docstring) and holds the moves that
end a task: ``_end`` (the one terminal move, with its one terminal event), ``_retry_or_end``,
skipping or cancelling what depends on a task, the run's ``_stop`` (kill what runs, end what
waits) and ``_cancel_leftovers`` (what is left when the run gives up waiting for its kills).
``Reactions`` and ``Scheduler`` above it decide when.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Iterable

from ..clock import Clock
from ..executors.base import Executor
from ..model.errors import DuplicateTaskError
from ..model.graph import TaskGraph
from ..model.policy import OrchestrationPolicy
from ..model.resources import check_fits, retry_after_seconds, weighted_ranks
from ..model.results import TaskError
from ..model.spec import TaskSpec
from ..telemetry.events import TERMINAL_EVENT, EventType
from .admission import Admission
from .attempts import AttemptTable
from .emitter import RunEvents
from .facts import task_facts
from .ready import PREFETCH_BELOW_S, Intake, Prefetch, ReadyQueue
from .records import TaskRecord
from .state import LOST_ENDS, KillReason, StopReason, TaskState
from .timers import Timer, TimerHeap, TimerKey
from .wording import cancelled_error, leftover_timeout_error, upstream_error

if TYPE_CHECKING:
    from ..store.run_binding import RunBinding

__all__ = ["Endings"]

S = TaskState
_FAILED = (S.FAILED, S.TIMED_OUT)
_UNSUCCESSFUL = (S.FAILED, S.TIMED_OUT, S.SKIPPED, S.CANCELLED)
# A mapped task's failure names its failed children (or why it could not expand): a task
# skipped for it repeats that, so the skip reason says which child failed and how.
_OWN_REASON = ("mapped", "expansion")


class Endings:
    """One run's task state and every path to a terminal state."""

    def __init__(self, tasks: TaskGraph | Iterable[TaskSpec], policy: OrchestrationPolicy,
                 executor: Executor, clock: Clock, events: RunEvents, retain: bool) -> None:
        self.policy = policy
        self.executor = executor
        self.clock = clock
        self.events = events
        self.retain = retain
        self._records: dict[str, TaskRecord] = {}
        self._ready = ReadyQueue(policy.critical_path_first)
        self._admission = Admission(policy, clock, events)
        self._attempts = AttemptTable(self._admission)
        self._prefetch = Prefetch(policy.pending_limit,
                                 getattr(executor, "prefetch_below_s", PREFETCH_BELOW_S))
        self._timers: TimerHeap[TimerKey] = TimerHeap()
        self._completed: list[TaskRecord] = []
        self._unfinished = 0
        self._retries = 0
        self._stopping: StopReason | None = None
        self.holding = False  # consumer behind: admit nothing; events and timers go on
        self._stop_cause: str | None = None
        self._started_at = 0.0
        self._graph: TaskGraph | None = None
        self._intake: Intake | None = None
        self.store: RunBinding | None = None  # the run store's hooks (store/run_binding.py)
        self._reusable: deque[TaskRecord] = deque()  # ready, a stored result to take, in order
        if isinstance(tasks, TaskGraph):
            self._graph = tasks
            self._load_graph(tasks)
        else:
            self._intake = Intake(tasks)

    def _load_graph(self, graph: TaskGraph) -> None:
        policy = self.policy
        for spec in graph.specs.values():
            check_fits(spec, policy.resources, policy.rate_limits)
        ranks = weighted_ranks(graph, policy.resources, policy.max_concurrency)
        for seq, spec in enumerate(graph.specs.values()):
            rec = TaskRecord(spec, seq, ranks[spec.id], graph.dependents(spec.id))
            rec.waiting = len(graph.deps(spec.id))
            self._records[spec.id] = rec
        self._unfinished = len(self._records)

    def _admit(self, rec: TaskRecord) -> None:
        """Take in a task pulled from a flat batch. Mutates."""
        tid = rec.spec.id
        if rec.request:
            check_fits(rec.spec, self.policy.resources, self.policy.rate_limits)
        if tid in self._records:
            # A streaming run forgets what finished, so only a running id is a duplicate.
            raise (DuplicateTaskError(tid) if self.retain else
                   DuplicateTaskError(tid, f"duplicate task id {tid!r} while it is running"))
        self._records[tid] = rec
        self._unfinished += 1

    def _make_ready(self, rec: TaskRecord) -> None:
        """``rec`` may run now: announce it and queue it. Mutates."""
        rec.move(S.READY)
        if self.events.handler is not None:
            self.events.task_event(EventType.TASK_READY, rec)
        if self.store is not None and rec.attempt == 0 and self.store.check(rec):
            self._reusable.append(rec)  # ended by the dispatch, without a worker
            return
        head = self._ready.push(rec)
        if rec.request:
            self._admission.queued(rec, head)

    # -- ending one task -----------------------------------------------------------------------

    def _end(self, rec: TaskRecord, state: TaskState, *, skip_below: bool = True) -> None:
        """Move ``rec`` to a terminal state, emit its one terminal event, unblock or skip its
        dependents (``skip_below=False``: the caller skips them). Mutates."""
        rec.move(state)
        if rec.request:
            self._admission.waiting.pop(rec.id, None)  # e.g. its arguments did not pickle
        if rec.finished_at is None or state is S.CANCELLED or state is S.SKIPPED:
            rec.finished_at = self.clock.now() - self._started_at
        self._unfinished -= 1
        self._completed.append(rec)
        if self.store is not None:
            self.events.hold()  # seen only once it is on disk (RunBinding.settle)
        if self.events.handler is not None:
            deps = rec.spec.all_deps
            if rec.reused_from is not None and self.store is not None:
                self.events.task_event(EventType.TASK_REUSED, rec,
                                       data=self.store.reused_facts(rec, deps))
            else:
                self.events.task_event(TERMINAL_EVENT[state.status()], rec, pid=rec.worker_pid,
                                       duration=rec.duration, error=rec.error,
                                       reason=rec.error.kind if rec.error else None,
                                       data=task_facts(rec, deps))
        if self.store is not None:
            self.store.ended(rec)
        if (state in _FAILED and self.policy.cancellation == "cascading"
                and self._stopping is None):
            # First, so that every task still waiting, this one's dependents too, ends
            # cancelled: under "cascading" the run stops, whatever on_failure says.
            self._stop(StopReason.CASCADE, cause=rec.id)
        if state is S.SUCCEEDED or (self.policy.on_failure == "continue" and state in _FAILED):
            for dep_id in rec.dependents:
                child = self._records[dep_id]
                if child.state is S.PENDING:
                    child.waiting -= 1
                    if child.waiting == 0:
                        self._make_ready(child)
        elif state in _UNSUCCESSFUL and rec.dependents and skip_below:
            self._skip_dependents(rec)

    def _end_reused(self, rec: TaskRecord) -> None:
        """End ``rec`` with the stored result the store found for it. Mutates."""
        assert self.store is not None
        self.store.apply(rec)
        self._end(rec, S.SUCCEEDED)

    def _retry_or_end(self, rec: TaskRecord, error: TaskError, terminal: TaskState) -> None:
        """Retry ``rec`` if its policy allows and the run's deadline leaves time for the
        backoff, else end it in ``terminal``. Mutates."""
        policy = rec.spec.retry or self.policy.retry
        rec.error = error
        wait = retry_after_seconds(error) if error.kind == "exception" else None
        if wait is not None:
            self._admission.pause(rec, wait)  # the service said so: every user of it waits
        if (self._stopping is None and rec.attempt < policy.max_attempts
                and (wait is not None or policy.retries_error(error))):
            delay = max(policy.delay(rec.id, rec.attempt), wait or 0.0)
            now = self.clock.now()
            deadline = self._run_deadline()
            if deadline is None or now + delay < deadline:
                rec.move(S.RETRY_WAIT)
                rec.last_failure = terminal
                rec.retry_delays += (delay,)
                self._retries += 1
                self.events.task_event(EventType.TASK_RETRY_SCHEDULED, rec, pid=rec.worker_pid,
                                       duration=rec.duration, error=error, reason=error.kind,
                                       data={"delay": delay, "next_attempt": rec.attempt + 1})
                if delay <= 0:
                    self._make_ready(rec)
                else:
                    self._timers.set((Timer.RETRY, rec.id), now + delay)
                return
        self._end(rec, terminal)

    def _cancel(self, rec: TaskRecord, *, skip_below: bool = True) -> None:
        """End ``rec`` cancelled, saying why the run stopped. Mutates."""
        rec.error = cancelled_error(rec.id, self._stopping, self._stop_cause,
                                    self.policy.global_timeout)
        self._end(rec, S.CANCELLED, skip_below=skip_below)

    def _skip_dependents(self, rec: TaskRecord) -> None:
        """End the pending tasks below ``rec``: skipped for the failed upstream, or cancelled
        when ``rec`` was cancelled or the run stops. Depth first with an explicit stack: a
        chain can be deeper than the recursion limit. Mutates."""
        stack = [(rec, iter(rec.dependents))]
        while stack:
            parent, children = stack[-1]
            dep_id = next(children, None)
            if dep_id is None:
                stack.pop()
                continue
            child = self._records[dep_id]
            if child.state is not S.PENDING:
                continue
            if parent.state is S.CANCELLED or self._stopping is not None:
                self._cancel(child, skip_below=False)
            else:
                error = parent.error
                root = (error.upstream if error and error.kind == "upstream"
                        and error.upstream else parent.id)
                up = self._records.get(root)
                status = up.state.value if up is not None else "failed"
                because = (up.error.message if up is not None and up.error is not None
                           and up.error.kind in _OWN_REASON else None)
                child.error = upstream_error(child.id, root, status, because)
                self._end(child, S.SKIPPED, skip_below=False)
            if child.dependents:
                stack.append((child, iter(child.dependents)))

    def _end_unstarted(self, rec: TaskRecord) -> None:
        """End a task that is not running while the run stops: cancelled, unless the stop lets
        a retry's last failure stand (see ``StopReason``). Mutates."""
        assert self._stopping is not None
        if self._stopping.last_failure_stands and rec.last_failure is not None:
            if rec.state is S.DISPATCHED:
                rec.move(S.READY)
            self._end(rec, rec.last_failure)
        else:
            self._cancel(rec)

    # -- stopping the run ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether the run is stopping (it admits nothing more)."""
        return self._stopping is not None

    def stop(self, reason: StopReason) -> None:
        """Stop the run for ``reason`` (e.g. its pool is shut down): kill what runs, end what
        waits, and go on stepping until every kill is confirmed. Mutates."""
        self._stop(reason)

    def _stop(self, reason: StopReason, cause: str | None = None) -> None:
        """Stop the run: kill what runs, end what waits. An interrupt outranks the other
        reasons: it turns a stop under way into one that kills at once. Mutates."""
        if self._stopping is not None:
            if reason is StopReason.INTERRUPT and self._stopping is not reason:
                self._stopping = reason
                for rec, attempt in self._attempts.in_order():
                    if rec.state is S.RUNNING:
                        self._kill(rec, attempt.ticket, reason.kill, force=True)
            return
        self._stopping = reason
        self._stop_cause = cause
        for rec, attempt in self._attempts.in_order():
            if rec.state is S.RUNNING and rec.kill_reason is None:
                self._kill(rec, attempt.ticket, reason.kill)
            elif rec.state is S.DISPATCHED and self.executor.revoke(attempt.ticket):
                # Withdrawn before it started (an executor that can, e.g. in-process): it ends
                # now. Otherwise it is cancelled when it starts or comes back requeued.
                self._attempts.withdraw(attempt.ticket)
                self._end_unstarted(rec)
        self._ready.clear()
        self._admission.forget_waiting()
        self._attempts.parked.clear()
        for rec in list(self._records.values()):
            if rec.state is S.PENDING or rec.state is S.READY:
                self._end_unstarted(rec)
            elif rec.state is S.RETRY_WAIT:
                self._timers.cancel((Timer.RETRY, rec.id))
                if reason.last_failure_stands:
                    self._end(rec, rec.last_failure or S.FAILED)
                else:
                    self._cancel(rec)
        self._drain_intake()

    def _drain_intake(self) -> None:
        """Give every not-yet-pulled task of a retained run its terminal state. Mutates."""
        intake, self._intake = self._intake, None
        if intake is None or not self.retain:
            return
        while (rec := intake.take()) is not None:
            self._admit(rec)
            self._cancel(rec)

    def _kill(self, rec: TaskRecord, ticket: int, reason: KillReason, *,
              force: bool = False) -> None:
        """Start stopping ``rec``'s running attempt: SIGTERM now, SIGKILL after the grace.
        Mutates."""
        rec.kill_reason = reason
        grace = self.policy.kill_grace
        force = force or grace <= 0
        pids = self.executor.kill(ticket, force=force)
        self.events.task_event(EventType.TASK_KILL, rec, pid=rec.worker_pid, reason=reason.value,
                               data={"signal": "SIGKILL" if force else "SIGTERM", "pids": pids})
        if not force:
            self._timers.set((Timer.ESCALATE, ticket), self.clock.now() + grace)

    def _hand_out(self) -> list[TaskRecord]:
        """The records that ended since the last call, once on disk with a store (batched when
        they come fast, so possibly later); a streaming run forgets them here. Mutates."""
        completed, self._completed = self._completed, []
        if self.store is not None:
            completed = self.store.settle(completed, running=bool(self._attempts)
                                          and self._stopping is None)
        if not self.retain:
            for rec in completed:
                self._records.pop(rec.id, None)
        return completed

    def _cancel_leftovers(self) -> None:
        """After an abort that could not wait for every kill: end what is left. An attempt
        being killed for its time ends timed out; anything else is cancelled. Mutates.

        The caller closes the executor with a kill right after, so nothing is left running.
        """
        self._attempts.clear()
        for rec in list(self._records.values()):
            if rec.state.terminal:
                continue
            if rec.state is S.RUNNING and LOST_ENDS[rec.kill_reason] is S.TIMED_OUT:
                rec.error = leftover_timeout_error(rec.id)
                self._end(rec, S.TIMED_OUT)
            else:
                self._cancel(rec)
        self._intake = None

    def _run_deadline(self) -> float | None:
        if self.policy.global_timeout is None:
            return None
        return self._started_at + self.policy.global_timeout
