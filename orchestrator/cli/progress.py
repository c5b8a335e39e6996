"""The live progress display: a ``RunTracker`` fed by the run's events, drawn by ``rich.progress``.

The tracker is an event handler. It only counts, under a lock held for a few dictionary
operations, and never writes: it is cheap, and nothing it does can block the thread that
delivers events. ``LiveDisplay`` draws it with rich's ``Live`` machinery: rich's own thread
redraws (5 times a second, so elapsed time and the ETA move while no event arrives) and reads a
snapshot of the tracker each time; when the run ends the display erases itself, and the summary
is printed after that. While it is drawn, what the process writes to ``sys.stderr`` (and to
``sys.stdout`` when that is the terminal too) is printed above it instead of through it. Used
only on a terminal: piped output never gets a control character.

    ━━━━━━━━━━━╸━━━━━━━━━━━━━━━━━━ 8/20 done  4 running  1 failed  2 retries
    0:00:12 elapsed  ETA 0:00:18  running: scan-3, scan-4, scan-5, scan-6

With ``color=False`` (``NO_COLOR``) it writes no colour or style code at all, only the cursor
movements that redraw it.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import IO, Callable, Iterable, cast

from rich.console import Console, RenderableType
from rich.file_proxy import FileProxy
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from ..model.results import TaskStatus
from ..telemetry.events import STATUS_OF_EVENT, Event, EventType, worker_address
from .summary import plural

__all__ = ["RunTracker", "Snapshot", "LiveDisplay", "counts_text", "running_text"]

_BAD = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT})
_DROPPED = frozenset({TaskStatus.SKIPPED, TaskStatus.CANCELLED})
_COUNTED = frozenset({EventType.RUN_STARTED, EventType.TASK_STARTED,
                      EventType.TASK_RETRY_SCHEDULED, EventType.TASK_EXPANDED, *STATUS_OF_EVENT})
REFRESH_PER_SECOND = 5.0
BAR_WIDTH = 30  # narrower when the terminal is: the counts keep their place


@dataclass(frozen=True)
class Snapshot:
    total: int | None
    done: int
    failed: int
    dropped: int
    retries: int
    running: tuple[str, ...]  # in the order they started; ``id on address`` on a cluster


class RunTracker:
    """Counts a run's progress from its events (an ``on_event`` handler)."""

    nonblocking = True  # counters under a lock: a run calls it on its loop

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: int | None = None
        self._done = 0
        self._failed = 0
        self._dropped = 0
        self._retries = 0
        self._running: dict[str, str | None] = {}  # task id -> its worker's address, if any

    def __call__(self, event: Event) -> None:
        """Count ``event``. Mutates."""
        kind = event.type
        if kind not in _COUNTED:  # most events of a run, without taking the lock
            return
        with self._lock:
            if kind == EventType.RUN_STARTED:
                tasks = (event.data or {}).get("tasks")
                self._total = tasks if isinstance(tasks, int) else None
            elif kind == EventType.TASK_STARTED and event.task_id is not None:
                self._running[event.task_id] = worker_address(event)
            elif kind == EventType.TASK_EXPANDED:
                # A mapped task's children are new tasks: the total grows by their number.
                n = (event.data or {}).get("n")
                if self._total is not None and isinstance(n, int):
                    self._total += n
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
            running = tuple(t if where is None else f"{t} on {where}"
                            for t, where in self._running.items())
            return Snapshot(self._total, self._done, self._failed, self._dropped,
                            self._retries, running)


def counts_text(snap: Snapshot) -> str:
    """``8/20 done  4 running  1 failed  2 retries`` (failures and drops only when there are
    any; ``8 done`` while the total is not known)."""
    done = f"{snap.done}/{snap.total} done" if snap.total is not None else f"{snap.done} done"
    parts = [done, f"{len(snap.running)} running"]
    if snap.failed:
        parts.append(f"{snap.failed} failed")
    if snap.dropped:
        parts.append(f"{snap.dropped} skipped/cancelled")
    parts.append(plural(snap.retries, "retry", "retries"))
    return "  ".join(parts)


