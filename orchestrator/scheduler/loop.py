"""The Scheduler: start, step, done, abort, result; the input it pulls and the attempts it sends.

It is built in four layers, each calling only the one below: ``Endings`` (every path to a
terminal state), ``Expansion`` (mapped tasks, tasks admitted during the run), ``Reactions``
(what each executor event and timer does) and this class, which drives them. The design (what
the loop reacts to, the ready-queue order, the record's invariants, the one-terminal-event
guarantee) is in the package docstring.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any, Iterable

from ..clock import Clock
from ..executors.base import Attempt, Executor
from ..executors.pickling import SerializationError
from ..model.graph import TaskGraph
from ..model.policy import OrchestrationPolicy
from ..model.results import OrchestrationResult, RunMetrics, TaskResult
from ..model.spec import TaskSpec, substitute_refs
from ..telemetry.events import SCHEMA_MINOR, EventHandler, EventType
from .emitter import RunEvents
from .facts import policy_summary, state_counts, task_result
from .figures import ordered_results, run_cost, run_metrics
from .reactions import Reactions
from .records import TaskRecord
from .state import StopReason, TaskState
from .timers import Timer
from .wording import pickling_error

if TYPE_CHECKING:
    from ..store.run_binding import RunBinding
    from ..telemetry.costs import CostModel

__all__ = ["Scheduler"]

REUSED_PER_STEP = 1024

S = TaskState
# A flat batch pulls past tasks that wait for a resource, up to this many windows of them: the
# tasks behind may fit, and memory stays bounded.
_WAITING_WINDOWS = 8


class Scheduler(Reactions):
    """Drives one run. Create, ``start()``, ``step()`` until ``done``, then ``result()``.

    ``tasks``: a ``TaskGraph`` (every task known up front) or any iterable of ``TaskSpec``s
    without dependencies (pulled lazily). ``retain``: keep every finished result for ``result()``;
    ``False`` streams them out of ``step()`` and forgets them (flat memory). Events go to
    ``events`` (a session shares it with the gates), else to ``on_event`` under ``run_id``.
    ``store``: the run store's hooks (``store/run_binding.py``): keys, reuse, durable outcomes.
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
        events: RunEvents | None = None,
        store: RunBinding | None = None,
    ) -> None:
        if events is not None and (on_event is not None or run_id is not None):
            raise TypeError("Scheduler: pass events=, or on_event= and run_id=, not both")
        if events is None:
            events = RunEvents(on_event, clock, run_id)
        super().__init__(tasks, policy, executor, clock, events, retain)
        self.cost = cost
        self._tickets = itertools.count(1)
        self._window = policy.max_concurrency + policy.pending_limit
        self._started = False
        self._interrupted = False
        self._wall_started = 0.0
        self._finished_at: float | None = None
        self._results: dict[str, TaskResult] | None = None
        self.store = store

    @property
    def run_id(self) -> str:
        return self.events.run_id

    # -- driving -------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return (self._started and self._unfinished == 0 and self._intake is None
                and not self._attempts and not self._completed
                and (self.store is None or not self.store.pending))

    def start(self) -> None:
        """Emit ``run.started``, arm the run's deadline, pull input and dispatch. Mutates."""
        if self._started:
            raise RuntimeError("Scheduler.start() called twice")
        self._started = True
        self._started_at = self.clock.now()
        self._wall_started = self.clock.wall()
        self.events.begin(self._started_at)
        self.executor.begin_run()
        store: dict[str, Any] = {}
        if self.store is not None:
            self.store.start(self.run_id, self.events, self.policy, graph=self._graph is not None,
                             summary=policy_summary(self.policy))
            store = {"store": {"path": str(self.store.store.path),
                               "resumed_from": self.store.resume_from}}
        self.events.run_event(EventType.RUN_STARTED, data={
            "tasks": len(self._records) if self._graph is not None else None,
            "max_concurrency": self.policy.max_concurrency,
            "policy": policy_summary(self.policy),
            "schema_minor": SCHEMA_MINOR, **store,
        })
        if self.policy.global_timeout is not None:
            self._timers.set((Timer.RUN, None), self._started_at + self.policy.global_timeout)
        if self._graph is not None:
            for tid in self._graph.topological_order():
                rec = self._records[tid]
                if rec.waiting == 0 and rec.state is S.PENDING:
                    self._make_ready(rec)
        _feed(self)

    def next_timeout(self) -> float | None:
        """Seconds until the next timer is due (``None``: no timer)."""
        due = self._timers.next_due()
        if due is None:
            return None
        return max(0.0, due - self.clock.now())

    def step(self, timeout: float | None = 0.0) -> list[TaskRecord]:
        """Wait at most ``timeout`` for the executor, handle everything, dispatch more.

        Returns the records that reached a terminal state during this step (with a store:
        once committed to it, so possibly in a later step, at most ``COMMIT_EVERY_S`` on).
        Mutates.
        """
        if self._completed or self._reusable:
            timeout = 0.0  # ended before this step, or more stored results to take
        elif self.store is not None:
            timeout = self.store.wait_cap(timeout)  # outcomes to commit soon
        for event in self.executor.wait(timeout):
            self._handle(event)
        self._fire_timers()
        _feed(self)
        return self._hand_out()

    def abort(self, grace_limit: float = 2.0) -> None:
        """Stop now, as for an interrupt: kill every running attempt, cancel the rest, wait for
        the kills. Used on Ctrl-C, on an exception in the loop, when an async caller is
        cancelled and when a stream's consumer stops early. Gives up waiting after
        ``grace_limit`` seconds (the caller then closes the executor). Mutates."""
        self._interrupted = True
        if not self._started:
            return
        try:
            self._stop(StopReason.INTERRUPT)
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
            self._hand_out()  # what the abort ended is committed; nobody takes it now

    # -- the run's result ----------------------------------------------------------------------

    def result(self) -> OrchestrationResult:
        """The run's result (``retain=True`` runs), after ``finish_run()`` if not yet called."""
        self.finish_run()
        return self.provisional_result()

    def provisional_result(self) -> OrchestrationResult:
        """The result as it stands, the run not finished: what the gates judge."""
        tasks = self._task_results()
        return OrchestrationResult(run_id=self.run_id, tasks=tasks,
                                   metrics=self._metrics(tasks.values()),
                                   started_at=self._wall_started, interrupted=self._interrupted,
                                   store_note=self.store.stopped if self.store else None)

    def finish_run(self, *, gates_passed: bool = True) -> None:
        """End the run: tell the executor, emit ``run.finished``. Once; later calls do nothing
        (a streaming run calls this; a retained one through ``result()``). Mutates."""
        if self._finished_at is not None:
            return
        self._finished_at = self.clock.now()
        self.executor.end_run()
        counts = self._final_counts()
        ok = not self._interrupted and set(counts) <= {"succeeded"} and gates_passed
        if self.store is not None:
            self.store.finish("interrupted" if self._interrupted else
                              "succeeded" if ok else "failed", counts)
            self.events.release()
        extra: dict[str, Any] = {}
        if self.cost is not None and self.events.handler is not None:
            extra["cost_estimate"] = self._cost_of(
                [task_result(r) for r in self._records.values()])
        if self._admission.used:
            extra["resources"] = {name: usage.to_dict() for name, usage in
                                  self._admission.figures(self._started_at,
                                                          self._finished_at).items()}
        self.events.run_event(
            EventType.RUN_FINISHED, reason="interrupted" if self._interrupted else None,
            duration=self._finished_at - self._started_at,
            data={"ok": ok, "interrupted": self._interrupted, "counts": counts,
                  "retries": self._retries, "workers": self.policy.max_concurrency, **extra})

    def _final_counts(self) -> dict[str, int]:
        """``run.finished``'s ``counts``: tasks by state (a run that forgets what ended keeps
        its own tally: ``LiveScheduler``)."""
        return state_counts(self._records.values())

    def _task_results(self) -> dict[str, TaskResult]:
        """id -> TaskResult in graph order; built once when the run is done (gates, then the
        final result, then the CLI all read it)."""
        if self._results is not None:
            return self._results
        tasks = ordered_results(self._records, self._graph, self.retain)
        if self.done:
            self._results = tasks
        return tasks

    def _metrics(self, results: Iterable[TaskResult]) -> RunMetrics:
        results = list(results)
        return run_metrics(self._records, self._graph, results, self._admission,
                           started=self._started_at, now=self._finished_at or self.clock.now(),
                           workers=self.policy.max_concurrency,
                           cost_estimate=self._cost_of(results))

    def resources_in_use(self) -> dict[str, float]:
        """Resource name -> amount held by attempts now (all 0 once the run is over)."""
        return self._admission.in_use()

    def _cost_of(self, results: list[TaskResult]) -> float | None:
        return run_cost(self.cost, results) if self.retain else None

    # -- input and dispatch --------------------------------------------------------------------

    def _pull_and_dispatch(self) -> None:
        """Pull and dispatch; when tasks wait for resources, pull again (they do not count
        against the window, up to ``_WAITING_WINDOWS`` windows of them) so that tasks behind
        them that fit can start. Mutates."""
        self._pull()
        self._dispatch()
        if self._intake is not None and self._admission.waiting:
            pulled = self._unfinished
            self._pull()
            if self._unfinished != pulled:
                self._dispatch()

    def _pull(self) -> None:
        """Take tasks from a flat batch while the window has room. Mutates."""
        intake = self._intake
        if intake is None or self._stopping is not None or self.holding:
            return
        waiting = self._admission.waiting
        most = _WAITING_WINDOWS * self._window
        while self._unfinished < self._window + min(len(waiting), most):
            rec = intake.take()
            if rec is None:
                self._intake = None
                return
            self._admit(rec)
            self._make_ready(rec)

    def _dispatch(self) -> None:
        """Send ready tasks to workers while there is room. Mutates."""
        if self._stopping is not None or self.holding:
            return
        if self._reusable:
            self._take_stored()
        executor = self.executor
        ready = self._ready
        while ready:
            if executor.idle() > 0:
                queue = False
            elif self._prefetch.allows(len(self._attempts.sent)):
                queue = True
            else:
                return
            # Pop first: failing it may push dependents or clear the queue (the head changes).
            rec = self._admission.choose(ready, plain_only=queue)
            if rec is None:  # nothing fits: a release or the token timer wakes us
                wake = self._admission.wake_at
                if wake is not None:
                    self._timers.set((Timer.TOKEN, None), wake)
                return
            attempt = self._attempt_for(rec)
            if attempt is None:
                if self._stopping is not None:
                    return
                self._pull()  # it ended here, freeing its place: nothing else would pull
                continue
            if not executor.submit(attempt, queue=queue):
                ready.push(rec)
                return
            self._attempts.open(rec, attempt)

    def _take_stored(self) -> None:
        """End the ready tasks that take a stored result (no worker needed), and what they make
        ready. A loop, not recursion: a chain of reused tasks can outgrow the recursion limit.
        At most ``REUSED_PER_STEP`` a step (one commit), so a streamed run's memory stays flat;
        the next step comes at once. Mutates."""
        taken = 0
        while self._reusable and self._stopping is None and taken < REUSED_PER_STEP:
            rec = self._reusable.popleft()
            if rec.state is S.READY:
                self._end_reused(rec)
                taken += 1
            if not self._reusable:
                self._pull()

    def _attempt_for(self, rec: TaskRecord) -> Attempt | None:
        """The next attempt (a requeued one as it was); None if it cannot be sent. Mutates."""
        parked = self._attempts.parked
        if parked and rec.id in parked:
            attempt = parked.pop(rec.id)
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
                          timeout, output=self.policy.task_output)
        try:
            self.executor.prepare(attempt)
        except SerializationError as exc:
            rec.attempt += 1
            rec.error = pickling_error(str(exc))
            self._end(rec, S.FAILED)
            return None
        return attempt


def _feed(sched: Scheduler) -> None:
    """Pull and dispatch until neither can do more. A task that fails before it is sent (its
    arguments cannot be pickled) frees room in the window at once, and nothing else would wake
    the loop to pull the next one. Mutates."""
    while True:
        sched._pull_and_dispatch()
        if (sched._intake is None or sched._unfinished >= sched._window or sched.holding
                or sched._stopping is not None):
            return
