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

from ..base import Attempt
from .wire import Wire

if TYPE_CHECKING:
    import psutil

__all__ = ["SlotState", "Slot", "pick_slot", "NEXT", "STARTING", "READY", "KILLING", "RETIRING",
           "GONE"]


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
        "tag", "worn", "statm",
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


def pick_slot(slots: Sequence[Slot | None], may_queue: bool, task_limit: int | None) -> Slot | None:
    """An idle worker (a ready one first, else one still starting: it reads its pipe once it is
    up); with ``may_queue``, else the best busy one to queue behind."""
    best: Slot | None = None
    for slot in slots:
        if slot is None or slot.state is KILLING or slot.queue or slot.worn:
            continue
        if slot.state is READY:
            return slot
        if best is None:
            best = slot
    if best is not None or not may_queue:
        return best
    for slot in slots:
        if slot is None or slot.state is KILLING:
            continue
        if slot.worn or (task_limit is not None and slot.done + len(slot.queue) >= task_limit):
            continue
        # The shortest queue, then the attempt running longest: with tasks of similar length
        # it finishes first, so the queued one waits least behind it.
        if best is None or _queue_key(slot) < _queue_key(best):
            best = slot
    return best


def _queue_key(slot: Slot) -> tuple[int, float]:
    return len(slot.queue), slot.started_at if slot.started_at is not None else float("inf")
