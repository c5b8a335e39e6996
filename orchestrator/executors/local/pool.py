"""LocalPool: worker processes the parent owns, one private pipe each.

Why not a loky ``ProcessPoolExecutor``: killing one of its workers breaks the whole executor
(every pending future fails with ``TerminatedWorkerError``). Here each worker is a slot: a process
started with loky's process context (a fresh interpreter on every platform), a duplex pipe that
only it and the parent hold, and its sentinel. So the parent always knows which process runs which
attempt; a timeout kills exactly that process tree and nothing else in flight is touched.

One ``selectors`` object watches every pipe and sentinel, plus a self-pipe for ``wakeup``: the
scheduler blocks in one ``select`` until a worker reports, a worker dies, or its next timer is due.
No polling.

Start times are inferred, not reported: a worker runs what it is sent in order, so the head of a
slot's queue starts when it is sent to an idle worker, when the worker becomes ready, or when the
previous attempt's result arrives. That saves a message per task on the hot path.

Prefetch: an attempt may be queued behind a busy worker (``submit(queue=True)``) so the worker
never waits for the parent between short tasks. When that worker dies, the attempts queued behind
the lost one come back as ``AttemptRequeued`` (never started, never charged).

Dead or retired workers are replaced at once; after the first death a spare worker is kept warm,
so the next replacement is ready immediately instead of after an interpreter start.
"""

from __future__ import annotations

import collections
import os
import pickle
import selectors
import signal
import threading
import time
import weakref
from typing import Any, Deque, Iterable

import psutil

from workers import reaper, runner
from workers.protocol import (
    DEFINE,
    DONE,
    EXIT,
    FN_PATH,
    FN_PICKLED,
    INLINE_LIMIT,
    PICKLE_PROTOCOL,
    RAW,
    READY,
    RESET,
    RUN,
)

from ...clock import Clock, MonotonicClock
from ...model.errors import PoolError
from ...model.results import TaskError
from ..base import (
    Attempt,
    AttemptFinished,
    AttemptLost,
    AttemptRequeued,
    AttemptStarted,
    ExecutorEvent,
    WorkerExited,
    WorkerStarted,
    error_from_tuple,
)
from ..pickling import SerializationError, dumps, dumps_callable, find_unpicklable
from .kill import kill_tree, signal_name

__all__ = ["LocalPool", "close_all_pools"]

# Only small attempts are queued behind a busy worker: a large one would block the parent's
# write until that worker finished its current task.
QUEUE_LIMIT_BYTES = 32 * 1024
# A worker that dies this many times in a row before it is ready means the pool cannot start.
MAX_START_FAILURES = 3


class _Slot:
    __slots__ = (
        "index", "process", "conn", "pid", "sentinel", "ready", "queue", "started", "defined",
        "done", "killing", "retiring", "spawned_at", "killed", "closed", "started_at",
    )

    def __init__(self, index: int, process: Any, conn: Any, spawned_at: float) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.sentinel: int = process.sentinel
        self.ready = False
        self.queue: Deque[Attempt] = collections.deque()
        self.started = False  # whether queue[0] has started
        self.started_at = 0.0  # when it did
        self.defined: set[Any] = set()
        self.done = 0
        self.killing = False
        self.retiring = False
        self.spawned_at = spawned_at
        self.killed: list[psutil.Process] = []
        self.closed = False


