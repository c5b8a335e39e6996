"""The scheduler: one loop in the parent, the single source of truth for every task's state.

The loop
    ::

        Scheduler --submit/kill/revoke/memory--> Executor (LocalPool) --one pipe each--> slot
            ^                                        |                                    |
            +---- wait(timeout): attempt started,    |            worker process <--------+
                  finished, lost, requeued;          |              (runs attempts in order)
                  worker started, exited             +-- reaper process: knows every worker,
                                                         kills their trees if the parent dies

    ``step()`` blocks once in ``executor.wait(timeout)`` and then handles what came back: an
    attempt started, finished (value or error), was lost (its process died, by itself or killed
    on request) or was requeued (its worker died before starting it). Then it fires the timers
    that are due (task deadlines, retry wake-ups, SIGTERM->SIGKILL escalations, memory checks, the
    run's deadline), pulls more input and dispatches. ``timeout`` is the time to the next timer:
    nothing polls. The scheduler decides everything; the executor carries it out and reports.

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

Mapped tasks
    A task with an ``Each`` never runs: when its dependencies are done it expands into child
    tasks, which run like any other, and it ends after the last of them (``expansion``).

TaskRecord fields
    ``spec``, ``seq``, ``rank`` and ``group`` never change; ``dependents`` only grows, when a
    task admitted during the run (``add_tasks``) depends on the record. ``state`` changes only
    through ``TaskRecord.move`` (the diagram is in ``state.py``); the DISPATCHED -> RUNNING move
    only in ``AttemptTable.start``; everything else is bookkeeping the scheduler writes.

Guarantee
    Every task reaches exactly one terminal state and exactly one terminal event is emitted for
    it, whatever happens: a kill racing a result, a worker dying with attempts queued behind the
    one it ran, the run's deadline, a cascade, or an interrupt. ``Endings._end`` is the one
    terminal move and the one place that emits a terminal event.

The state (all of it lives on the ``Scheduler``; set up in ``Endings``, ``Expansion`` and
``Scheduler``)
    ``policy``, ``executor``, ``clock``, ``cost``, ``retain``  what the run was given
    ``events``         the run's event stream (``RunEvents``), shared with the gates
    ``_records``       task id -> ``TaskRecord``; a streaming run drops a record once it ended
    ``_graph``         the ``TaskGraph``, or None for a flat batch
    ``_intake``        a flat batch's input still to pull (``Intake``), None once used up
    ``_ready``         the ready queue (``ReadyQueue``)
    ``_attempts``      the attempt table: ticket -> (record, attempt), sent or running
    ``_prefetch``      the prefetch rule and the recent attempts' mean duration
    ``_timers``        every timer, keyed ``(Timer kind, subject)``
    ``_completed``     records that ended since the last ``step()`` returned
    ``_unfinished``    tasks known and not yet terminal
    ``_retries``       retries scheduled so far
    ``_stopping``      why the run stops (``StopReason``), None while it runs
    ``_stop_cause``    the task whose failure stopped a cascading run
    ``_started_at``    the run's start on its clock (records and events count from it)
    ``_tickets``       the next attempt's ticket
    ``_window``        how many pulled tasks may be unfinished at once
    ``_started``, ``_interrupted``  whether ``start()`` ran; whether the run was interrupted
    ``_wall_started``  the run's start on the wall clock (the result's ``started_at``)
    ``_finished_at``   when ``finish_run()`` ended the run, on its clock
    ``_results``       the task results, built once when the run is done
    ``_estimates``     the missing-estimate rule over the graph, for admitted tasks' ranks
    ``_seqs``          the submission order of admitted tasks, after the graph's

The modules
    ``state``      TaskState and its transitions; StopReason and KillReason with their tables
    ``records``    TaskRecord
    ``attempts``   the attempt table
    ``ready``      the ready queue, a flat batch's admission, the prefetch rule
    ``endings``    every path to a terminal state, the run's stop, kills
    ``expansion``  mapped tasks: expanding, ending with their children; add_tasks
    ``reactions``  what each executor event and each timer does
    ``loop``       the Scheduler: start, step, done, abort, result; input and dispatch
    ``timers``     the timer heap and the timer kinds
    ``emitter``    RunEvents, the run's event stream
    ``facts``      what a record becomes: its TaskResult, its terminal event's facts
    ``wording``    every message a person reads
"""

from .loop import Scheduler

__all__ = ["Scheduler"]
