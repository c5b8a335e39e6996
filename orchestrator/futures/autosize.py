"""``chunksize="auto"``: the next chunk's size from the run time measured for the last ones.

As joblib's ``batch_size="auto"``: start with one item, then aim each chunk at
``TARGET_CHUNK_S`` of work (from the mean per-item time the workers measured), growing at most
``MAX_GROWTH``-fold per chunk so one fast first item cannot make a huge chunk of slow ones.
At the end of the input, the last items are split so every worker gets a share.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator

__all__ = ["ChunkSizer", "TARGET_CHUNK_S", "MAX_CHUNK"]

TARGET_CHUNK_S = 0.05  # long enough to pay one message each way per chunk, short for balance
MAX_GROWTH = 8
MAX_CHUNK = 1 << 17  # items; bounds one message's size whatever the measurements say
_EWMA_WEIGHT = 0.3


class ChunkSizer:
    """Chooses chunk sizes for one ``map`` over ``workers`` workers (any thread; the feeder
    calls it under its lock)."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._size = 1
        self._per_item: float | None = None  # seconds, smoothed
        self._buffer: list[tuple[Any, ...]] = []
        self._tail: int | None = None  # the chunk size once the end of the input was seen
        self._failed: BaseException | None = None  # what the input raised, after the buffer

    @property
    def size(self) -> int:
        return self._size

    def observe(self, items: int, duration: float | None) -> None:
        """A chunk of ``items`` ran for ``duration`` seconds in its worker. Mutates."""
        if duration is None or items <= 0:
            return
        per_item = max(duration, 0.0) / items
        old = self._per_item
        self._per_item = per_item if old is None else old + _EWMA_WEIGHT * (per_item - old)
        ideal = MAX_CHUNK if self._per_item <= 0 else int(TARGET_CHUNK_S / self._per_item)
        self._size = max(1, min(ideal, self._size * MAX_GROWTH, MAX_CHUNK))

    def next_chunk(self, items: Iterator[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The next chunk of ``items`` (empty at the end). Reads ahead one chunk per worker to
        see the end coming, and splits what is left then. Mutates."""
        size = self._size
        buffer = self._buffer
        if self._tail is None:
            want = size * self._workers
            if len(buffer) < want:
                try:
                    buffer.extend(itertools.islice(items, want - len(buffer)))
                except BaseException as exc:  # raised once the items before it are sent
                    self._failed = exc
                if len(buffer) < want:  # the end of the input: share the rest among workers
                    self._tail = max(1, -(-len(buffer) // self._workers))
        if self._tail is not None:
            size = min(size, self._tail)
        if not buffer and self._failed is not None:
            raise self._failed
        chunk = buffer[:size]
        del buffer[:size]
        return chunk
