"""The pool's reaper: a small process that kills every worker when the parent dies.

Each worker also watches a lifeline pipe on a thread and kills its own tree when the parent is
gone, but that thread needs the GIL: a task stuck in a C call that holds the GIL (a runaway
regular expression, a C extension's loop) never lets it run, and the worker would keep burning
a core forever after the parent was SIGKILLed or OOM-killed. The reaper depends on no worker:
the parent tells it each worker's pid over a private pipe (WATCH, UNWATCH: ``workers.protocol``);
when that pipe reads EOF without a GOODBYE, the parent is dead, and the reaper SIGKILLs each
worker's tree and process group.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from .protocol import GOODBYE, UNWATCH, WATCH, receive
from .tree import kill_group, signal_all

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

__all__ = ["main"]


def main(conn: Connection) -> None:
    """Entry point of the reaper process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        os.setsid()  # a terminal hang-up that kills the parent must not kill us first
    except OSError:
        pass
    workers: dict[int, float | None] = {}  # pid -> create time (guards against pid reuse)
    while True:
        try:
            msg = receive(conn)
        except (EOFError, OSError):
            break  # the parent is gone without saying goodbye
        if msg[0] == WATCH:
            workers[msg[1]] = _create_time(msg[1])
        elif msg[0] == UNWATCH:
            workers.pop(msg[1], None)
        elif msg[0] == GOODBYE:
            return
    for pid, created in workers.items():
        _kill_worker(pid, created)


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _kill_worker(pid: int, created: float | None) -> None:
    import psutil

    try:
        proc = psutil.Process(pid)
        if created is not None and proc.create_time() != created:
            return  # the pid now belongs to someone else
        procs = proc.children(recursive=True)
    except psutil.Error:
        return
    kill_group(pid)
    signal_all([proc, *procs])
