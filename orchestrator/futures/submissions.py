"""The submissions the loop has not taken yet, best first: higher ``priority`` first, then
submission order (the scheduler's own order, applied before a task reaches it, so a
high-priority submit overtakes a long queue of ordinary ones).

Most submissions have priority 0: they go through a deque (appends and pops are atomic, no lock).
Only the others pay for a lock and a heap, one for those above 0 and one for those below.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Submissions"]

T = TypeVar("T")


class Submissions(Generic[T]):
    """A thread-safe queue of items by ``(-priority, order)``."""

    def __init__(self) -> None:
        self._plain: deque[T] = deque()
        self._high: list[tuple[int, int, T]] = []
        self._low: list[tuple[int, int, T]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._plain or self._high or self._low)

    def put(self, item: T, priority: int = 0) -> None:
        if priority == 0:
            self._plain.append(item)
            return
        with self._lock:
            heap = self._high if priority > 0 else self._low
            heapq.heappush(heap, (-priority, next(self._order), item))

    def take(self) -> T | None:
        """The best item, or None when empty."""
        if self._high:
            with self._lock:
                if self._high:
                    return heapq.heappop(self._high)[-1]
        try:
            return self._plain.popleft()
        except IndexError:
            pass
        if self._low:
            with self._lock:
                if self._low:
                    return heapq.heappop(self._low)[-1]
        return None
