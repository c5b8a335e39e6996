"""The parent's side of the pool's reaper process (``workers.reaper``): start it with the first
worker, tell it every worker started and collected, notice when it dies, and start it again.

A reaper that was killed (OOM killer, a stray ``kill``) used to go unnoticed: after the parent's
SIGKILL a worker stuck in C code holding its GIL then survived, since only its lifeline thread
was left to end it. Its exit is watched with the workers' (``selector``, this keeper as the key's
data); a new reaper is told every live worker at once.
"""

from __future__ import annotations

import os
import selectors
import signal
from typing import Any, Iterable

from workers import reaper

from ...model.errors import PoolError
from .wire import ReaperWire

__all__ = ["ReaperKeeper", "exit_fd", "close_fd"]


class ReaperKeeper:
    """One pool's reaper process and the pipe to it."""

    def __init__(self, ctx: Any, selector: selectors.BaseSelector) -> None:
        self._ctx = ctx
        self._selector = selector
        self.process: Any = None
        self.wire: ReaperWire | None = None
        self._exit_fd = -1
        self.restarts = 0

    @property
    def pids(self) -> list[int]:
        return [] if self.process is None else [self.process.pid]

    def ensure(self, watched: Iterable[int] = ()) -> ReaperWire:
        """The wire to a running reaper (started now if there is none, and told ``watched``)."""
        if self.wire is None:
            self.wire = self._start()
            for pid in watched:
                self.wire.watch(pid)
        return self.wire

    def watch(self, pid: int) -> None:
        self.ensure().watch(pid)

    def unwatch(self, pid: int) -> None:
        if self.wire is not None:
            self.wire.unwatch(pid)

    def flush(self) -> None:
        """Send what a slow reaper could not take yet (called on each of the pool's waits)."""
        if self.wire is not None and self.wire.pending:
            self.wire.flush()

    def exited(self, watched: Iterable[int]) -> None:
        """The reaper died while the pool is open: collect it and start another. Mutates."""
        self._collect(kill=True)
        self.restarts += 1
        self.ensure(watched)

    def stop(self) -> None:
        """The pool closes: say goodbye (a stopped reaper that cannot read it is killed)."""
        if self.wire is None and self.process is None:
            return
        polite = self.wire.goodbye() if self.wire is not None else False
        self.wire = None
        if polite and self.process is not None and _started(self.process):
            self.process.join(5)
        self._collect(kill=True)

    def _start(self) -> ReaperWire:
        reader, writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=reaper.main, args=(reader,),
                                    name="orchestrator-reaper", daemon=True)
        try:
            process.start()
        except Exception as exc:
            writer.close()
            raise PoolError(f"could not start the pool's reaper process: {exc}") from exc
        finally:
            reader.close()
        self.process = process
        self._exit_fd = exit_fd(process)
        self._selector.register(self._exit_fd, selectors.EVENT_READ, self)
        return ReaperWire(writer)

    def _collect(self, *, kill: bool) -> None:
        if self.wire is not None:
            self.wire.close()
            self.wire = None
        process, self.process = self.process, None
        if self._exit_fd >= 0:
            try:
                self._selector.unregister(self._exit_fd)
            except (KeyError, ValueError, OSError):
                pass
            if process is None or self._exit_fd != process.sentinel:
                close_fd(self._exit_fd)
            self._exit_fd = -1
        if process is None or not _started(process):
            return  # a process that never started cannot be joined (issue 11 item 16)
        if kill and process.exitcode is None:
            try:  # loky's Popen has no kill(): signal the pid
                os.kill(process.pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
        process.join(5)


def _started(process: Any) -> bool:
    return getattr(process, "_popen", None) is not None


def exit_fd(process: Any) -> int:
    """An fd readable once ``process`` has exited: a pidfd (Linux 5.3+), which no descendant
    can hold open, else the process's sentinel. The caller closes a pidfd (``close_fd``)."""
    import os

    if hasattr(os, "pidfd_open"):
        try:
            return int(os.pidfd_open(process.pid))
        except OSError:
            pass
    return int(process.sentinel)


def close_fd(fd: int) -> None:
    import os

    try:
        os.close(fd)
    except OSError:
        pass
