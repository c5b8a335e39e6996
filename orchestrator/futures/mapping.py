"""``ProcessPool.map``: the stdlib's semantics (results in input order, an error raised where its
item's result would be, ``timeout`` counted from the call, the futures not yet started cancelled
when the iterator is closed), with chunks, and ``chunksize="auto"``.

A fixed ``chunksize`` collects the input at once, as the stdlib does. ``"auto"`` (joblib's
``batch_size="auto"``) pulls the input lazily instead, keeping about two chunks per worker in
flight, and sizes each chunk from the run time the workers measured for the last ones: it aims
at ``TARGET_CHUNK_S`` per chunk, so the per-call overhead (one message each way) is paid once
per chunk rather than per item, while a chunk of slow items stays small enough to spread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Literal

from .autosize import ChunkSizer

__all__ = ["map_results"]

SubmitOne = Callable[[tuple[Any, ...]], "Future[Any]"]
SubmitChunk = Callable[[list[tuple[Any, ...]]], "Future[Any]"]


def map_results(submit_one: SubmitOne, submit_chunk: SubmitChunk,
                iterables: tuple[Iterable[Any], ...], *, timeout: float | None,
                chunksize: int | Literal["auto"], workers: int) -> Iterator[Any]:
    end = None if timeout is None else time.monotonic() + timeout
    if chunksize == "auto":
        feeder = _AutoFeeder(submit_chunk, zip(*iterables, strict=False), workers)
        feeder.fill()
        return _flatten(feeder.futures(), end)
    if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive integer or 'auto', got {chunksize!r}")
    items = zip(*iterables, strict=False)
    if chunksize == 1:
        return _each([submit_one(args) for args in items], end)
    chunks = iter(lambda: list(itertools.islice(items, chunksize)), [])
    return _flatten(iter([submit_chunk(chunk) for chunk in chunks]), end)


def _wait_for(future: Future[Any], end: float | None) -> Any:
    """``future``'s result within the deadline; cancel it if that raises (the stdlib's
    ``_result_or_cancel``: a future we give up on must not run)."""
    try:
        return future.result(None if end is None else end - time.monotonic())
    finally:
        future.cancel()


def _each(fs: list[Future[Any]], end: float | None) -> Iterator[Any]:
    # A generator: nothing waits until the first next(); each future dropped once read.
    def results() -> Iterator[Any]:
        try:
            fs.reverse()
            while fs:
                yield _wait_for(fs.pop(), end)
        finally:
            for future in fs:
                future.cancel()
    return results()


def _flatten(chunks: Iterator[Future[Any]], end: float | None) -> Iterator[Any]:
    def results() -> Iterator[Any]:
        try:
            for future in chunks:
                values = _wait_for(future, end)
                del future
                yield from values
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # the auto feeder: stop it, it cancels what it queued
                close()
            else:
                for future in chunks:
                    future.cancel()
    return results()


class _AutoFeeder:
    """Submits chunks of the input as earlier ones finish (from their done-callbacks), about
    two per worker in flight; ``futures()`` yields them in input order."""

    def __init__(self, submit_chunk: SubmitChunk, items: Iterator[tuple[Any, ...]],
                 workers: int) -> None:
        self._submit = submit_chunk
        self._items = items
        self._workers = workers
        self._sizer = ChunkSizer(workers)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[Future[Any]] = deque()
        self._inflight = 0
        self._exhausted = False
        self._closed = False
        self._error: BaseException | None = None

    def fill(self) -> None:
        """Submit chunks while fewer than two per worker are in flight. The done-callbacks are
        added after the lock is released: a chunk that has already finished runs its callback
        at once, on this thread, and that callback takes the lock (it deadlocked here)."""
        submitted: list[Future[Any]] = []
        with self._lock:
            while (not self._exhausted and not self._closed
                   and self._inflight < 2 * self._workers):
                try:
                    chunk = self._sizer.next_chunk(self._items)
                except BaseException as exc:  # the input raised: surface it at its place
                    self._error, self._exhausted = exc, True
                    break
                if not chunk:
                    self._exhausted = True
                    break
                try:
                    future = self._submit(chunk)
                except RuntimeError as exc:  # the pool was shut down with the input unread
                    self._error, self._exhausted = exc, True
                    break
                self._queue.append(future)
                self._inflight += 1
                submitted.append(future)
            self._ready.notify_all()
        for future in submitted:
            future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._inflight -= 1
            if not future.cancelled() and future.exception() is None:
                self._sizer.observe(len(future.result()), getattr(future, "duration", None))
        self.fill()

    def futures(self) -> Iterator[Future[Any]]:
        try:
            while True:
                with self._lock:
                    while not self._queue and not self._exhausted:
                        self._ready.wait()
                    if not self._queue:
                        if self._error is not None:
                            raise self._error
                        return
                    future = self._queue.popleft()
                yield future
        finally:
            with self._lock:
                self._closed = True
                left = list(self._queue)
            for future in left:
                future.cancel()
