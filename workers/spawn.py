"""Start a runner (``workers.runner``) or a reaper (``workers.reaper``) as a plain subprocess that
inherits its pipe ends, from any host process.

The local pool starts its workers with loky's process context. A Dask worker cannot: its nanny
starts it as a daemonic process, and a daemonic process may not start ``multiprocessing``
children. A ``Popen`` of ``python -m workers.spawn ROLE FD...`` has no such rule and still gives a
fresh interpreter; the child wraps the inherited descriptors in ``Connection`` objects and runs
the same ``runner.main`` or ``reaper.main`` as a pool worker, so it keeps the same hygiene (its
own session, subreaper, lifeline, leftovers killed after each task).

The child sees the host's ``sys.path`` (through ``PYTHONPATH``), so what the host can import
(a Dask worker's uploaded files, say) its runners can import too. Light to import: no psutil.
"""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing.connection import Connection, Pipe
from typing import Sequence

__all__ = ["Spawned", "start_runner", "start_reaper"]


class Spawned:
    """A child started here: its ``Popen``, the host's end of its pipe and its exit sentinel (a
    pidfd, readable once the child has exited; None where the system has none)."""

    __slots__ = ("popen", "conn", "pid", "sentinel")

    def __init__(self, popen: subprocess.Popen[bytes], conn: Connection) -> None:
        self.popen = popen
        self.conn = conn
        self.pid = popen.pid
        self.sentinel: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self.sentinel = os.pidfd_open(popen.pid)
            except OSError:
                pass

    def exited(self) -> bool:
        """Whether the child has exited (not reaped: its pid still names its group)."""
        if self.popen.returncode is not None:
            return True
        try:
            # WNOWAIT: look without reaping, so the caller can still kill the child's group.
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def reap(self, timeout: float | None = None) -> int | None:
        """Wait for the child to exit and collect it; its exit code (negative: the signal), or
        None if it is still running after ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Release the host's descriptors (after ``reap``)."""
        for close in (self.conn.close, self._close_sentinel):
            try:
                close()
            except OSError:
                pass

    def _close_sentinel(self) -> None:
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


def start_runner(lifeline_fd: int, cwd: str | None = None) -> Spawned:
    """Start a runner that reads ``lifeline_fd`` (EOF: this host is gone) and serves one duplex
    pipe, whose host end the result holds. Raises ``OSError`` if it cannot be started."""
    host_end, child_end = Pipe(duplex=True)
    fd = child_end.fileno()
    return _start(["runner", str(fd), str(lifeline_fd), cwd or os.getcwd()],
                  (fd, lifeline_fd), host_end, child_end)


def start_reaper() -> Spawned:
    """Start a reaper; the result's ``conn`` is the host's (write) end of its pipe."""
    reader, writer = Pipe(duplex=False)
    fd = reader.fileno()
    return _start(["reaper", str(fd)], (fd,), writer, reader)


def _start(args: list[str], fds: Sequence[int], host_end: Connection,
           child_end: Connection) -> Spawned:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        popen = subprocess.Popen([sys.executable, "-m", "workers.spawn", *args],
                                 pass_fds=tuple(fds), env=env, stdin=subprocess.DEVNULL)
    except BaseException:
        host_end.close()
        raise
    finally:
        child_end.close()
    return Spawned(popen, host_end)


def _main(argv: list[str]) -> None:
    """The child's side: wrap the inherited descriptors and run the role's main."""
    role = argv[0]
    if role == "runner":
        from . import runner

        conn = Connection(int(argv[1]))
        lifeline = Connection(int(argv[2]), writable=False)
        runner.main(conn, lifeline, argv[3])
    elif role == "reaper":
        from . import reaper

        reaper.main(Connection(int(argv[1]), writable=False))
    else:
        raise SystemExit(f"workers.spawn: unknown role {role!r} (expected 'runner' or 'reaper')")


if __name__ == "__main__":
    _main(sys.argv[1:])
