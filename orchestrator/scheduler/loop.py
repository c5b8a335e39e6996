"""The scheduler: one loop in the parent, the single source of truth for every task's state.

What it reacts to
    ``step()`` blocks once in ``executor.wait(timeout)`` and then handles what came back: an
    attempt started, finished (value or error), was lost (its process died, by itself or killed
    on request) or was requeued (its worker died before starting it). Then it fires the timers
    that are due (task deadlines, retry wake-ups, SIGTERM->SIGKILL escalations, memory checks, the
    run's deadline), pulls more input and dispatches. ``timeout`` is the time to the next timer:
    nothing polls.

Ready-queue order
    Explicit ``priority`` first; then the longest remaining path to a sink, summing ``estimate``s
    (so long chains start early: in a zero-overhead simulation of real scientific workflows this
    keeps the makespan within 1% of the lower bound where FIFO loses up to 14%); then submission
    order, so ties break the same way every time.

Backpressure
    At most ``max_concurrency`` attempts run (one per worker) and at most ``max_pending`` more are
    queued behind busy workers. Queueing ahead only pays when tasks are short (it hides the
    parent/worker round trip), and it can hold a task behind a long one, so it is done only while
    the recent attempts are shorter than ``PREFETCH_BELOW_S``. Lazy input is pulled only while
    fewer than ``max_concurrency + max_pending`` pulled tasks are unfinished.

TaskRecord fields
    ``spec``, ``seq``, ``rank`` and ``dependents`` never change. ``state`` changes only through
    ``TaskRecord.move`` (the diagram is in ``state.py``); everything else is bookkeeping this
    module writes.

Guarantee
    Every task reaches exactly one terminal state and exactly one terminal event is emitted for
    it, whatever happens: a kill racing a result, a worker dying with attempts queued behind the
    one it ran, the run's deadline, a cascade, or an interrupt.
"""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..clock import Clock
from ..executors.base import (
    Attempt,
    AttemptFinished,
    AttemptLost,
    AttemptRequeued,
    AttemptStarted,
    Executor,
    ExecutorEvent,
    WorkerExited,
    WorkerStarted,
)
from ..executors.pickling import SerializationError
from ..model.errors import DuplicateTaskError, SpecError
from ..model.graph import TaskGraph
from ..model.policy import OrchestrationPolicy
from ..model.results import OrchestrationResult, TaskError, TaskResult
from ..model.spec import TaskSpec, substitute_refs
from ..telemetry.events import SCHEMA_VERSION, TERMINAL_EVENT, Event, EventHandler, EventType
from ..telemetry.metrics import compute_metrics
from .outcomes import (
    MEMORY_PEAK_KEY,
    cancelled_error,
    lost_attempt_error,
    merge_reports,
    policy_summary,
    task_facts,
    task_result,
    upstream_error,
)
from .state import TaskRecord, TaskState
from .timers import TimerHeap

if TYPE_CHECKING:
    from ..telemetry.costs import CostModel

__all__ = ["Scheduler", "PREFETCH_BELOW_S"]

S = TaskState
# Queue attempts behind busy workers only while recent attempts take less than this: the
# parent/worker round trip is ~0.1 ms, so longer tasks gain little and risk waiting behind
# another task while a worker idles.
PREFETCH_BELOW_S = 0.005
_EWMA_WEIGHT = 0.2

# Timer keys are tuples: ("deadline", ticket), ("escalate", ticket), ("retry", task id),
# ("memory",), ("run",).


