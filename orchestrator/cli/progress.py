"""The live progress display: a ``RunTracker`` fed by the run's events, drawn by a ticker thread.

The tracker is an event sink. It runs on the scheduler's thread, so it only updates counters
under a lock. A separate thread redraws two lines on the terminal every ``interval`` seconds
(so elapsed time and the ETA move even while no event arrives) and erases them when the run ends;
the summary table is printed after that. Used only on a terminal: piped output never gets a
control character.

    [########------------]  8/20 done  4 running  1 failed  2 retries  00:12 elapsed  ETA ~00:18
    running: scan-3, scan-4, scan-5, scan-6
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import IO, Callable

from ..model.results import TaskStatus
from ..telemetry.events import STATUS_OF_EVENT, Event, EventType

__all__ = ["RunTracker", "Snapshot", "LiveDisplay", "render", "format_clock"]

_BAD = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT})
_DROPPED = frozenset({TaskStatus.SKIPPED, TaskStatus.CANCELLED})


@dataclass(frozen=True)
class Snapshot:
    total: int | None
    done: int
    failed: int
    dropped: int
    retries: int
    running: tuple[str, ...]  # in the order they started
    elapsed: float
    eta: float | None


class RunTracker:
    """Counts a run's progress from its events (an ``on_event`` sink)."""

    nonblocking = True  # counters under a lock: a run calls it on its loop

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._total: int | None = None
        self._done = 0
        self._failed = 0
        self._dropped = 0
        self._retries = 0
        self._running: dict[str, None] = {}

    def __call__(self, event: Event) -> None:
        kind = event.type
        with self._lock:
            if kind == EventType.RUN_STARTED:
                self._started = self._clock()
                tasks = (event.data or {}).get("tasks")
                self._total = tasks if isinstance(tasks, int) else None
            elif kind == EventType.TASK_STARTED and event.task_id is not None:
                self._running[event.task_id] = None
            elif kind == EventType.TASK_RETRY_SCHEDULED:
                self._retries += 1
                self._running.pop(event.task_id or "", None)
            elif kind in STATUS_OF_EVENT:
                self._running.pop(event.task_id or "", None)
                self._done += 1
                status = STATUS_OF_EVENT[kind]
                self._failed += status in _BAD
                self._dropped += status in _DROPPED

    def snapshot(self) -> Snapshot:
        with self._lock:
            elapsed = 0.0 if self._started is None else self._clock() - self._started
            eta = None
            if self._total is not None and 0 < self._done < self._total:
                eta = elapsed / self._done * (self._total - self._done)
            return Snapshot(self._total, self._done, self._failed, self._dropped, self._retries,
                            tuple(self._running), elapsed, eta)


def format_clock(seconds: float) -> str:
    """``75.2`` -> ``01:15``; an hour or more -> ``1:02:03``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def render(snap: Snapshot, width: int) -> list[str]:
    """The display's lines for ``snap``, none longer than ``width - 1`` (no wrapping)."""
    total = snap.total
    if total:
        filled = round(20 * snap.done / total)
        bar = "[" + "#" * filled + "-" * (20 - filled) + "]"
        count = f"{snap.done}/{total} done"
    else:
        bar, count = "[" + "-" * 20 + "]", f"{snap.done} done"
    parts = [bar, count, f"{len(snap.running)} running"]
    if snap.failed:
        parts.append(f"{snap.failed} failed")
    if snap.dropped:
        parts.append(f"{snap.dropped} skipped/cancelled")
    parts.append(f"{snap.retries} retries" if snap.retries != 1 else "1 retry")
    parts.append(f"{format_clock(snap.elapsed)} elapsed")
    parts.append("ETA ~" + format_clock(snap.eta) if snap.eta is not None else "ETA --:--")
    names = ", ".join(snap.running) if snap.running else "-"
    limit = max(10, width - 1)
    return [_fit("  ".join(parts), limit), _fit("running: " + names, limit)]


class LiveDisplay:
    """Redraws ``render(tracker.snapshot())`` on ``stream`` (a terminal) until closed."""

    def __init__(self, tracker: RunTracker, stream: IO[str], interval: float = 0.2) -> None:
        self._tracker = tracker
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._drawn = 0  # lines on screen
        self._thread = threading.Thread(target=self._loop, name="orchestrator-progress",
                                        daemon=True)

    def __enter__(self) -> LiveDisplay:
        self._draw()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop redrawing and erase the display (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._drawn:
            self._write(self._home() + "\x1b[J")
            self._drawn = 0

    def _width(self) -> int:
        """``COLUMNS`` when set, else the terminal's width; 80 when neither is known."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(self._stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def _home(self) -> str:
        """Back to the start of the display's first line."""
        return "\r" + (f"\x1b[{self._drawn - 1}A" if self._drawn > 1 else "")

    def _draw(self) -> None:
        lines = render(self._tracker.snapshot(), self._width())
        frame = "\n".join("\x1b[2K" + line for line in lines)
        self._write((self._home() if self._drawn else "") + frame)
        self._drawn = len(lines)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing left to show
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()
