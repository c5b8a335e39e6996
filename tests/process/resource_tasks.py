"""Task functions for the resource tests on real processes (imported inside workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from workers import RetryAfter, current_task


def meet(folder: str, quorum: int, hold: float) -> tuple[float, float]:
    """Enter (a file per task), wait until ``quorum`` tasks have entered (at most 30 s), hold
    ``hold`` seconds; return ``(entered, left)`` on the monotonic clock."""
    entered = time.monotonic()
    Path(folder, current_task().id).touch()
    give_up = entered + 30.0
    while len(os.listdir(folder)) < quorum and time.monotonic() < give_up:
        time.sleep(0.005)
    time.sleep(hold)
    return entered, time.monotonic()


def started_at() -> float:
    return time.monotonic()


def retry_after_once(seconds: float, folder: str) -> float:
    """Attempt 1: write when it gives up, raise ``RetryAfter(seconds)``; later: return when
    it started."""
    now = time.monotonic()
    if current_task().attempt == 1:
        Path(folder, "first_end").write_text(repr(time.monotonic()))
        raise RetryAfter(seconds)
    return now
