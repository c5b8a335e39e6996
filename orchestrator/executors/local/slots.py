"""One worker slot: a worker process, its pipe, the attempts sent to it, and its state.

Its states (the moves allowed between them are ``NEXT``, the one table):

* STARTING: spawned; its READY has not arrived. Attempts may already be sent (it reads its pipe
  once it is up); none of them has started.
* READY: serving. Idle or busy, as its queue says; the head of the queue runs.
* KILLING: the attempt at the head of its queue is being killed; the worker will die. A kill is
  final: retiring a dying worker leaves it KILLING.
* RETIRING: out of the pool's slots (task limit reached, pool shrunk, spare trimmed), told to
  exit once it has run what was sent.
* GONE: exited and collected.
"""

from __future__ import annotations

import collections
import enum
from typing import TYPE_CHECKING, Any, Deque, Final, Mapping, Sequence

from workers.fence import Fence

from ..base import Attempt
from .wire import Wire

if TYPE_CHECKING:
    import psutil

__all__ = ["SlotState", "Slot", "pick_slot", "NEXT", "STARTING", "READY", "KILLING", "RETIRING",
           "GONE", "QUEUE_LIMIT_BYTES", "STEAL_AFTER_S", "steal_plan"]

# What may wait in a worker's pipe behind its running attempt, in argument bytes: a write past
# the pipe's capacity (64 KiB on Linux) would block the parent until that worker finished.
QUEUE_LIMIT_BYTES = 32 * 1024
# An idle worker takes what waits behind a busy one once the busy one's attempt has run this
# long: twice what a task may take to be queued at all (``PREFETCH_BELOW_S``), so a queue of
# short tasks drains where it is, and a long or hung one holds up only itself.
STEAL_AFTER_S = 0.01


class SlotState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    KILLING = "killing"
    RETIRING = "retiring"
    GONE = "gone"


# Module-level names for the dispatch path: a member looked up on its class costs ~60 ns
# (Python 3.11), a global ~8 ns, and submit checks each slot's state per task.
STARTING: Final = SlotState.STARTING
READY: Final = SlotState.READY
KILLING: Final = SlotState.KILLING
RETIRING: Final = SlotState.RETIRING
GONE: Final = SlotState.GONE

NEXT: Final[Mapping[SlotState, frozenset[SlotState]]] = {
    STARTING: frozenset({READY, KILLING, RETIRING, GONE}),
    READY: frozenset({KILLING, RETIRING, GONE}),
    KILLING: frozenset({GONE}),
    RETIRING: frozenset({KILLING, GONE}),
    GONE: frozenset(),
}