class LocalPool:
    """A pool of worker processes for ``execute_*`` (``executor=LocalPool(...)``).

    ``max_workers``: initial size (the scheduler resizes it to the run's ``max_concurrency``).
    ``max_tasks_per_worker``: replace a worker after that many attempts.
    ``spare_workers``: warm spares kept after the first worker death, for instant replacement.
    Use as a context manager, or call ``close()``.
    """

    def __init__(self, max_workers: int | None = None, *, max_tasks_per_worker: int | None = None,
                 spare_workers: int = 1, context: str = "loky") -> None:
        from loky.backend.context import get_context

        self._ctx = get_context(context)
        self._size = max_workers or 0
        self.max_tasks_per_worker = max_tasks_per_worker
        self._task_limit = max_tasks_per_worker  # this run's: the policy's, else the pool's
        self._spare_target = spare_workers
        self._want_spares = False
        self._deaths: Deque[float] = collections.deque(maxlen=256)  # when workers were lost
        self._clock: Clock = MonotonicClock()
        self._slots: list[_Slot | None] = []
        self._spares: list[_Slot] = []
        self._leaving: list[_Slot] = []  # retiring or being killed, no longer in a slot
        self._by_ticket: dict[int, _Slot] = {}
        self._events: list[ExecutorEvent] = []
        self._fns: dict[Any, tuple[Any, int, Any]] = {}  # id/path -> (key, kind, payload)
        self._fn_refs: list[Any] = []  # keeps callables alive so their id() stays theirs
        self._start_failures = 0
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        # The lifeline: workers read it, nobody writes it; EOF tells them the parent is gone.
        self._lifeline_r, self._lifeline_w = self._ctx.Pipe(duplex=False)
        # Kills the workers if this process dies while one is stuck holding its GIL (see
        # workers/reaper.py); started with the first worker.
        self._reaper: Any = None
        self._reaper_conn: Any = None
        self._closed = False
        self._lock = threading.Lock()  # guards checkout by the shared-pool cache only
        _live_pools.add(self)
        if max_workers:
            self.open(self._clock, max_workers)

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._size

    @property
    def pids(self) -> list[int]:
        """Pids of every worker process this pool holds (slots, spares, leaving)."""
        slots = [s for s in self._slots if s is not None] + self._spares + self._leaving
        return [s.pid for s in slots]

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the workers in the pool's slots (not spares or workers on their way out)."""
        return [s.pid for s in self._slots if s is not None]

    @property
    def helper_pids(self) -> list[int]:
        """Pids of the pool's other processes (its reaper)."""
        return [] if self._reaper is None else [self._reaper.pid]

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None) -> None:
        if self._closed:
            raise PoolError("this LocalPool is closed")
        self._clock = clock
        self._task_limit = (max_tasks_per_worker if max_tasks_per_worker is not None
                            else self.max_tasks_per_worker)
        if size < 1:
            raise PoolError(f"a pool needs at least 1 worker, got {size}")
        while len(self._slots) > size:
            slot = self._slots.pop()
            if slot is not None:
                self._retire(slot)
        self._size = size
        for index in range(size):
            if index >= len(self._slots):
                self._slots.append(None)
            if self._slots[index] is None:
                self._slots[index] = self._spawn(index)

    def prepare(self, attempt: Attempt) -> None:
        if attempt.prepared is not None:
            return
        try:
            attempt.prepared = dumps((attempt.args, attempt.kwargs))
        except SerializationError as exc:
            where = find_unpicklable({"args": attempt.args, "kwargs": dict(attempt.kwargs)}, "")
            where = where.replace("['args']", "args", 1).replace("['kwargs']", "kwargs", 1)
            raise SerializationError(
                f"task {attempt.task_id!r}: cannot pickle {where or 'its arguments'}: {exc}",
                where,
            ) from exc
        self._function_key(attempt)

    def idle(self) -> int:
        return sum(1 for s in self._slots if s is not None and not s.queue and not s.killing
                   and not s.retiring)

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        if attempt.prepared is None:
            self.prepare(attempt)
        slot = self._pick_slot(attempt, queue)
        if slot is None:
            return False
        key, kind, payload = self._fns[self._fn_id(attempt.fn)]
        conn = slot.conn
        try:
            if key not in slot.defined:
                conn.send_bytes(pickle.dumps((DEFINE, key, kind, payload), PICKLE_PROTOCOL))
                slot.defined.add(key)
            args = attempt.prepared
            big = len(args) > INLINE_LIMIT
            conn.send_bytes(pickle.dumps(
                (RUN, attempt.ticket, key, attempt.task_id, attempt.attempt, attempt.timeout,
                 None if big else args), PICKLE_PROTOCOL))
            if big:
                conn.send_bytes(args)
        except (OSError, ValueError):
            # The worker is dying; its sentinel will fire. Requeue, don't charge.
            self._events.append(AttemptRequeued(attempt.ticket))
            return True
        slot.queue.append(attempt)
        self._by_ticket[attempt.ticket] = slot
        if len(slot.queue) == 1 and slot.ready:
            now = self._clock.now()
            slot.started = True
            slot.started_at = now
            self._events.append(AttemptStarted(attempt.ticket, slot.pid, now))
        return True

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        slot = self._by_ticket.get(ticket)
        if slot is None or not slot.queue or slot.queue[0].ticket != ticket:
            return []
        slot.killing = True
        sig = signal.SIGKILL if force else signal.SIGTERM
        slot.killed = kill_tree(slot.pid, sig, slot.killed)
        return [p.pid for p in slot.killed]

    def revoke(self, ticket: int) -> bool:
        return False  # a worker reads its pipe in order: what was sent will start or requeue

    def memory(self, ticket: int) -> int | None:
        slot = self._by_ticket.get(ticket)
        if slot is None or not slot.started or slot.queue[0].ticket != ticket:
            return None
        try:
            root = psutil.Process(slot.pid)
            total = root.memory_info().rss
            for child in root.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            return int(total)
        except psutil.Error:
            return None

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        if self._events:
            timeout = 0
        for key, _ in self._selector.select(timeout):
            kind, slot = key.data
            if kind == "conn":
                self._receive(slot)
            elif kind == "dead":
                self._on_exit(slot)
            else:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except OSError:
                    pass
        events, self._events = self._events, []
        return events

    def wakeup(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass

    def begin_run(self) -> None:
        """Forget the previous run's functions, here and in every worker."""
        self._fns.clear()
        self._fn_refs.clear()
        self._start_failures = 0
        for slot in self._live_slots():
            if slot.defined:
                try:
                    slot.conn.send_bytes(pickle.dumps((RESET,), PICKLE_PROTOCOL))
                except OSError:
                    pass
                slot.defined.clear()

    def end_run(self) -> None:
        self._fns.clear()
        self._fn_refs.clear()
        self._deaths.clear()  # a burst's extra spares are not kept for the next run
        while len(self._spares) > self._spare_target:
            self._retire(self._spares.pop())
        # Workers retired near the end of the run were asked to exit and do so at once: collect
        # them now, or their exits would be reported in the next run (``worker.died``).
        idle_leaving = [slot for slot in self._leaving if not slot.queue]
        if idle_leaving:
            if not _wait_exit(idle_leaving, 1.0):
                # An exit can hang for good (a task left a non-daemon thread running, which
                # the interpreter waits for): an idle worker has nothing left to lose.
                for slot in idle_leaving:
                    if not _wait_exit([slot], 0):
                        kill_tree(slot.pid, signal.SIGKILL)
                _wait_exit(idle_leaving, 5.0)
            mark = len(self._events)
            for slot in idle_leaving:
                if _wait_exit([slot], 0):
                    self._on_exit(slot)
            del self._events[mark:]

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker: politely (EXIT, then SIGKILL after 2 s), or at once with ``kill``."""
        if self._closed:
            return
        self._closed = True
        _live_pools.discard(self)
        slots = list(self._live_slots()) + list(self._leaving)
        if not kill:
            for slot in slots:
                if slot.queue:
                    kill_tree(slot.pid, signal.SIGKILL)
                else:
                    try:
                        slot.conn.send_bytes(pickle.dumps((EXIT,), PICKLE_PROTOCOL))
                    except OSError:
                        pass
            _wait_exit(slots, 2.0)
        for slot in slots:
            if not _wait_exit([slot], 0):
                kill_tree(slot.pid, signal.SIGKILL, slot.killed)
        _wait_exit(slots, 5.0)
        for slot in slots:
            self._kill_remains(slot)  # before join() reaps the worker: see there
            slot.process.join(5)
            self._forget(slot)
        self._stop_reaper()
        self._slots.clear()
        self._spares.clear()
        self._leaving.clear()
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._lifeline_w.close()
        self._lifeline_r.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._size} workers"
        return f"<LocalPool {state}>"

    # -- internals ---------------------------------------------------------------------------

    def _live_slots(self) -> Iterable[_Slot]:
        for slot in self._slots:
            if slot is not None:
                yield slot
        yield from self._spares

    def _start_reaper(self) -> None:
        reader, self._reaper_conn = self._ctx.Pipe(duplex=False)
        self._reaper = self._ctx.Process(target=reaper.main, args=(reader,),
                                         name="orchestrator-reaper", daemon=True)
        try:
            self._reaper.start()
        except Exception as exc:
            raise PoolError(f"could not start the pool's reaper process: {exc}") from exc
        finally:
            reader.close()

    def _tell_reaper(self, *msg: int) -> None:
        try:
            self._reaper_conn.send(msg)
        except (OSError, ValueError, AttributeError):
            pass  # the reaper is gone; each worker's lifeline still watches the parent

    def _stop_reaper(self) -> None:
        if self._reaper is None:
            return
        self._tell_reaper(reaper.EXIT)
        self._reaper_conn.close()
        self._reaper.join(5)
        if self._reaper.exitcode is None:
            self._reaper.kill()
            self._reaper.join(5)
        self._reaper = None  # loky closes a process's sentinel fd only when it is collected

    def _spawn(self, index: int) -> _Slot:
        if self._reaper is None:
            self._start_reaper()
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=runner.main,
            args=(child_end, self._lifeline_r, os.getcwd()),
            name=f"orchestrator-worker-{index}",
            daemon=True,
        )
        try:
            process.start()
        except Exception as exc:
            raise PoolError(f"could not start a worker process: {exc}") from exc
        finally:
            child_end.close()
        self._tell_reaper(reaper.ADD, process.pid)
        slot = _Slot(index, process, parent_end, self._clock.now())
        self._selector.register(parent_end.fileno(), selectors.EVENT_READ, ("conn", slot))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("dead", slot))
        return slot

    def _fn_id(self, fn: Any) -> Any:
        return fn if isinstance(fn, str) else id(fn)

    def _function_key(self, attempt: Attempt) -> None:
        fn = attempt.fn
        ident = self._fn_id(fn)
        if ident in self._fns:
            return
        if isinstance(fn, str):
            entry: tuple[Any, int, Any] = (len(self._fns), FN_PATH, fn)
        else:
            try:
                payload = dumps_callable(fn)
            except SerializationError as exc:
                raise SerializationError(
                    f"task {attempt.task_id!r}: cannot pickle its function "
                    f"{getattr(fn, '__qualname__', fn)!r}: {exc}", "fn") from exc
            entry = (len(self._fns), FN_PICKLED, payload)
            self._fn_refs.append(fn)
        self._fns[ident] = entry

    def _pick_slot(self, attempt: Attempt, queue: bool) -> _Slot | None:
        best: _Slot | None = None
        for slot in self._slots:
            if slot is None or slot.killing or slot.retiring:
                continue
            if not slot.queue:
                if slot.ready:
                    return slot
                if best is None or best.queue:
                    best = slot  # a starting worker reads the pipe once it is up
        if best is not None or not queue:
            return best
        if len(attempt.prepared) > QUEUE_LIMIT_BYTES:
            return None
        limit = self._task_limit
        for slot in self._slots:
            if slot is None or slot.killing or slot.retiring:
                continue
            if limit is not None and slot.done + len(slot.queue) >= limit:
                continue
            # The shortest queue, then the attempt running longest: with tasks of similar
            # length it finishes first, so the queued one waits least behind it.
            if best is None or _queue_key(slot) < _queue_key(best):
                best = slot
        return best

    def _receive(self, slot: _Slot) -> None:
        try:
            data = slot.conn.recv_bytes()
        except (EOFError, OSError):
            self._unregister_conn(slot)  # the sentinel reports the death
            return
        msg = pickle.loads(data)
        if msg[0] == DONE:
            self._on_done(slot, msg)
        elif msg[0] == READY:
            slot.ready = True
            self._start_failures = 0
            now = self._clock.now()
            self._events.append(WorkerStarted(slot.pid, slot.index, now, now - slot.spawned_at))
            if slot.queue and not slot.started:
                slot.started = True
                slot.started_at = now
                self._events.append(AttemptStarted(slot.queue[0].ticket, slot.pid, now))

    def _on_done(self, slot: _Slot, msg: tuple[Any, ...]) -> None:
        _, ticket, ok, payload, err, run_s, cpu_s, peak, reports = msg
        raw = ok and isinstance(payload, int) and payload == RAW
        if ok and (payload is None or raw):
            payload = slot.conn.recv_bytes()
        attempt = slot.queue.popleft()
        slot.started = False
        self._by_ticket.pop(attempt.ticket, None)
        assert attempt.ticket == ticket, (
            f"worker {slot.pid} answered {ticket}, expected {attempt.ticket}")
        now = self._clock.now()
        value: Any = None
        error: TaskError | None = None
        if raw:
            value = payload  # a large bytes result, received as is: no second copy
        elif ok:
            try:
                value = pickle.loads(payload)
            except Exception as exc:
                ok = False
                error = TaskError(
                    kind="pickling", type=type(exc).__qualname__,
                    message=f"task {attempt.task_id!r}: its result could not be unpickled in the "
                            f"parent: {exc}")
        else:
            error = error_from_tuple(err)
        slot.done += 1
        self._events.append(AttemptFinished(ticket, slot.pid, now, ok, value, error, run_s, cpu_s,
                                            peak, reports))
        if slot.killing:
            return  # the kill won the race to the result; the death is reported separately
        limit = self._task_limit
        if limit is not None and slot.done >= limit and not slot.queue:
            self._replace(slot, retire=True)
        elif slot.queue:
            slot.started = True
            slot.started_at = now
            self._events.append(AttemptStarted(slot.queue[0].ticket, slot.pid, now))

    def _on_exit(self, slot: _Slot) -> None:
        # Results written before the death still count: read them first.
        if not slot.closed:
            try:
                while slot.conn.poll(0):
                    self._receive(slot)
                    if slot.closed:
                        break
            except (EOFError, OSError):
                pass
        self._kill_remains(slot)
        slot.process.join(1.0)
        self._tell_reaper(reaper.REMOVE, slot.pid)
        code = slot.process.exitcode
        sig = signal_name(-code) if code is not None and code < 0 else None
        now = self._clock.now()
        if slot.retiring and not slot.queue:
            reason = "retired"
        elif slot.killing:
            reason = "killed"
        else:
            reason = "crashed"
        self._events.append(WorkerExited(slot.pid, slot.index, now, code if sig is None else None,
                                         sig, reason))
        if slot.queue:
            head = slot.queue.popleft()
            self._by_ticket.pop(head.ticket, None)
            if slot.started:
                self._events.append(AttemptLost(head.ticket, slot.pid, now,
                                                code if sig is None else None, sig, slot.killing))
            else:
                self._events.append(AttemptRequeued(head.ticket))
            for rest in slot.queue:
                self._by_ticket.pop(rest.ticket, None)
                self._events.append(AttemptRequeued(rest.ticket))
            slot.queue.clear()
        if not slot.ready and reason == "crashed":
            self._start_failures += 1
        self._forget(slot)
        if slot in self._leaving:
            self._leaving.remove(slot)
        elif slot in self._spares:
            self._spares.remove(slot)
        elif 0 <= slot.index < len(self._slots) and self._slots[slot.index] is slot:
            if self._start_failures >= MAX_START_FAILURES:
                raise PoolError(
                    f"worker processes die before they are ready ({self._start_failures} in a "
                    f"row, last exit: {sig or code}); check that 'workers' imports in a fresh "
                    f"interpreter")
            self._slots[slot.index] = None
            self._want_spares = self._spare_target > 0
            self._deaths.append(now)
            self._fill(slot.index)
        self._top_up_spares()

    def _kill_remains(self, slot: _Slot) -> None:
        """SIGKILL what a dead worker left: its process group and whatever a SIGTERM step
        signalled (a descendant that ignores SIGTERM outlives the worker, and the scheduler
        cancels the SIGKILL step once the attempt is lost). Called before the worker is reaped:
        until then its pid, which is its group id (``setsid``), cannot be reused."""
        if hasattr(os, "killpg"):
            try:
                os.killpg(slot.pid, signal.SIGKILL)
            except OSError:
                pass
        for proc in slot.killed:
            if proc.pid != slot.pid:
                try:
                    proc.kill()  # psutil checks the pid was not reused
                except psutil.Error:
                    pass

    def _replace(self, slot: _Slot, *, retire: bool) -> None:
        """Move ``slot`` out (retire: ask it to exit) and put a fresh worker in its place."""
        if retire:
            slot.retiring = True
            try:
                slot.conn.send_bytes(pickle.dumps((EXIT,), PICKLE_PROTOCOL))
            except OSError:
                pass
        self._leaving.append(slot)
        self._slots[slot.index] = None
        self._fill(slot.index)

    def _retire(self, slot: _Slot) -> None:
        slot.retiring = True
        self._leaving.append(slot)
        if not slot.queue:
            try:
                slot.conn.send_bytes(pickle.dumps((EXIT,), PICKLE_PROTOCOL))
            except OSError:
                pass

    def _fill(self, index: int) -> None:
        if self._closed:
            return
        spare = next((s for s in self._spares if s.ready), None)
        if spare is not None:
            self._spares.remove(spare)
            spare.index = index
            self._slots[index] = spare
        else:
            self._slots[index] = self._spawn(index)

    def _spares_wanted(self) -> int:
        """``spare_workers`` after the first death; during a burst of deaths (timeouts in a
        row), as many as died in the last second, up to the pool's size, so each replacement
        finds a ready worker instead of waiting for an interpreter to start."""
        if not self._want_spares:
            return 0
        now = self._clock.now()
        recent = sum(1 for t in self._deaths if now - t < 1.0)
        return min(max(self._spare_target, recent), max(self._size, self._spare_target))

    def _top_up_spares(self) -> None:
        if self._closed:
            return
        wanted = self._spares_wanted()
        while len(self._spares) < wanted:
            self._spares.append(self._spawn(-1))

    def _unregister_conn(self, slot: _Slot) -> None:
        if not slot.closed:
            slot.closed = True
            try:
                self._selector.unregister(slot.conn.fileno())
            except (KeyError, ValueError, OSError):
                pass

    def _forget(self, slot: _Slot) -> None:
        self._unregister_conn(slot)
        try:
            self._selector.unregister(slot.sentinel)
        except (KeyError, ValueError, OSError):
            pass
        try:
            slot.conn.close()
        except OSError:
            pass


def _queue_key(slot: _Slot) -> tuple[int, float]:
    return len(slot.queue), slot.started_at if slot.started else float("inf")


def _wait_exit(slots: list[_Slot], timeout: float) -> bool:
    """Wait until every worker of ``slots`` has exited, without reaping it (sentinels)."""
    from multiprocessing.connection import wait

    pending = {slot.sentinel for slot in slots}
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        ready = wait(list(pending), max(0.0, left))
        pending.difference_update(ready)
        if left <= 0:
            break
    return not pending


# Every pool not yet closed, so that interpreter exit closes them (warm_pool.py registers it).
_live_pools: weakref.WeakSet[LocalPool] = weakref.WeakSet()


def close_all_pools() -> None:
    """Kill every pool's workers now (at interpreter exit)."""
    for pool in list(_live_pools):
        pool.close(kill=True)