class Scheduler:
    """Drives one run. Create, ``start()``, ``step()`` until ``done``, then ``result()``.

    ``tasks``: a ``TaskGraph`` (every task known up front) or any iterable of ``TaskSpec``s
    without dependencies (pulled lazily). ``retain``: keep every finished result for ``result()``;
    ``False`` streams them out of ``step()`` and forgets them (flat memory).
    """

    def __init__(
        self,
        tasks: TaskGraph | Iterable[TaskSpec],
        policy: OrchestrationPolicy,
        executor: Executor,
        clock: Clock,
        *,
        on_event: EventHandler | None = None,
        retain: bool = True,
        run_id: str | None = None,
        cost: CostModel | None = None,
    ) -> None:
        self.policy = policy
        self.cost = cost
        self.executor = executor
        self.clock = clock
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.retain = retain
        self._handler = on_event
        self._seq = itertools.count(1)
        self._tickets = itertools.count(1)
        self._admitted = itertools.count()  # submission order of pulled tasks
        self._records: dict[str, TaskRecord] = {}
        self._ready: list[tuple[Any, ...]] = []
        self._by_ticket: dict[int, TaskRecord] = {}
        self._attempts: dict[int, Attempt] = {}
        self._timers: TimerHeap[tuple[Any, ...]] = TimerHeap()
        self._completed: list[TaskRecord] = []
        self._unfinished = 0
        self._n_dispatched = 0  # sent to a worker, not started yet
        self._n_running = 0
        self._ewma: float | None = None
        self._stopping: str | None = None
        self._stop_cause: str | None = None
        self._started_at = 0.0
        self._wall_started = 0.0
        self._finished_at: float | None = None
        self._started = False
        self._interrupted = False
        self._retries = 0
        self._order: list[str] = []
        self._ids: set[str] = set()
        self._estimate_sum = 0.0
        self._estimate_count = 0
        self._graph: TaskGraph | None = None
        self._results_cache: dict[str, TaskResult] | None = None
        self._source: Iterator[TaskSpec] | None = None
        if isinstance(tasks, TaskGraph):
            self._graph = tasks
            self._load_graph(tasks)
        else:
            self._source = iter(tasks)
        self._window = policy.max_concurrency + policy.pending_limit

    # -- public driving API -------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return (
            self._started
            and self._unfinished == 0
            and self._source is None
            and not self._by_ticket
        )

    def start(self) -> None:
        """Emit ``run.started``, arm the run's deadline, pull input and dispatch."""
        if self._started:
            raise RuntimeError("Scheduler.start() called twice")
        self._started = True
        self._started_at = self.clock.now()
        self._wall_started = self.clock.wall()
        self.executor.begin_run()
        self._emit(EventType.RUN_STARTED, data={
            "tasks": len(self._records) if self._graph is not None else None,
            "max_concurrency": self.policy.max_concurrency,
            "policy": policy_summary(self.policy),
        })
        if self.policy.global_timeout is not None:
            self._timers.set(("run",), self._started_at + self.policy.global_timeout)
        if self._graph is not None:
            for tid in self._graph.topological_order():
                rec = self._records[tid]
                if rec.waiting == 0 and rec.state is S.PENDING:
                    self._make_ready(rec)
        self._pull()
        self._dispatch()

    def next_timeout(self) -> float | None:
        """Seconds until the next timer is due (``None``: no timer)."""
        due = self._timers.next_due()
        if due is None:
            return None
        return max(0.0, due - self.clock.now())

    def step(self, timeout: float | None = 0.0) -> list[TaskRecord]:
        """Wait at most ``timeout`` for the executor, handle everything, dispatch more.

        Returns the records that reached a terminal state during this step. Mutates.
        """
        events = self.executor.wait(timeout)
        for event in events:
            self._handle(event)
        self._fire_timers()
        self._pull()
        self._dispatch()
        completed, self._completed = self._completed, []
        if not self.retain:
            for rec in completed:
                self._forget(rec)
        return completed

    def run(self) -> OrchestrationResult:
        """Start and drive to the end; on any exception (Ctrl-C too) stop every worker first."""
        self.start()
        try:
            while not self.done:
                self.step(self.next_timeout())
        except BaseException:
            self.abort()
            raise
        return self.result()

    def abort(self, reason: str = "interrupt", grace_limit: float = 2.0) -> None:
        """Stop now: kill every running attempt, cancel the rest, wait for the kills.

        Used on Ctrl-C, on an exception in the loop and when an async caller is cancelled.
        Gives up waiting after ``grace_limit`` seconds (the caller then closes the executor).
        """
        self._interrupted = self._interrupted or reason == "interrupt"
        if not self._started:
            return
        try:
            self._stop(reason)
            # Real time, not the run's clock: this bounds how long a person waits for the
            # kills to be confirmed, and a fake clock in a test would never get there.
            deadline = time.monotonic() + grace_limit
            while not self.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = self.next_timeout()
                self.step(left if wait is None else min(wait, left))
        finally:
            self._cancel_leftovers()

    def result(self, *, finish: bool = True) -> OrchestrationResult:
        """The run's result (``retain=True`` runs); emits ``run.finished`` once.

        ``finish=False`` gives the provisional result that gates judge before the run ends.
        """
        if finish and self._finished_at is None:
            self._finish_run()
        tasks = self._task_results()
        return OrchestrationResult(
            run_id=self.run_id,
            tasks=tasks,
            metrics=self._metrics(tasks.values()),
            started_at=self._wall_started,
            interrupted=self._interrupted,
        )

    def _task_results(self) -> dict[str, TaskResult]:
        """id -> TaskResult in graph order; built once when the run is done (gates, then the
        final result, then the CLI all read it)."""
        if self._results_cache is not None:
            return self._results_cache
        order = self._graph.topological_order() if self._graph is not None else self._order
        tasks = {tid: task_result(self._records[tid]) for tid in order
                 if tid in self._records}
        if self.done:
            self._results_cache = tasks
        return tasks

    def finish(self, *, gates_passed: bool = True) -> None:
        """Emit ``run.finished`` once (streaming runs never call ``result()``)."""
        if self._finished_at is None:
            self._finish_run(gates_passed)

    def emit(self, type_: str, *, reason: str | None = None,
             data: dict[str, Any] | None = None) -> None:
        """Emit a run-level event from outside the loop (gates)."""
        self._emit(type_, reason=reason, data=data)

    def task_result(self, rec: TaskRecord) -> TaskResult:
        return task_result(rec)

    # -- input -----------------------------------------------------------------------------

    def _load_graph(self, graph: TaskGraph) -> None:
        ranks = graph.ranks()
        for seq, spec in enumerate(graph.specs.values()):
            rec = TaskRecord(spec, seq, ranks[spec.id], graph.dependents(spec.id))
            rec.waiting = len(graph.deps(spec.id))
            self._records[spec.id] = rec
        self._unfinished = len(self._records)

    def _pull(self) -> None:
        """Take tasks from a lazy source while the window has room. Mutates."""
        source = self._source
        if source is None or self._stopping is not None:
            return
        while self._unfinished < self._window:
            try:
                spec = next(source)
            except StopIteration:
                self._source = None
                return
            rec = self._admit(spec)
            self._make_ready(rec)

    def _admit(self, spec: Any) -> TaskRecord:
        if not isinstance(spec, TaskSpec):
            raise SpecError(f"expected a TaskSpec, got {spec!r}")
        if spec.all_deps:
            raise SpecError(
                f"task {spec.id!r} has dependencies {list(spec.all_deps)}; flat batches take "
                f"independent tasks (use execute_graph for dependencies)")
        if self.retain:
            if spec.id in self._ids:
                raise DuplicateTaskError(spec.id)
            self._ids.add(spec.id)
            self._order.append(spec.id)
        if spec.estimate is not None:
            self._estimate_sum += spec.estimate
            self._estimate_count += 1
            rank = spec.estimate
        else:
            rank = self._estimate_sum / self._estimate_count if self._estimate_count else 1.0
        rec = TaskRecord(spec, next(self._admitted), rank, ())
        if not self.retain and spec.id in self._records:
            raise DuplicateTaskError(spec.id, f"duplicate task id {spec.id!r} while it is running")
        self._records[spec.id] = rec
        self._unfinished += 1
        return rec

    # -- dispatch ------------------------------------------------------------------------------

    def _make_ready(self, rec: TaskRecord) -> None:
        rec.move(S.READY)
        if self._handler is not None:
            self._emit(EventType.TASK_READY, rec)
        heapq.heappush(self._ready, self._ready_key(rec))

    def _prefetch_allowed(self) -> bool:
        if self.policy.pending_limit <= 0 or self._n_dispatched >= self.policy.pending_limit:
            return False
        return self._ewma is not None and self._ewma < PREFETCH_BELOW_S

    def _dispatch(self) -> None:
        """Send ready tasks to workers while there is room. Mutates."""
        if self._stopping is not None:
            return
        executor = self.executor
        ready = self._ready
        while ready:
            if executor.idle() > 0:
                queue = False
            elif self._prefetch_allowed():
                queue = True
            else:
                return
            # Pop before _attempt_for: when it fails the task, dependents may be pushed
            # (on_failure="continue") or the queue cleared (cascade), so ready[0] may change.
            key = heapq.heappop(ready)
            rec = self._records[key[-1]]
            attempt = self._attempt_for(rec)
            if attempt is None:
                if self._stopping is not None:
                    return
                continue
            if not executor.submit(attempt, queue=queue):
                heapq.heappush(ready, key)
                return
            rec.move(S.DISPATCHED)
            rec.ticket = attempt.ticket
            self._by_ticket[attempt.ticket] = rec
            self._attempts[attempt.ticket] = attempt
            self._n_dispatched += 1

    def _attempt_for(self, rec: TaskRecord) -> Attempt | None:
        """Build (or reuse, after a requeue) the next attempt; None if it cannot be sent."""
        attempt = rec.payload
        if isinstance(attempt, Attempt) and attempt.attempt == rec.attempt + 1:
            attempt.ticket = next(self._tickets)
            return attempt
        spec = rec.spec
        args: tuple[Any, ...] = spec.args
        kwargs: Any = spec.kwargs
        if spec.has_refs:
            args = substitute_refs(args, self._ref_value)
            kwargs = substitute_refs(kwargs, self._ref_value)
        timeout = spec.timeout if spec.timeout is not None else self.policy.task_timeout
        attempt = Attempt(next(self._tickets), spec.id, rec.attempt + 1, spec.fn, args, kwargs,
                          timeout)
        try:
            self.executor.prepare(attempt)
        except SerializationError as exc:
            rec.attempt += 1
            rec.error = TaskError(kind="pickling", type="PicklingError", message=str(exc))
            self._finish(rec, S.FAILED)
            return None
        rec.payload = attempt
        return attempt

    def _ref_value(self, task_id: str) -> Any:
        rec = self._records[task_id]
        if rec.state is S.SUCCEEDED:
            return rec.value
        return rec.error  # on_failure="continue": a Ref to a failed task gives its TaskError

    # -- executor events -------------------------------------------------------------------

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
            self._emit(EventType.WORKER_STARTED, pid=event.pid,
                       data={"slot": event.slot, "startup": round(event.startup, 6)})
        elif isinstance(event, WorkerExited):
            self._emit(EventType.WORKER_DIED, pid=event.pid, reason=event.reason,
                       data={"slot": event.slot, "exit_code": event.exit_code,
                             "signal": event.signal})

    def _on_started(self, ev: AttemptStarted) -> None:
        rec = self._by_ticket.get(ev.ticket)
        if rec is None or rec.state is not S.DISPATCHED:
            return
        rec.move(S.RUNNING)
        self._n_dispatched -= 1
        self._n_running += 1
        rec.attempt += 1
        at = ev.at - self._started_at
        rec.started_at = at
        if rec.first_started_at is None:
            rec.first_started_at = at
        rec.worker_pid = ev.pid
        rec.kill_reason = None
        attempt = self._attempts[ev.ticket]
        if attempt.timeout is not None:
            self._timers.set(("deadline", ev.ticket), ev.at + attempt.timeout)
        limit = self._memory_limit(rec)
        if limit is not None:
            if not self._timers.armed(("memory",)):
                self._timers.set(("memory",), ev.at + self.policy.memory_check_interval)
        if self._handler is not None:
            self._emit(EventType.TASK_STARTED, rec, pid=ev.pid)
        if self._stopping is not None:
            self._kill(rec, self._kill_reason_for_stop())

    def _on_finished(self, ev: AttemptFinished) -> None:
        rec = self._by_ticket.pop(ev.ticket, None)
        if rec is None:
            return
        self._attempts.pop(ev.ticket, None)
        self._end_attempt(rec, ev.ticket, ev.at, ev.duration)
        # Every attempt that reported counts: a retried attempt's CPU was spent (and paid) too.
        if ev.cpu_time is not None:
            rec.cpu_time = ev.cpu_time + (rec.cpu_time or 0.0)
        if ev.peak_rss is not None:
            rec.peak_rss = max(ev.peak_rss, rec.peak_rss or 0)
        if ev.reports:
            merge_reports(rec.reports, ev.reports)
        if ev.ok:
            rec.value = ev.value
            rec.error = None
            self._finish(rec, S.SUCCEEDED)
        else:
            assert ev.error is not None
            self._after_failure(rec, ev.error, S.FAILED)

    def _on_lost(self, ev: AttemptLost) -> None:
        rec = self._by_ticket.pop(ev.ticket, None)
        if rec is None:
            return
        self._attempts.pop(ev.ticket, None)
        self._end_attempt(rec, ev.ticket, ev.at, None)
        reason = rec.kill_reason if ev.killed else None
        if reason in ("cascade", "interrupt"):
            rec.error = self._cancel_error(rec)
            self._finish(rec, S.CANCELLED)
            return
        timeout = rec.payload.timeout if isinstance(rec.payload, Attempt) else None
        error = lost_attempt_error(rec, reason, pid=ev.pid, signal=ev.signal,
                                   exit_code=ev.exit_code, timeout=timeout,
                                   global_timeout=self.policy.global_timeout,
                                   memory_limit=self._memory_limit(rec))
        if reason == "run_timeout":  # the run is over: no retry
            rec.error = error
            self._finish(rec, S.TIMED_OUT)
        else:
            self._after_failure(rec, error, S.TIMED_OUT if reason == "timeout" else S.FAILED)

    def _on_requeued(self, ev: AttemptRequeued) -> None:
        rec = self._by_ticket.pop(ev.ticket, None)
        if rec is None:
            return
        self._attempts.pop(ev.ticket, None)
        if rec.state is S.RUNNING:  # cannot happen with a well-behaved executor; be safe
            self._n_running -= 1
            rec.attempt -= 1
            rec.move(S.RETRY_WAIT)
        else:
            self._n_dispatched -= 1
        rec.ticket = None
        if self._stopping is not None:
            self._end_unstarted(rec)
            return
        rec.move(S.READY)  # no second task.ready: it was announced when it first got ready
        heapq.heappush(self._ready, self._ready_key(rec))

    def _ready_key(self, rec: TaskRecord) -> tuple[Any, ...]:
        if self.policy.critical_path_first:
            return (-rec.spec.priority, -rec.rank, rec.seq, rec.spec.id)
        return (-rec.spec.priority, rec.seq, rec.spec.id)

    def _end_attempt(self, rec: TaskRecord, ticket: int, at: float,
                     duration: float | None) -> None:
        """Close the bookkeeping of the attempt that just ended. Mutates."""
        if rec.state is S.DISPATCHED:  # finished before we saw it start (executor merged both)
            rec.move(S.RUNNING)
            self._n_dispatched -= 1
            self._n_running += 1
            rec.attempt += 1
            rec.started_at = at - self._started_at  # not the previous attempt's start
        self._n_running -= 1
        self._timers.cancel(("deadline", ticket))
        self._timers.cancel(("escalate", ticket))
        end = at - self._started_at
        if duration is None:
            started = rec.started_at
            duration = 0.0 if started is None else max(0.0, end - started)
        rec.finished_at = end
        rec.duration = duration
        rec.busy_time += duration
        rec.ticket = None
        self._ewma = duration if self._ewma is None else (
            self._ewma + _EWMA_WEIGHT * (duration - self._ewma))

    # -- failures, retries, terminal states ------------------------------------------------------

    def _after_failure(self, rec: TaskRecord, error: TaskError, terminal: TaskState) -> None:
        """Retry ``rec`` if its policy allows, else end it in ``terminal``. Mutates."""
        policy = rec.spec.retry or self.policy.retry
        rec.error = error
        if (self._stopping is None and rec.attempt < policy.max_attempts
                and policy.retries_error(error)):
            delay = policy.delay(rec.id, rec.attempt)
            now = self.clock.now()
            deadline = self._run_deadline()
            if deadline is None or now + delay < deadline:
                rec.move(S.RETRY_WAIT)
                rec.last_failure = terminal
                rec.retry_delays.append(delay)
                self._retries += 1
                self._emit(EventType.TASK_RETRY_SCHEDULED, rec, pid=rec.worker_pid,
                           duration=rec.duration, error=error, reason=error.kind,
                           data={"delay": delay, "next_attempt": rec.attempt + 1})
                if delay <= 0:
                    self._make_ready(rec)
                else:
                    self._timers.set(("retry", rec.id), now + delay)
                return
        self._finish(rec, terminal)

    def _finish(self, rec: TaskRecord, state: TaskState, *, skip_below: bool = True) -> None:
        """Move ``rec`` to a terminal state, emit its one terminal event, unblock or skip its
        dependents (``skip_below=False``: the caller skips them). Mutates."""
        rec.move(state)
        if rec.finished_at is None or state in (S.CANCELLED, S.SKIPPED):
            rec.finished_at = self.clock.now() - self._started_at
        self._unfinished -= 1
        self._completed.append(rec)
        if self._handler is not None:
            deps = self._graph.deps(rec.id) if self._graph is not None else ()
            self._emit(TERMINAL_EVENT[state.status()], rec, pid=rec.worker_pid,
                       duration=rec.duration, error=rec.error,
                       reason=rec.error.kind if rec.error else None,
                       data=task_facts(rec, deps))
        if (state in (S.FAILED, S.TIMED_OUT) and self.policy.cancellation == "cascading"
                and self._stopping is None):
            # First, so that every task still waiting, this one's dependents too, ends
            # cancelled: under "cascading" the run stops, whatever on_failure says.
            self._stop("cascade", cause=rec.id)
        if state is S.SUCCEEDED or (self.policy.on_failure == "continue"
                                    and state in (S.FAILED, S.TIMED_OUT)):
            for dep_id in rec.dependents:
                child = self._records[dep_id]
                if child.state is S.PENDING:
                    child.waiting -= 1
                    if child.waiting == 0:
                        self._make_ready(child)
        elif (state in (S.FAILED, S.TIMED_OUT, S.SKIPPED, S.CANCELLED) and rec.dependents
              and skip_below):
            self._skip_dependents(rec)

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
                child.error = self._cancel_error(child)
                self._finish(child, S.CANCELLED, skip_below=False)
            else:
                error = parent.error
                root = (error.upstream if error and error.kind == "upstream"
                        and error.upstream else parent.id)
                status = self._records[root].state.value if root in self._records else "failed"
                child.error = upstream_error(child.id, root, status)
                self._finish(child, S.SKIPPED, skip_below=False)
            if child.dependents:
                stack.append((child, iter(child.dependents)))

    def _cancel_error(self, rec: TaskRecord) -> TaskError:
        return cancelled_error(rec.id, self._stopping, self._stop_cause,
                               self.policy.global_timeout)

    # -- stopping and killing ----------------------------------------------------------------

    def _stop(self, reason: str, cause: str | None = None) -> None:
        """Stop the run: kill what runs, cancel what waits. Mutates."""
        if self._stopping is not None:
            if reason == "interrupt" and self._stopping != "interrupt":
                self._stopping = "interrupt"
                for rec in list(self._by_ticket.values()):
                    if rec.state is S.RUNNING:
                        self._kill(rec, "interrupt", force=True)
            return
        self._stopping = reason
        self._stop_cause = cause
        kill_reason = self._kill_reason_for_stop()
        for rec in list(self._by_ticket.values()):
            if rec.state is S.RUNNING and rec.kill_reason is None:
                self._kill(rec, kill_reason)
            elif (rec.state is S.DISPATCHED and rec.ticket is not None
                  and self.executor.revoke(rec.ticket)):
                # Withdrawn before it started (an executor that can, e.g. in-process): it ends
                # now. Otherwise it is cancelled when it starts or comes back requeued.
                self._by_ticket.pop(rec.ticket, None)
                self._attempts.pop(rec.ticket, None)
                rec.ticket = None
                self._n_dispatched -= 1
                self._end_unstarted(rec)
        self._ready.clear()
        for rec in list(self._records.values()):
            if rec.state in (S.PENDING, S.READY):
                self._end_unstarted(rec)
            elif rec.state is S.RETRY_WAIT:
                self._timers.cancel(("retry", rec.id))
                if reason == "run_timeout":
                    self._finish(rec, rec.last_failure or S.FAILED)
                else:
                    rec.error = self._cancel_error(rec)
                    self._finish(rec, S.CANCELLED)
        self._drain_source_as_cancelled()

    def _end_unstarted(self, rec: TaskRecord) -> None:
        """End a task that is not running while the run stops: cancelled, unless the run's
        deadline caught a retry waiting for a worker, whose last failure then stands (it did
        run, so "cancelled before it started" would be wrong). Mutates."""
        if self._stopping == "run_timeout" and rec.last_failure is not None:
            if rec.state is S.DISPATCHED:
                rec.move(S.READY)
            self._finish(rec, rec.last_failure)
        else:
            rec.error = self._cancel_error(rec)
            self._finish(rec, S.CANCELLED)

    def _drain_source_as_cancelled(self) -> None:
        """Give every not-yet-pulled task of a retained run its terminal state."""
        source = self._source
        self._source = None
        if source is None or not self.retain:
            return
        for spec in source:
            rec = self._admit(spec)
            rec.error = self._cancel_error(rec)
            self._finish(rec, S.CANCELLED)

    def _kill_reason_for_stop(self) -> str:
        return {"run_timeout": "run_timeout", "cascade": "cascade"}.get(
            self._stopping or "", "interrupt")

    def _kill(self, rec: TaskRecord, reason: str, *, force: bool = False) -> None:
        """Start stopping ``rec``'s running attempt: SIGTERM now, SIGKILL after the grace."""
        ticket = rec.ticket
        if ticket is None:
            return
        rec.kill_reason = reason
        grace = self.policy.kill_grace
        force = force or grace <= 0
        pids = self.executor.kill(ticket, force=force)
        self._emit(EventType.TASK_KILL, rec, pid=rec.worker_pid, reason=reason,
                   data={"signal": "SIGKILL" if force else "SIGTERM", "pids": pids})
        if not force:
            self._timers.set(("escalate", ticket), self.clock.now() + grace)

    def _memory_limit(self, rec: TaskRecord) -> float | None:
        limit = rec.spec.max_memory_mb
        return limit if limit is not None else self.policy.max_task_memory_mb

    def _check_memory(self, now: float) -> None:
        watched = 0
        for rec in list(self._by_ticket.values()):
            limit = self._memory_limit(rec)
            if rec.state is not S.RUNNING or limit is None or rec.ticket is None:
                continue
            watched += 1
            if rec.kill_reason is not None:
                continue
            rss = self.executor.memory(rec.ticket)
            if rss is None:
                continue
            rec.reports[MEMORY_PEAK_KEY] = max(rss, rec.reports.get(MEMORY_PEAK_KEY, 0))
            if rss > limit * 2**20:
                self._kill(rec, "memory_limit")
        if watched:
            self._timers.set(("memory",), now + self.policy.memory_check_interval)

    def _run_deadline(self) -> float | None:
        if self.policy.global_timeout is None:
            return None
        return self._started_at + self.policy.global_timeout

    # -- timers ----------------------------------------------------------------------------

    def _fire_timers(self) -> None:
        now = self.clock.now()
        for key in self._timers.pop_due(now):
            kind = key[0]
            if kind == "deadline":
                rec = self._by_ticket.get(key[1])
                if rec is not None and rec.state is S.RUNNING and rec.kill_reason is None:
                    self._kill(rec, "timeout")
            elif kind == "retry":
                rec = self._records.get(key[1])
                if rec is not None and rec.state is S.RETRY_WAIT:
                    self._make_ready(rec)
            elif kind == "escalate":
                rec = self._by_ticket.get(key[1])
                if rec is not None and rec.state is S.RUNNING:
                    self._kill(rec, rec.kill_reason or "interrupt", force=True)
            elif kind == "memory":
                self._check_memory(now)
            elif kind == "run":
                self._stop("run_timeout")

    # -- results, events, cleanup -------------------------------------------------------------

    def _cancel_leftovers(self) -> None:
        """After an abort that could not wait for every kill: end what is left. Mutates.

        The caller closes the executor with a kill right after, so nothing is left running.
        """
        for rec in list(self._records.values()):
            if rec.state.terminal:
                continue
            if rec.ticket is not None:
                self._by_ticket.pop(rec.ticket, None)
                self._attempts.pop(rec.ticket, None)
                rec.ticket = None
            if rec.state is S.RUNNING:
                self._n_running -= 1
                if rec.kill_reason in ("timeout", "run_timeout"):
                    rec.error = TaskError(kind="timeout", type="TimeoutError",
                                          message=f"task {rec.id!r} timed out; its worker was "
                                                  f"killed while the run stopped")
                    self._finish(rec, S.TIMED_OUT)
                    continue
            elif rec.state is S.DISPATCHED:
                self._n_dispatched -= 1
            rec.error = self._cancel_error(rec)
            self._finish(rec, S.CANCELLED)
        self._by_ticket.clear()
        self._source = None

    def _forget(self, rec: TaskRecord) -> None:
        self._records.pop(rec.id, None)

    def _metrics(self, results: Iterable[TaskResult]) -> Any:
        wall = (self._finished_at or self.clock.now()) - self._started_at
        deps = None
        if self._graph is not None:
            graph = self._graph
            deps = {tid: graph.deps(tid) for tid in self._records}
        results = list(results)
        return compute_metrics(results, wall_time=wall, workers=self.policy.max_concurrency,
                               deps=deps, cost_estimate=self._cost_of(results))

    def _cost_of(self, results: list[TaskResult]) -> float | None:
        if self.cost is None or not self.retain:
            return None
        return float(self.cost.estimate(results))

    def _finish_run(self, gates_passed: bool = True) -> None:
        self._finished_at = self.clock.now()
        self.executor.end_run()
        counts: dict[str, int] = {}
        for rec in self._records.values():
            counts[rec.state.value] = counts.get(rec.state.value, 0) + 1
        extra: dict[str, Any] = {}
        if self.cost is not None and self._handler is not None:
            extra["cost_estimate"] = self._cost_of(
                [task_result(r) for r in self._records.values()])
        self._emit(EventType.RUN_FINISHED, reason="interrupted" if self._interrupted else None,
                   duration=self._finished_at - self._started_at,
                   data={"ok": not self._interrupted and set(counts) <= {"succeeded"}
                         and gates_passed,
                         "interrupted": self._interrupted, "counts": counts,
                         "retries": self._retries,
                         "workers": self.policy.max_concurrency, **extra})

    def _emit(self, type_: str, rec: TaskRecord | None = None, *, pid: int | None = None,
              duration: float | None = None, error: TaskError | None = None,
              reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        handler = self._handler
        if handler is None:
            return
        clock = self.clock
        # tuple.__new__ skips the NamedTuple's Python-level __new__: 0.16 us instead of 1.1 us,
        # which is most of what an event costs the loop (benchmarks/telemetry_overhead.py).
        if rec is None:
            event = _new_event(Event, (type_, next(self._seq), clock.wall(), self.run_id,
                                       clock.now() - self._started_at, None, None, pid,
                                       duration, error, reason, data, SCHEMA_VERSION))
        else:
            event = _new_event(Event, (type_, next(self._seq), clock.wall(), self.run_id,
                                       clock.now() - self._started_at, rec.spec.id,
                                       rec.attempt or None, pid, duration, error, reason, data,
                                       SCHEMA_VERSION))
        try:
            handler(event)
        except Exception as exc:
            # A broken callback must not wedge the run: report it once and stop calling it.
            self._handler = None
            warnings.warn(
                f"on_event callback raised {type(exc).__name__}: {exc} (on a {type_!r} event); "
                f"it will not be called again in run {self.run_id}",
                RuntimeWarning, stacklevel=2)


_new_event = tuple.__new__
