"""Signal a worker's processes: a set of them deepest first, or the process group it leads.

Shared by the worker (its leftovers, its own tree when the parent dies), the reaper and the
parent (``orchestrator.executors.local``), so each rule is written once. Light to import: psutil
(~10 ms) is imported only by whoever made the ``psutil.Process`` objects passed in.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import psutil

__all__ = ["signal_all", "kill_group"]


def signal_all(procs: Sequence[psutil.Process], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to ``procs``, given in psutil's ``children(recursive=True)`` order (parents
    before their children); sent in reverse, so nobody re-spawns what was just killed.
    psutil checks each pid still belongs to the process it names."""
    import psutil

    for proc in reversed(procs):
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def kill_group(leader: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group that ``leader`` leads (a worker calls ``setsid``, so its
    group id is its pid and holds every descendant that did not leave it).

    Nothing happens unless ``leader`` does lead its group (a worker whose ``setsid`` failed is
    still in its parent's group), nor to the caller's own group unless the caller is ``leader``
    (a worker ending its own tree). The pid of a worker that is dead but not yet reaped still
    names its group, so call this before reaping it.
    """
    if not hasattr(os, "killpg"):
        return
    try:
        if os.getpgid(leader) != leader:
            return
        if leader == os.getpgid(0) and leader != os.getpid():
            return
        os.killpg(leader, sig)
    except OSError:
        pass
