"""The JSON Lines sink's drain: a thread that writes queued batches to the target, in order, so
whoever queues them (the scheduler's loop) never waits on a write.

A thread blocked in ``write()`` holds no GIL, so a reader that reads nothing costs the loop
nothing but memory: the batches wait here (``backlog_bytes``, ``backlog_events``) until the
reader catches up. Nothing is dropped. After a write fails, nothing more is written: what
failed and everything after it is counted in ``unwritten``, and ``error`` says why.

Every ``interval`` the thread also calls ``tick`` (the sink ships what waited in it for less
than a whole batch), so a reader tailing the log sees every event within about that time.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Protocol, Union

from .jsonl_targets import TargetError

__all__ = ["Drain", "Target"]

Chunk = Union[str, bytes]


class Target(Protocol):
    unwritten: int

    def write_nowait(self, chunk: Chunk) -> int: ...
    def write(self, chunk: Chunk) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


class Drain:
    """Writes what ``put`` queues to ``target`` on a thread of its own."""

    def __init__(self, target: Target, tick: Callable[[], object], interval: float,
                 name: str) -> None:
        self.target = target
        self._tick = tick
        self._interval = interval
        self._chunks: collections.deque[tuple[Chunk, int]] = collections.deque()
        self._cond = threading.Condition()  # guards everything below
        self._busy = False  # a write or a sync is under way: put() must queue behind it
        self._put = 0  # batches put
        self._done = 0  # batches written, or counted unwritten
        self._sync_upto = 0  # a flush waits until the batches up to here are written, synced
        self._synced = 0
        self._closing = False
        self.backlog_bytes = 0
        self.backlog_events = 0
        self.written = 0  # events
        self.unwritten = 0  # events
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, chunk: Chunk, events: int) -> int:
        """Queue ``chunk`` (the text of ``events`` events); returns the backlog in bytes
        (characters, for text). Never blocks. Mutates."""
        with self._cond:
            self._put += 1
            if self.error is not None:
                self._done += 1
                self.unwritten += events
                return 0
            if not self._busy and not self._chunks:
                sent = self.target.write_nowait(chunk)
                if sent == len(chunk):
                    self._done += 1
                    self.written += events
                    return 0
                if sent:
                    chunk = chunk[sent:]
            self._chunks.append((chunk, events))
            self.backlog_bytes += len(chunk)
            self.backlog_events += events
            self._cond.notify_all()
            return self.backlog_bytes

    def discard(self, events: int) -> None:
        """Count ``events`` that were not even formatted, the target having failed. Mutates."""
        with self._cond:
            self.unwritten += events

    def wait(self) -> None:
        """Return once every batch put so far is written and the target synced (or failed)."""
        with self._cond:
            upto = self._put
            if upto <= self._synced:
                return
            self._sync_upto = max(self._sync_upto, upto)
            self._cond.notify_all()
            while self._synced < upto:
                self._cond.wait()

    def close(self) -> None:
        """Write what is queued, then stop the thread. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        cond = self._cond
        next_tick = time.monotonic() + self._interval
        while True:
            job: tuple[Chunk, int] | None = None
            upto = -1  # >= 0: sync the target, then say the batches up to here are synced
            with cond:
                while not self._work() and not self._closing:
                    left = next_tick - time.monotonic()
                    if left <= 0:
                        break
                    cond.wait(left)
                if self._sync_upto > self._synced and self._done >= self._sync_upto:
                    upto = self._done
                    self._busy = True
                elif self._chunks:
                    job = self._chunks.popleft()
                    self._busy = True
                elif self._closing:
                    return
            if job is not None:
                self._write(*job)
            elif upto >= 0:
                self._sync(upto)
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick = time.monotonic() + self._interval

    def _work(self) -> bool:
        return bool(self._chunks) or self._sync_upto > self._synced

    def _write(self, chunk: Chunk, events: int) -> None:
        failure: TargetError | None = None
        try:
            self.target.write(chunk)
        except TargetError as exc:
            failure = exc
        except Exception as exc:  # a target's bug must not stop the drain: report it
            failure = TargetError(f"cannot write the event log: {type(exc).__name__}: {exc}")
        with self._cond:
            self._busy = False
            self._done += 1
            self.backlog_bytes -= len(chunk)
            self.backlog_events -= events
            if failure is None:
                self.written += events
            else:
                self._fail(failure, events)
            self._cond.notify_all()

    def _fail(self, failure: TargetError, events: int) -> None:
        """The write of a batch of ``events`` failed: it and what waits are unwritten. Holds
        the lock. Mutates."""
        self.error = str(failure)
        self.written += failure.lines
        self.unwritten += events - failure.lines
        for _, n in self._chunks:
            self.unwritten += n
            self._done += 1
        self._chunks.clear()
        self.backlog_bytes = self.backlog_events = 0

    def _sync(self, upto: int) -> None:
        failure: str | None = None
        if self.error is None:
            try:
                self.target.sync()
            except TargetError as exc:
                failure = str(exc)
        with self._cond:
            self._busy = False
            if failure is not None and self.error is None:
                self.error = failure
            self._synced = upto
            self._cond.notify_all()
