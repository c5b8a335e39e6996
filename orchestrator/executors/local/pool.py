"""LocalPool: the Executor protocol over worker slots (the design is in ``local/__init__``).

The pool turns the scheduler's calls into messages on the slots' pipes (``wire``) and the
workers' messages and deaths into executor events; which processes exist, and when they are
started, retired or replaced, is the ``Supervisor``'s.
"""

from __future__ import annotations

import os
import selectors
import signal

from workers import protocol
from workers.protocol import DONE, Message
from workers.tree import exit_status, kill_tree, tree_rss

from ...clock import Clock, MonotonicClock
from ...model.errors import PoolError
from ..base import (
    Attempt,
    AttemptLost,
    AttemptRequeued,
    AttemptStarted,
    ClosesOnExit,
    ExecutorEvent,
    WorkerExited,
    WorkerStarted,
    attempt_finished,
)
from ..pickling import dumps_arguments
from .keeper import close_fd
from .memory import MAX_WORKER_MEMORY_MB, outgrown
from .registry import live_pools
from .slots import KILLING, QUEUE_LIMIT_BYTES, READY, RETIRING, Slot, pick_slot, steal_plan
from .supervisor import READY_TIMEOUT, Supervisor
from .wire import FunctionTable

__all__ = ["LocalPool"]


