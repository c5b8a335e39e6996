"""Where the scheduler's time comes from: a real monotonic clock, or a fake one tests move.

Durations and deadlines use ``now()`` (monotonic seconds); event timestamps use ``wall()``
(seconds since the epoch). ``FakeClock`` only moves when told to, like trio's ``MockClock``.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "MonotonicClock", "FakeClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for timestamps a person reads."""
        ...


class MonotonicClock:
    """The real clock. ``time.monotonic`` is system-wide on Linux, so workers share it."""

    # The C functions themselves, not methods that call them: the loop reads the clock several
    # times per task, and a Python frame costs more than the read.
    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def __repr__(self) -> str:
        return "MonotonicClock()"


class FakeClock:
    """A clock that moves only by ``advance``; never backwards."""

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - float(start)

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"time can't go backwards (advance by {seconds})")
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"
