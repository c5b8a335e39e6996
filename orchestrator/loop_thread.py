"""The thread a session runs its loop on, and the bounded hand-off of results to the caller.

The scheduler's loop must never wait on anyone it does not own: a consumer of ``iter_parallel``
busy with a result, or a caller stuck in its own code, would otherwise hold every deadline of
the run. So a session runs the loop on a thread of its own (``LoopThread``); the caller only
waits for what the loop hands over. ``Handoff`` never blocks the loop: once it holds ``bound``
results the loop stops admitting new attempts (backpressure) but goes on reacting to the
executor and enforcing deadlines; the consumer's next take wakes it to admit again. So the
results waiting for the consumer are at most ``bound`` plus what was already running.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, TypeVar

__all__ = ["LoopThread", "Handoff", "Ended"]

T = TypeVar("T")
R = TypeVar("R")


class Ended(Exception):
    """The loop ended and every result it handed over was taken."""


class Handoff(Generic[T]):
    """Results from the loop thread to one consumer thread. ``wakeup`` wakes the loop (the
    executor's ``wakeup``): called when a take makes room after the loop held admissions."""

    def __init__(self, bound: int, wakeup: Callable[[], None]) -> None:
        if bound < 1:
            raise ValueError(f"Handoff: bound must be at least 1, got {bound}")
        self.bound = bound
        self._wakeup = wakeup
        self._items: deque[T] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._ended = False
        self._error: BaseException | None = None
        self._room_wanted = False  # the loop holds admissions until a take makes room

    # -- the loop's side -----------------------------------------------------------------------

    def put(self, items: list[T]) -> None:
        """Hand ``items`` over; never blocks."""
        with self._cond:
            self._items.extend(items)
            self._cond.notify()

    def full(self) -> bool:
        """Whether the loop should hold admissions. When True, the next take wakes the loop."""
        if len(self._items) < self.bound:
            return False
        self._room_wanted = True
        # Checked again after asking: a take in between did not see the request.
        return len(self._items) >= self.bound

    def end(self, error: BaseException | None = None) -> None:
        """The loop is over (``error``: what stopped it, raised to the consumer at once)."""
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    # -- the consumer's side -------------------------------------------------------------------

    def get(self) -> T:
        """The next result, waiting for it; ``Ended`` after the last one. An error the loop
        ended with is raised before the results still waiting (an interrupt stops at once)."""
        items = self._items
        while True:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            try:
                item = items.popleft()
            except IndexError:
                with self._cond:
                    while not items and not self._ended:
                        self._cond.wait()
                    if not items and self._error is None:
                        raise Ended() from None
                continue
            if self._room_wanted:
                self._room_wanted = False
                self._wakeup()
            return item


class LoopThread(Generic[R]):
    """Runs ``body`` on a daemon thread; ``wait()`` returns its value or raises its error.

    ``stop`` is called when the caller's wait is itself interrupted (an exception raised in the
    caller's thread, e.g. by a signal handler of the program's own): the loop is asked to
    stop, and the caller's exception goes on once the loop has ended.
    """

    def __init__(self, body: Callable[[], R], stop: Callable[[], None], name: str) -> None:
        self._body = body
        self._stop = stop
        self._value: R | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> LoopThread[R]:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._value = self._body()
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def wait(self, *, quiet: bool = False) -> R | None:
        """Wait for the loop to end; its value, or its error raised here (``quiet``: not
        raised, None returned)."""
        interrupted: BaseException | None = None
        while not self._done.is_set():
            try:
                self._done.wait()
            except BaseException as exc:
                interrupted = interrupted or exc
                self._stop()
        self._thread.join()
        if interrupted is not None:
            raise interrupted
        if self._error is not None:
            error, self._error = self._error, None
            if quiet:
                return None
            raise error
        return self._value

    def finish_quietly(self) -> None:
        """Ask the loop to stop, wait for it, and forget how it ended (a closed stream); an
        exception raised in the caller's thread meanwhile still goes on."""
        self._stop()
        self.wait(quiet=True)
