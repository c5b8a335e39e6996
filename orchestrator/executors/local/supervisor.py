"""The pool's processes: start workers into slots, retire and replace them, keep warm spares,
collect the dead, and run the reaper that kills them all if this process dies.

Warm spares: replacing a killed worker costs an interpreter start (~75 ms, far more on a loaded
machine). After the first death the pool keeps ``spare_workers`` ready; while workers die fast (a
run of timeouts) as many as died in the last second, up to the pool's size, so each replacement
finds a ready worker. ``trim`` drops a burst's extra spares when the run ends.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import os
import selectors
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_sentinels
from typing import Any, Callable, Deque, Iterator

import psutil

from workers import runner
from workers.fence import Fence
from workers.process import TAG_ENV, kill_tagged, pool_tag, worker_tag
from workers.tree import kill_group, kill_tree

from ...clock import Clock, MonotonicClock
from ...model.errors import PoolError
from . import memory
from .keeper import ReaperKeeper, close_fd, exit_fd
from .slots import GONE, KILLING, READY, RETIRING, STARTING, Slot
from .wire import Wire

__all__ = ["Supervisor", "MAX_START_FAILURES", "READY_TIMEOUT"]

# A worker that dies this many times in a row before it is ready means the pool cannot start.
MAX_START_FAILURES = 3
# Seconds a new worker has to report READY (an interpreter start: ~75 ms idle, seconds on a
# loaded machine); past it the worker is killed and replaced, and what was sent to it requeued.
READY_TIMEOUT = 60.0
_HAVE_PROC = os.path.exists("/proc/self/stat")
_pool_serials = itertools.count(1)  # a pool's number in this process: its workers' tag prefix

class Supervisor:
    """Every worker process of one pool: ``slots`` (by index; None while being refilled),
    ``spares`` and ``leaving`` (retiring or dying, out of their slot).

    Each new worker's pipe and sentinel are registered with ``selector``, the slot as their data.
    """

    def __init__(self, ctx: Any, selector: selectors.BaseSelector, spare_target: int,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        self.ctx = ctx
        self.ready_timeout = ready_timeout
        self.starting: set[Slot] = set()  # spawned, READY not seen yet
        self._serial = 0
        self._tag_prefix = pool_tag(os.getpid(), next(_pool_serials))
        # loky's processes take an environment for the child (others do not): the worker tag
        self._tags = "env" in inspect.signature(ctx.Process).parameters
        self.clock: Clock = MonotonicClock()
        self.slots: list[Slot | None] = []
        self.spares: list[Slot] = []
        self.leaving: list[Slot] = []
        self.spare_target = spare_target
        self.start_failures = 0
        self.closed = False
        self._selector = selector
        self._want_spares = False
        self._deaths: Deque[float] = collections.deque(maxlen=256)  # when workers were lost
        # The lifeline: workers read it, nobody writes it; EOF tells them the parent is gone.
        self._lifeline_r, self._lifeline_w = ctx.Pipe(duplex=False)
        # Kills the workers if this process dies while one is stuck holding its GIL (see
        # workers/reaper.py); started with the first worker, restarted if it dies.
        self.keeper = ReaperKeeper(ctx, selector)

    # -- who is there ------------------------------------------------------------------------

    def live(self) -> Iterator[Slot]:
        """The workers in slots, then the spares."""
        for slot in self.slots:
            if slot is not None:
                yield slot
        yield from self.spares

    def all(self) -> list[Slot]:
        return [*self.live(), *self.leaving]

    def exited(self) -> list[Slot]:
        """Workers exited or exiting, not yet collected: exit fd readable, or a zombie in /proc
        (a killed worker's main thread is one before the exit fd fires)."""
        slots = self.all()
        gone = set(wait_sentinels([s.sentinel for s in slots], 0)) if slots else set()
        return [slot for slot in slots if slot.sentinel in gone or _zombie(slot.pid)]

    @property
    def helper_pids(self) -> list[int]:
        return self.keeper.pids

    # -- starting and retiring ---------------------------------------------------------------

    def resize(self, size: int) -> None:
        """Retire the slots beyond ``size`` and fill every empty one up to it. Mutates."""
        while len(self.slots) > size:
            slot = self.slots.pop()
            if slot is not None:
                self.retire(slot)
        for index in range(size):
            if index >= len(self.slots):
                self.slots.append(None)
            if self.slots[index] is None:
                self.slots[index] = self.spawn(index)

    def spawn(self, index: int) -> Slot:
        """Start a worker for slot ``index`` (-1: a spare) and watch it."""
        self.keeper.ensure()
        parent_end, child_end = self.ctx.Pipe(duplex=True)
        fence = Fence.create()
        fence_end = Connection(os.dup(fence.fd))  # so the context passes it as it does a pipe
        self._serial += 1
        tag = worker_tag(self._tag_prefix, self._serial)
        process = self.ctx.Process(
            target=runner.main,
            args=(child_end, self._lifeline_r, os.getcwd(), fence_end),
            name=f"orchestrator-worker-{index}",
            daemon=True,
            **({"env": {TAG_ENV: tag}} if self._tags else {}),
        )
        try:
            process.start()
        except Exception as exc:
            fence.close()
            raise PoolError(f"could not start a worker process: {exc}") from exc
        finally:
            child_end.close()
            fence_end.close()
        self.keeper.watch(process.pid)
        slot = Slot(index, process, Wire(parent_end), self.clock.now(), exit_fd(process),
                    time.monotonic() + self.ready_timeout)
        slot.fence = fence
        slot.tag = tag if self._tags else ""
        self.starting.add(slot)
        self._selector.register(slot.wire.fileno(), selectors.EVENT_READ, slot)
        self._selector.register(slot.sentinel, selectors.EVENT_READ, slot)
        return slot

    def on_ready(self, slot: Slot) -> None:
        """``slot``'s worker reported READY. Mutates."""
        if slot.state is STARTING:
            slot.move(READY)
        self.starting.discard(slot)
        self.start_failures = 0

    def stalled(self, timeout: float | None) -> float | None:
        """Kill every worker not ready in time (its exit then reports it and what was sent to
        it is requeued); ``timeout`` cut to when the next one will be due."""
        now = time.monotonic()
        due: float | None = None
        for slot in list(self.starting):
            if slot.state is not STARTING:
                self.starting.discard(slot)
            elif slot.ready_by <= now:
                self.starting.discard(slot)
                slot.stalled = True
                slot.move(KILLING)
                slot.killed = kill_tree(slot.pid, signal.SIGKILL)
            elif due is None or slot.ready_by < due:
                due = slot.ready_by
        if due is None:
            return timeout
        left = max(0.0, due - now)
        return left if timeout is None else min(timeout, left)

    def retire(self, slot: Slot) -> None:
        """Move ``slot`` out of service and ask its worker to exit after what it was sent
        (a dying worker just leaves). Mutates."""
        if slot.state is not KILLING:
            slot.move(RETIRING)
        self.leaving.append(slot)
        slot.wire.send_exit()

    def replace(self, slot: Slot) -> None:
        """Retire ``slot`` and put a fresh worker (a ready spare, if any) in its place."""
        self.slots[slot.index] = None
        self.retire(slot)
        self._fill(slot.index)

    def _fill(self, index: int) -> None:
        if self.closed:
            return  # close() ran on another thread (interpreter exit) during a wait()
        spare = next((s for s in self.spares if s.state is READY), None)
        if spare is not None:
            self.spares.remove(spare)
            spare.index = index
            self.slots[index] = spare
        else:
            self.slots[index] = self.spawn(index)

    # -- deaths ------------------------------------------------------------------------------

    def collect(self, slot: Slot) -> int | None:
        """Kill what the dead worker of ``slot`` left, reap it, stop watching it; its exit code
        (negative: the signal). Mutates."""
        self._kill_remains(slot)
        slot.process.join(1.0)
        self.keeper.unwatch(slot.pid)
        code: int | None = slot.process.exitcode
        return code

    def settle(self, slot: Slot, crashed: bool, now: float, cause: str) -> None:
        """After ``slot``'s worker exited and was collected: take it out, and put a worker in
        its place if it held one. ``crashed``: it died by itself; ``cause`` says how (for the
        error when workers keep dying before they are ready). Mutates."""
        # A SIGKILL comes from outside (a user, the OOM killer): it is not a failure to start.
        if (crashed and slot.state is STARTING and cause != "SIGKILL") or slot.stalled:
            self.start_failures += 1
            if slot.stalled:
                cause = f"not ready after {self.ready_timeout:g}s"
        self.starting.discard(slot)
        slot.move(GONE)
        self.forget(slot)
        if slot in self.leaving:
            self.leaving.remove(slot)
        elif slot in self.spares:
            self.spares.remove(slot)
        elif 0 <= slot.index < len(self.slots) and self.slots[slot.index] is slot:
            self.slots[slot.index] = None
            if self.start_failures >= MAX_START_FAILURES:
                raise PoolError(
                    f"worker processes die before they are ready ({self.start_failures} in a "
                    f"row, last exit: {cause}); check that 'workers' imports in a fresh "
                    f"interpreter")
            self._want_spares = self.spare_target > 0
            self._deaths.append(now)
            self._fill(slot.index)
        self._top_up_spares()

    def _spares_wanted(self) -> int:
        """``spare_target`` after the first death; during a burst of deaths (timeouts in a
        row), as many as died in the last second, up to the pool's size."""
        if not self._want_spares:
            return 0
        now = self.clock.now()
        recent = sum(1 for t in self._deaths if now - t < 1.0)
        return min(max(self.spare_target, recent), max(len(self.slots), self.spare_target))

    def _top_up_spares(self) -> None:
        if self.closed:
            return
        wanted = self._spares_wanted()
        while len(self.spares) < wanted:
            try:
                self.spares.append(self.spawn(-1))
            except PoolError:
                return  # a spare is optional (no fd or process left, say): run without it

    def mute(self, slot: Slot) -> None:
        """Stop reading ``slot``'s pipe (it reached its end); its sentinel reports the death."""
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(slot.wire.fileno())

    def forget(self, slot: Slot) -> None:
        self.mute(slot)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(slot.sentinel)
        if slot.sentinel != slot.process.sentinel:
            close_fd(slot.sentinel)  # our pidfd
            slot.sentinel = slot.process.sentinel
        memory.release(slot)
        slot.wire.close()
        if slot.fence is not None:
            slot.fence.close()
            slot.fence = None

    def _kill_remains(self, slot: Slot, scan: bool = True) -> None:
        """SIGKILL what a dead worker left: its process group and whatever a SIGTERM step
        signalled (a descendant that ignores SIGTERM outlives the worker, and the scheduler
        cancels the SIGKILL step once the attempt is lost). Called before the worker is reaped:
        until then its pid, which is its group id (``setsid``), cannot be reused."""
        kill_group(slot.pid)
        if scan and slot.tag and not (slot.state is RETIRING and not slot.queue):
            # Its descendants that left the group (``setsid``) were re-parented away; found by
            # the tag they inherited. Killed workers too: a kill's SIGTERM step snapshotted the
            # tree, but the task may have forked after it. (An idle retired worker ended its
            # leftovers itself.)
            kill_tagged([slot.tag])
        for proc in slot.killed:
            if proc.pid != slot.pid:
                try:
                    proc.kill()  # psutil checks the pid was not reused
                except psutil.Error:
                    pass

    # -- between runs and at the end ---------------------------------------------------------

    def trim(self, on_exit: Callable[[Slot], None]) -> None:
        """End of a run: forget the burst of deaths, retire the spares beyond the target, and
        hand the retired workers that exit now to ``on_exit``, so their exits are not reported
        in the next run. Mutates."""
        self._deaths.clear()
        while len(self.spares) > self.spare_target:
            self.retire(self.spares.pop())
        idle_leaving = [slot for slot in self.leaving if not slot.queue]
        if not idle_leaving:
            return
        if not _wait_exit(idle_leaving, 1.0):
            # An exit can hang for good (a task left a non-daemon thread running, which the
            # interpreter waits for): an idle worker has nothing left to lose.
            for slot in idle_leaving:
                if not _wait_exit([slot], 0):
                    kill_tree(slot.pid, signal.SIGKILL)
            _wait_exit(idle_leaving, 5.0)
        for slot in idle_leaving:
            if _wait_exit([slot], 0):
                on_exit(slot)

    def close(self, *, kill: bool) -> None:
        """Stop every worker: politely (EXIT, then SIGKILL after 2 s), or at once with ``kill``;
        then the reaper. Mutates."""
        self.closed = True
        slots = self.all()
        if not kill:
            for slot in slots:
                if slot.queue:
                    kill_tree(slot.pid, signal.SIGKILL)
                else:
                    slot.wire.send_exit()
            _wait_exit(slots, 2.0)
        for slot in slots:
            if not _wait_exit([slot], 0):
                kill_tree(slot.pid, signal.SIGKILL, slot.killed)
        _wait_exit(slots, 5.0)
        if self._tags:
            # One pass for every worker this pool ever had: also what a long-gone worker's
            # descendants may have forked after that worker's own scan.
            kill_tagged(prefixes=[self._tag_prefix])
        for slot in slots:
            self._kill_remains(slot, scan=False)  # before join() reaps the worker: see there
            slot.process.join(5)
            self.forget(slot)
            slot.move(GONE)
        self.keeper.stop()
        self.starting.clear()  # it held the slots (and their process objects' fds) alive
        self.slots.clear()
        self.spares.clear()
        self.leaving.clear()
        self._lifeline_w.close()
        self._lifeline_r.close()

    def inherited_fds(self) -> list[int]:
        """The fds (lifeline's write end, reaper's and workers' pipes) a forked child drops."""
        fds = [self._lifeline_w.fileno()] if not self._lifeline_w.closed else []
        if self.keeper.wire is not None:
            fds.append(self.keeper.wire.fileno())
        fds += [slot.wire.fileno() for slot in self.all() if not slot.wire.conn.closed]
        return fds


def _zombie(pid: int) -> bool:
    """Whether /proc shows ``pid`` dead or dying (Linux; elsewhere False)."""
    if not _HAVE_PROC:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False


def _wait_exit(slots: list[Slot], timeout: float) -> bool:
    """Wait until every worker of ``slots`` has exited, without reaping it (sentinels)."""
    pending = {slot.sentinel for slot in slots}
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        ready = wait_sentinels(list(pending), max(0.0, left))
        pending.difference_update(ready)
        if left <= 0:
            break
    return not pending
