"""One heap of timers: task deadlines, retry wake-ups, kill escalations, memory checks, the run's
deadline; and the kinds of timer (``Timer``) that key it.

Entries are ``(due, seq, key)``. A timer is cancelled by forgetting the ``seq`` registered for its
key: when popped, an entry whose ``seq`` is no longer the key's is dropped (trio's
``Deadlines``). The ``seq`` tie-breaker means keys are never compared. Stale entries are
compacted away when they outnumber live ones, so a long run of short tasks with long timeouts
keeps the heap small.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from typing import Generic, Hashable, TypeVar, Union

__all__ = ["TimerHeap", "Timer", "TimerKey"]

K = TypeVar("K", bound=Hashable)


class Timer(enum.Enum):
    """What a timer is for; a key is ``(kind, subject)``, the subject named below."""

    DEADLINE = "deadline"  # ticket: the attempt's timeout passed
    ESCALATE = "escalate"  # ticket: the SIGTERM grace is over, SIGKILL
    RETRY = "retry"  # task id: its retry backoff is over
    MEMORY = "memory"  # None: measure the running attempts' memory
    RUN = "run"  # None: the run's global_timeout expired
    TOKEN = "token"  # None: a rate-limited task's next token is due (the dispatch after acts)

    # Keys are hashed on every set and cancel (several times per task): identity, not name.
    __hash__ = object.__hash__


TimerKey = tuple[Timer, Union[int, str, None]]


class TimerHeap(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, int] = {}  # key -> seq of its current entry
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def set(self, key: K, due: float) -> None:
        """Arm (or re-arm) the timer ``key`` to fire at ``due``. Mutates."""
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (due, seq, key))
        if len(self._heap) > 64 + 2 * len(self._live):
            self._compact()

    def cancel(self, key: K) -> None:
        """Forget ``key``'s timer, if any. Mutates."""
        self._live.pop(key, None)

    def armed(self, key: K) -> bool:
        """Whether ``key`` has a live timer."""
        return key in self._live

    def next_due(self) -> float | None:
        """When the earliest live timer fires, or None."""
        heap = self._heap
        while heap:
            due, seq, key = heap[0]
            if self._live.get(key) == seq:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return every live timer due at or before ``now``, earliest first."""
        fired: list[K] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if self._live.get(key) == seq:
                del self._live[key]
                fired.append(key)
        return fired

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
        heapq.heapify(self._heap)