class Slot:
    """A worker process the pool owns. ``index`` is its place in the pool (-1: a spare)."""

    __slots__ = (
        "index", "process", "wire", "pid", "sentinel", "state", "queue", "started_at", "done",
        "spawned_at", "killed", "kill_sig", "ready_by", "stalled", "rss_base", "rss_checked",
        "tag", "worn", "statm", "fence", "queued_bytes", "frames", "frame_of",
    )

    def __init__(self, index: int, process: Any, wire: Wire, spawned_at: float,
                 sentinel: int | None = None, ready_by: float = float("inf")) -> None:
        self.index = index
        self.process = process
        self.wire = wire
        self.pid: int = process.pid
        # Readable once the worker has exited: a pidfd where the system has them (a forked
        # descendant cannot hold it open, as it does the write end of the process's sentinel
        # pipe), else that sentinel.
        self.sentinel: int = process.sentinel if sentinel is None else sentinel
        self.state = STARTING
        # Attempts sent, in the order the worker will run them; the head runs once READY.
        self.queue: Deque[Attempt] = collections.deque()
        self.started_at: float | None = None  # when the head started; None: not yet
        self.done = 0  # attempts finished, for the task limit
        self.spawned_at = spawned_at
        self.killed: list[psutil.Process] = []  # what a kill signalled, for the next step
        self.kill_sig: str | None = None  # the last signal a kill sent
        self.ready_by = ready_by  # time.monotonic() by which READY must come, else replaced
        self.stalled = False  # killed for not being ready in time
        self.rss_base: int | None = None  # resident bytes after its first checked task
        self.rss_checked = 0  # ``done`` at the last memory check
        self.worn = False  # outgrew max_worker_memory_mb: takes no more work, then is replaced
        self.statm = -1  # a descriptor of /proc/PID/statm once memory.resident_bytes read it
        self.tag = ""  # in its descendants' environment (``workers.process.TAG_ENV``)
        self.fence: Fence | None = None  # what the worker has begun of its queue
        self.queued_bytes = 0  # argument bytes of the attempts in ``queue``
        self.frames = 0  # RUN frames sent (the worker counts them too: the fence's numbers)
        self.frame_of: dict[int, int] = {}  # ticket -> its RUN frame's number, for the queue

    def push(self, attempt: Attempt) -> None:
        """``attempt``'s RUN frame was sent: it runs after those queued. Mutates."""
        self.queue.append(attempt)
        self.queued_bytes += len(attempt.prepared or b"")
        self.frames += 1
        self.frame_of[attempt.ticket] = self.frames

    def pop_head(self) -> Attempt:
        """The head ended (or was lost): take it off. Mutates."""
        attempt = self.queue.popleft()
        self.queued_bytes -= len(attempt.prepared or b"")
        self.frame_of.pop(attempt.ticket, None)
        return attempt

    def unstarted(self, ticket: int) -> Attempt | None:
        """``ticket``'s attempt if it is queued here and has not started (as far as the parent
        knows: the fence has the last word), else None."""
        for i, attempt in enumerate(self.queue):
            if attempt.ticket == ticket:
                return attempt if i or self.started_at is None else None
        return None

    def revoke(self, attempt: Attempt) -> bool:
        """Take ``attempt`` back if the worker has not begun it (``Fence.revoke``); True if it
        is off the queue and will never run here. Mutates."""
        if self.fence is None or not self.fence.revoke(self.frame_of[attempt.ticket]):
            return False
        self.queue.remove(attempt)
        self.queued_bytes -= len(attempt.prepared or b"")
        del self.frame_of[attempt.ticket]
        return True

    def clear(self) -> list[Attempt]:
        """Take every attempt off (none of them will run here); them, in order. Mutates."""
        attempts = list(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        self.frame_of.clear()
        return attempts

    def move(self, to: SlotState) -> None:
        """Change state along ``NEXT``; raises ``RuntimeError`` for a move it does not allow.
        Mutates."""
        if to not in NEXT[self.state]:
            raise RuntimeError(f"worker slot {self.index} (pid {self.pid}): "
                               f"{self.state.value} -> {to.value} is not allowed")
        self.state = to

    def __repr__(self) -> str:
        return (f"<Slot {self.index} pid {self.pid} {self.state.value}, "
                f"{len(self.queue)} queued>")


def pick_slot(slots: Sequence[Slot | None], queue_bytes: int | None,
              task_limit: int | None) -> Slot | None:
    """An idle worker (a ready one first, else one still starting: it reads its pipe once it is
    up); else, given ``queue_bytes`` (the attempt's size; None: it may not wait behind another),
    the best busy one to queue behind whose queue stays within ``QUEUE_LIMIT_BYTES``: the
    shortest queue, then the attempt running longest (with tasks of similar length it finishes
    first, so the queued one waits least behind it). One pass: it runs for every dispatch."""
    starting: Slot | None = None
    behind: Slot | None = None
    behind_key: tuple[int, float] = (0, 0.0)
    most = None if queue_bytes is None else QUEUE_LIMIT_BYTES - queue_bytes
    for slot in slots:
        if slot is None or slot.state is KILLING or slot.worn:
            continue
        queue = slot.queue
        if not queue:
            if slot.state is READY:
                return slot
            if starting is None:
                starting = slot
        elif (most is not None and slot.queued_bytes <= most
              and (task_limit is None or slot.done + len(queue) < task_limit)):
            started = slot.started_at
            key = (len(queue), started if started is not None else _NOT_STARTED)
            if behind is None or key < behind_key:
                behind, behind_key = slot, key
    return starting if starting is not None else behind


_NOT_STARTED = float("inf")  # a queue whose head has not started: its wait is the longest


def steal_plan(slots: Sequence[Slot | None], now: float,
               task_limit: int | None) -> tuple[list[Slot], list[Slot], float | None]:
    """Who may take what: the idle workers in service (``thieves``); the workers with attempts
    queued behind one that began ``STEAL_AFTER_S`` or more before ``now`` (``victims``, the
    longest queue first); and when the next other queue will be that old (None: none)."""
    thieves: list[Slot] = []
    busy: list[Slot] = []
    for slot in slots:
        if slot is None or slot.state is not READY or slot.worn:
            continue
        if not slot.queue:
            if task_limit is None or slot.done < task_limit:
                thieves.append(slot)
        elif len(slot.queue) > 1 and slot.started_at is not None:
            busy.append(slot)
    if not thieves or not busy:
        return thieves, [], None
    victims: list[Slot] = []
    due: float | None = None
    for slot in busy:
        assert slot.started_at is not None
        when = slot.started_at + STEAL_AFTER_S
        if when <= now:
            victims.append(slot)
        elif due is None or when < due:
            due = when
    victims.sort(key=lambda v: -len(v.queue))
    return thieves, victims, due