class LocalPool(ClosesOnExit):
    """A pool of worker processes for ``execute_*`` (``executor=LocalPool(...)``).

    ``max_workers``: initial size (the scheduler resizes it to the run's ``max_concurrency``).
    ``max_tasks_per_worker``: replace a worker after that many attempts. ``spare_workers``: warm
    spares kept after the first worker death. ``ready_timeout``: seconds a new worker has to be
    ready, else it is replaced (its tasks requeued). ``max_worker_memory_mb``: recycle a worker
    between tasks once its resident memory grew by more than this since its first task (a
    leak); None: never. The policy's settings, when given, override these for a run.
    Use as a context manager, or call ``close()``."""

    def __init__(self, max_workers: int | None = None, *, max_tasks_per_worker: int | None = None,
                 spare_workers: int = 1, context: str = "loky",
                 ready_timeout: float = READY_TIMEOUT,
                 max_worker_memory_mb: float | None = MAX_WORKER_MEMORY_MB) -> None:
        from loky.backend.context import get_context

        self.max_tasks_per_worker = max_tasks_per_worker
        self.max_worker_memory_mb = max_worker_memory_mb
        self._task_limit, self._grow_limit = max_tasks_per_worker, max_worker_memory_mb  # a run's
        self._clock: Clock = MonotonicClock()
        self._by_ticket: dict[int, Slot] = {}
        self._unflushed: set[Slot] = set()  # sent frames since the last ``wait``
        self._idle_seen = False  # a worker went idle: ``wait`` checks for work to steal
        self._events: list[ExecutorEvent] = []
        self._functions = FunctionTable()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._sup = Supervisor(get_context(context), self._selector, spare_workers,
                               ready_timeout)
        self._closed = False
        live_pools.add(self)
        if max_workers:
            self.open(self._clock, max_workers)

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return len(self._sup.slots)

    @property
    def pids(self) -> list[int]:
        """Pids of every worker process this pool holds (slots, spares, leaving)."""
        return [s.pid for s in self._sup.all()]

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the workers in the pool's slots (not spares or workers on their way out)."""
        return [s.pid for s in self._sup.slots if s is not None]

    @property
    def helper_pids(self) -> list[int]:
        """Pids of the pool's other processes (its reaper)."""
        return self._sup.helper_pids

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None,
             max_worker_memory_mb: float | None = None) -> None:
        if self._closed:
            raise PoolError("this LocalPool is closed")
        self._clock = self._sup.clock = clock
        self._task_limit = (max_tasks_per_worker if max_tasks_per_worker is not None
                            else self.max_tasks_per_worker)
        self._grow_limit = (max_worker_memory_mb if max_worker_memory_mb is not None
                            else self.max_worker_memory_mb)
        if size < 1:
            raise PoolError(f"a pool needs at least 1 worker, got {size}")
        self._sup.resize(size)

    def prepare(self, attempt: Attempt) -> None:
        if attempt.prepared is not None:
            return
        attempt.prepared = dumps_arguments(attempt.task_id, attempt.args, attempt.kwargs)
        self._functions.add(attempt.task_id, attempt.fn)

    def idle(self) -> int:
        idle = 0
        for s in self._sup.slots:  # a loop, not sum() over a generator: asked per dispatch
            if s is not None and not s.queue and s.state is not KILLING:
                idle += 1
        return idle

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        if attempt.prepared is None:
            self.prepare(attempt)
        slot = self._pick_slot(attempt, queue)
        if slot is None:
            return False
        if not slot.wire.send_run(attempt, self._functions[attempt.fn]):
            # The worker is dying; its sentinel will fire. Requeue, don't charge.
            self._events.append(AttemptRequeued(attempt.ticket))
            return True
        slot.push(attempt)
        self._by_ticket[attempt.ticket] = slot
        self._unflushed.add(slot)  # an idle worker's attempt starts when it is written
        return True

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        slot = self._by_ticket.get(ticket)
        if slot is None or not slot.queue or slot.queue[0].ticket != ticket:
            return []
        if slot.state is not KILLING:
            slot.move(KILLING)
        sig = signal.SIGKILL if force else signal.SIGTERM
        slot.kill_sig = sig.name
        slot.killed = kill_tree(slot.pid, sig, slot.killed)
        return [p.pid for p in slot.killed]

    def revoke(self, ticket: int) -> bool:
        """Take back an attempt queued behind a busy worker, if that worker has not begun it
        (its ``Fence`` decides); False once it has started."""
        slot = self._by_ticket.get(ticket)
        if slot is None or slot.fence is None or slot.state is KILLING:
            return False
        attempt = slot.unstarted(ticket)
        if attempt is None or not slot.revoke(attempt):
            return False
        del self._by_ticket[ticket]
        return True

    def memory(self, ticket: int) -> int | None:
        slot = self._by_ticket.get(ticket)
        if slot is None or slot.started_at is None or slot.queue[0].ticket != ticket:
            return None
        return tree_rss(slot.pid)

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        sup = self._sup
        if self._idle_seen:
            timeout = self._steal(timeout)
        if self._unflushed:
            self._flush()
        if self._events:
            timeout = 0
        if sup.starting:
            timeout = sup.stalled(timeout)  # kills the workers not ready in time
        sup.keeper.flush()
        for key, _ in self._selector.select(timeout):
            slot = key.data  # a worker's pipe or exit fd; None: the wake pipe
            if slot is None:
                self._drain_wake()
            elif slot is sup.keeper:
                sup.keeper.exited(s.pid for s in sup.all())
            elif key.fd == slot.sentinel:
                self._on_exit(slot)
            else:
                self._receive(slot)
        events, self._events = self._events, []
        return events

    def wakeup(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass

    def begin_run(self) -> None:
        """Forget the previous run's functions, here and in every worker."""
        self._functions.clear()
        self._sup.start_failures = 0
        # A warm worker that died since the last run (killed from outside) is replaced now:
        # an attempt sent into its pipe would be charged to the run as a crash.
        mark = len(self._events)
        for slot in self._sup.exited():
            self._on_exit(slot)
        del self._events[mark:]
        for slot in self._sup.live():
            slot.wire.send_reset()

    def end_run(self) -> None:
        self._functions.clear()
        # Workers retired near the end of the run exit now; collected here, or their exits
        # would be reported in the next run (``worker.died``).
        mark = len(self._events)
        self._sup.trim(self._on_exit)
        del self._events[mark:]

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker: politely (EXIT, then SIGKILL after 2 s), or at once with ``kill``."""
        if self._closed:
            return
        self._closed = True
        live_pools.discard(self)
        self._sup.close(kill=kill)
        self._selector.close()
        close_fd(self._wake_r)
        close_fd(self._wake_w)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.capacity} workers"
        return f"<LocalPool {state}>"

    # -- internals ---------------------------------------------------------------------------

    def _pick_slot(self, attempt: Attempt, queue: bool) -> Slot | None:
        size = len(attempt.prepared)
        return pick_slot(self._sup.slots, size if queue and size <= QUEUE_LIMIT_BYTES else None,
                         self._task_limit)

    def _steal(self, timeout: float | None) -> float | None:
        """Idle workers take the attempts queued last behind workers whose attempt has run
        ``STEAL_AFTER_S`` (``steal_plan``), through those workers' fences; ``timeout`` cut to
        when the next queue will be that old."""
        now = self._clock.now()
        thieves, victims, due = steal_plan(self._sup.slots, now, self._task_limit)
        for victim in victims:
            while thieves and len(victim.queue) > 1:
                attempt = victim.queue[-1]
                if not victim.revoke(attempt):
                    break  # the worker began it (or holds its fence): leave the rest there
                thief = thieves.pop()
                del self._by_ticket[attempt.ticket]
                if not thief.wire.send_run(attempt, self._functions[attempt.fn]):
                    self._events.append(AttemptRequeued(attempt.ticket))
                    continue
                thief.push(attempt)
                self._by_ticket[attempt.ticket] = thief
                self._unflushed.add(thief)
        if due is None or not thieves:
            # Look again next wait only while idle workers remain beside queues to take from;
            # otherwise not until a worker goes idle again.
            self._idle_seen = bool(thieves and victims)
            return timeout
        left = max(0.0, due - now)
        return left if timeout is None else min(timeout, left)

    def _flush(self) -> None:
        """Write what each worker was sent since the last wait; an idle worker's head starts
        now. A worker whose pipe is closed is dying: its exit requeues what it was sent."""
        now = self._clock.now()
        for slot in self._unflushed:
            if (slot.wire.flush() and slot.started_at is None and slot.queue
                    and slot.state is READY):
                self._start_head(slot, now)
        self._unflushed.clear()

    def _start_head(self, slot: Slot, now: float) -> None:
        """The head of ``slot``'s queue starts now (inferred: the worker runs in order)."""
        slot.started_at = now
        self._events.append(AttemptStarted(slot.queue[0].ticket, slot.pid, now))

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                continue
        except OSError:  # nothing left to read (non-blocking), or closed
            return

    def _receive(self, slot: Slot) -> bool:
        """Handle ``slot``'s next messages: one read, and every whole one it brought (the
        wire buffers; the pipe would not wake the selector for them). False once its pipe is
        closed."""
        wire = slot.wire
        while True:
            msg = wire.receive()
            if msg is None:
                self._sup.mute(slot)  # the sentinel reports the death
                return False
            tag = msg[0]
            if tag == DONE:
                self._on_done(slot, msg)
            elif tag == protocol.READY:
                self._on_ready(slot)
            if slot.wire is not wire or not wire.buffered():
                return True

    def _on_ready(self, slot: Slot) -> None:
        self._sup.on_ready(slot)
        now = self._clock.now()
        self._events.append(WorkerStarted(slot.pid, slot.index, now, now - slot.spawned_at))
        if slot.queue and slot.started_at is None:
            self._start_head(slot, now)
        elif not slot.queue:
            self._idle_seen = True

    def _on_done(self, slot: Slot, msg: Message) -> None:
        ticket = msg[1]
        attempt = slot.pop_head()
        slot.started_at = None
        self._by_ticket.pop(attempt.ticket, None)
        assert attempt.ticket == ticket, (
            f"worker {slot.pid} answered {ticket}, expected {attempt.ticket}")
        now = self._clock.now()
        slot.done += 1
        if slot.state is KILLING:
            # The result beat the kill (a SIGTERM handler returned): a kill is final. The
            # attempt ends as killed; the worker, alive or not, is killed and replaced.
            self._events.append(AttemptLost(ticket, slot.pid, now, None, slot.kill_sig, True))
            slot.killed = kill_tree(slot.pid, signal.SIGKILL, slot.killed)
            return
        self._events.append(attempt_finished(attempt.task_id, ticket, slot.pid, now, msg[2:]))
        if msg[11]:  # the task left a thread running: the worker exits now, not charged
            self._requeue_queued(slot)
            self._sup.replace(slot)
            return
        limit = self._task_limit
        grow = self._grow_limit  # worn: it is sent nothing more
        worn = slot.worn if grow is None else outgrown(slot, grow)
        if slot.queue:
            self._start_head(slot, now)
        elif slot.state is READY and (worn or (limit is not None and slot.done >= limit)):
            self._sup.replace(slot)
        else:
            self._idle_seen = True  # ``wait`` looks for what it may take from a busy one

    def _requeue_queued(self, slot: Slot) -> None:
        """Give back what was queued behind ``slot``'s finished attempt (it never started)."""
        for rest in slot.clear():
            self._by_ticket.pop(rest.ticket, None)
            self._events.append(AttemptRequeued(rest.ticket))

    def _on_exit(self, slot: Slot) -> None:
        # Results written before the death still count: read them first.
        while slot.wire.pending() and self._receive(slot):
            pass
        code = self._sup.collect(slot)
        exit_code, sig = exit_status(code)
        now = self._clock.now()
        killed = slot.state is KILLING
        if slot.state is RETIRING and not slot.queue:
            reason = "retired"
        else:
            reason = "killed" if killed else "crashed"
        self._events.append(WorkerExited(slot.pid, slot.index, now, exit_code, sig, reason))
        if slot.queue:
            head = slot.pop_head()
            self._by_ticket.pop(head.ticket, None)
            if slot.started_at is not None:
                self._events.append(AttemptLost(head.ticket, slot.pid, now, exit_code, sig,
                                                killed))
            else:
                self._events.append(AttemptRequeued(head.ticket))
            for rest in slot.clear():
                self._by_ticket.pop(rest.ticket, None)
                self._events.append(AttemptRequeued(rest.ticket))
        self._sup.settle(slot, reason == "crashed", now, f"{sig or code}")
        self._idle_seen = True  # its replacement may be a spare, ready and idle
