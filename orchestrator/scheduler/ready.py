"""What runs next: the ready queue, the admission of a lazy flat batch, the prefetch rule.

The order and the reasons for it, and for prefetching only short tasks: the package docstring.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterable, Iterator

from ..model.graph import Estimates
from ..model.spec import TaskSpec, as_flat_task
from .records import TaskRecord

__all__ = ["ReadyQueue", "Intake", "Prefetch", "PREFETCH_BELOW_S"]

# Queue attempts behind busy workers only while recent attempts take less than this: the
# parent/worker round trip is ~0.1 ms, so longer tasks gain little and risk waiting behind
# another task while a worker idles.
PREFETCH_BELOW_S = 0.005
_EWMA_WEIGHT = 0.2
_END = object()  # what next() gives for an input that is used up (None is a bad task, not the end)


class ReadyQueue:
    """Ready tasks, best first (the order above; ``critical_path_first=False`` leaves out the
    path length)."""

    __slots__ = ("_heap", "_by_path")

    def __init__(self, critical_path_first: bool) -> None:
        # Entries end with the record; ``seq`` is unique, so records are never compared.
        self._heap: list[tuple[Any, ...]] = []
        self._by_path = critical_path_first

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, rec: TaskRecord) -> None:
        """Queue ``rec`` (its state is the caller's). Mutates."""
        if self._by_path:
            heapq.heappush(self._heap, (-rec.spec.priority, -rec.rank, rec.seq, rec))
        else:
            heapq.heappush(self._heap, (-rec.spec.priority, rec.seq, rec))

    def pop(self) -> TaskRecord:
        """Take the best ready task. Mutates."""
        rec: TaskRecord = heapq.heappop(self._heap)[-1]
        return rec

    def discard(self, rec: TaskRecord) -> None:
        """Take ``rec`` out of the queue (a task stopped before it ran). Mutates."""
        heap = self._heap
        for i, entry in enumerate(heap):
            if entry[-1] is rec:
                heap[i] = heap[-1]
                heap.pop()
                heapq.heapify(heap)
                return

    def clear(self) -> None:
        """Forget every queued task (the run stops). Mutates."""
        self._heap.clear()


class Intake:
    """A flat batch pulled one task at a time, so a generator of a million tasks runs in flat
    memory: each task is checked as it comes (a ``TaskSpec`` without dependencies) and gets its
    submission order and its rank (its estimate, or the mean of those pulled so far)."""

    __slots__ = ("_source", "_estimates", "_count")

    def __init__(self, tasks: Iterable[TaskSpec]) -> None:
        self._source: Iterator[TaskSpec] = iter(tasks)
        self._estimates = Estimates()
        self._count = 0

    def take(self) -> TaskRecord | None:
        """The next task's new record, or None when the input is used up. Raises ``SpecError``
        for an item that is not a flat batch's task. Mutates."""
        item = next(self._source, _END)
        if item is _END:
            return None
        spec = as_flat_task(item)
        self._estimates.add(spec)
        rec = TaskRecord(spec, self._count, self._estimates.of(spec), ())
        self._count += 1
        return rec


class Prefetch:
    """Whether to queue an attempt behind a busy worker: only while at most ``limit`` are queued
    and the recent attempts are short."""

    __slots__ = ("_limit", "_ewma")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._ewma: float | None = None  # of attempt durations

    def observe(self, duration: float) -> None:
        """An attempt took ``duration`` seconds. Mutates."""
        ewma = self._ewma
        self._ewma = duration if ewma is None else ewma + _EWMA_WEIGHT * (duration - ewma)

    def allows(self, queued: int) -> bool:
        """Whether one more may be queued, ``queued`` being queued now."""
        if self._limit <= 0 or queued >= self._limit:
            return False
        return self._ewma is not None and self._ewma < PREFETCH_BELOW_S
