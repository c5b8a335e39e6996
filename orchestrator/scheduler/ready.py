"""What runs next: the ready queue, the admission of a lazy flat batch, the prefetch rule.

The order and the reasons for it, and for prefetching only short tasks: the package docstring.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterable, Iterator

from ..model.graph import Estimates
from ..model.resources import Request
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
    path length), kept in one heap per resource request: tasks that ask for the same amounts
    of the same names wait for the same thing, so only each heap's head is ever asked whether
    it fits, and a head that does not fit never blocks another heap's (``admission``)."""

    __slots__ = ("_heaps", "_by_path", "_size")

    def __init__(self, critical_path_first: bool) -> None:
        # Entries end with the record; ``seq`` is unique, so records are never compared.
        self._heaps: dict[Request, list[tuple[Any, ...]]] = {}
        self._by_path = critical_path_first
        self._size = 0

    def __bool__(self) -> bool:
        return self._size > 0

    def __len__(self) -> int:
        return self._size

    def push(self, rec: TaskRecord) -> TaskRecord:
        """Queue ``rec`` (its state is the caller's); the head of its request's heap after.
        Mutates."""
        if self._by_path:
            entry: tuple[Any, ...] = (-rec.spec.priority, -rec.rank, rec.seq, rec)
        else:
            entry = (-rec.spec.priority, rec.seq, rec)
        heap = self._heaps.get(rec.request)
        if heap is None:
            heap = self._heaps[rec.request] = []
        heapq.heappush(heap, entry)
        self._size += 1
        head: TaskRecord = heap[0][-1]
        return head

    @property
    def plain_only(self) -> bool:
        """Whether every queued task names no resource (the common case, made cheap)."""
        return len(self._heaps) == 1 and () in self._heaps

    def heads(self) -> list[TaskRecord]:
        """The best task of each request, best first."""
        tops = [heap[0] for heap in self._heaps.values() if heap]
        if len(tops) > 1:
            tops.sort()  # ``seq`` is unique: the comparison never reaches the record
        return [top[-1] for top in tops]

    def head(self, request: Request) -> TaskRecord | None:
        """The best queued task with ``request``, or None."""
        heap = self._heaps.get(request)
        return heap[0][-1] if heap else None

    def members(self, request: Request) -> list[TaskRecord]:
        """Every queued task with ``request``, in no order."""
        return [entry[-1] for entry in self._heaps.get(request, ())]

    def pop(self, request: Request | None = None) -> TaskRecord:
        """Take the best ready task (of ``request``, when given). Mutates."""
        if request is None:
            request = self.heads()[0].request
        heap = self._heaps[request]
        rec: TaskRecord = heapq.heappop(heap)[-1]
        if not heap and request:
            del self._heaps[request]  # requests come and go; the plain one stays
        self._size -= 1
        return rec

    def discard(self, rec: TaskRecord) -> None:
        """Take ``rec`` out of the queue (a task stopped before it ran). Mutates."""
        heap = self._heaps.get(rec.request)
        if heap is None:
            return
        for i, entry in enumerate(heap):
            if entry[-1] is rec:
                heap[i] = heap[-1]
                heap.pop()
                heapq.heapify(heap)
                self._size -= 1
                if not heap and rec.request:
                    del self._heaps[rec.request]
                return

    def clear(self) -> None:
        """Forget every queued task (the run stops). Mutates."""
        self._heaps.clear()
        self._size = 0


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
    and the recent attempts are short (under ``below_s``: an executor whose round trip is
    longer than the local pool's says how short with its ``prefetch_below_s``)."""

    __slots__ = ("_limit", "_below", "_ewma")

    def __init__(self, limit: int, below_s: float = PREFETCH_BELOW_S) -> None:
        self._limit = limit
        self._below = below_s
        self._ewma: float | None = None  # of attempt durations

    def observe(self, duration: float) -> None:
        """An attempt took ``duration`` seconds. Mutates."""
        ewma = self._ewma
        self._ewma = duration if ewma is None else ewma + _EWMA_WEIGHT * (duration - ewma)

    def allows(self, queued: int) -> bool:
        """Whether one more may be queued, ``queued`` being queued now."""
        if self._limit <= 0 or queued >= self._limit:
            return False
        return self._ewma is not None and self._ewma < self._below