def running_text(snap: Snapshot, width: int) -> str:
    """``running: a, b, c`` and, when the names do not fit in ``width``, ``(+N more)``: a run
    of thousands of workers costs no more to draw than one that fits."""
    if not snap.running:
        return "running: -"
    names, used = snap.running, len("running: ") - 2
    for i, name in enumerate(names):
        used += 2 + len(name)  # ", name"
        after = f" (+{len(names) - i - 1} more)" if i + 1 < len(names) else ""
        if i and used + len(after) > width:
            return "running: " + ", ".join(names[:i]) + f" (+{len(names) - i} more)"
    return "running: " + ", ".join(names)


class _RunProgress(Progress):
    """rich's ``Progress`` for one bar whose figures come from a ``RunTracker``. Each redraw
    (on rich's thread) copies a snapshot into the bar, then draws two lines
    (``get_renderables``, rich's documented extension point): the bar and the counts; the
    elapsed time, rich's ETA and the running tasks' names. Each line is cut at the terminal's
    width, the counts and the time before the names."""

    def __init__(self, tracker: RunTracker, console: Console, *, redirect_stdout: bool,
                 clock: Callable[[], float] | None) -> None:
        self._tracker = tracker
        self._bar: TaskID | None = None
        self._elapsed = TimeElapsedColumn()
        self._remaining = TimeRemainingColumn()
        super().__init__(
            BarColumn(bar_width=BAR_WIDTH, complete_style="cyan"),
            TextColumn("{task.fields[counts]}",
                       table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=console, transient=True, refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=redirect_stdout, redirect_stderr=True, get_time=clock)
        self._bar = self.add_task("run", total=None, counts=counts_text(tracker.snapshot()))

    def get_renderables(self) -> Iterable[RenderableType]:
        if self._bar is None:  # Progress's __init__ asks for a first frame: nothing yet
            return
        snap = self._tracker.snapshot()
        self.update(self._bar, total=snap.total, completed=snap.done, counts=counts_text(snap))
        yield self.make_tasks_table(self.tasks)
        task = self.tasks[0]
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append_text(self._elapsed.render(task))
        line.append(" elapsed  ETA ")
        line.append_text(self._remaining.render(task))
        line.append("  " + running_text(snap, self.console.width - len(line) - 2))
        yield line


class _Terminal:
    """The display's side of the terminal (what rich uses of a text stream): once a write
    fails (the terminal went away) the display writes nothing more, and the run goes on to
    its result and exit code."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._broken = False
        # rich draws in ASCII when the terminal's encoding is not UTF-8
        self.encoding: str = getattr(stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                self._stream.write(text)
            except (OSError, ValueError):
                self._broken = True
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True


class LiveDisplay:
    """Draws its ``tracker`` (an event handler: give it the run's events) on ``stream``, a
    terminal, from ``__enter__`` until ``close()``; without colour or style codes when
    ``color`` is False. ``redirect_stdout``: print what is
    written to ``sys.stdout`` above the display (when stdout is this terminal too). ``clock``:
    the time the elapsed time and the ETA are measured in (rich's ``get_time``; monotonic)."""

    def __init__(self, stream: IO[str], *, color: bool = True, redirect_stdout: bool = False,
                 clock: Callable[[], float] | None = None) -> None:
        self.tracker = RunTracker()
        console = Console(file=cast(IO[str], _Terminal(stream)), force_terminal=True,
                          no_color=not color, color_system="auto" if color else None,
                          highlight=False, markup=False, emoji=False)
        self._progress = _RunProgress(self.tracker, console, redirect_stdout=redirect_stdout,
                                      clock=clock)

    def __enter__(self) -> LiveDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop redrawing and erase the display (idempotent). What was written to the
        redirected streams without its end of line yet is printed first, not lost."""
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, FileProxy):
                stream.flush()
        self._progress.stop()
