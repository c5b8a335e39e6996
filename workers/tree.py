"""Signal a worker's processes: a set of them deepest first, the process group it leads, or its
whole tree; measure that tree.

Shared by the worker (its leftovers, its own tree when the parent dies), the reaper, the parent
(``orchestrator.executors.local``) and a Dask worker's runner host (``workers.dask_host``), so
each rule is written once. Light to import: psutil (~10 ms) is imported only when a function here
needs it.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import psutil

__all__ = ["signal_all", "kill_group", "kill_tree", "tree_rss", "signal_name", "exit_status"]


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


def kill_tree(pid: int, sig: int = signal.SIGKILL,
              known: list[psutil.Process] | None = None) -> list[psutil.Process]:
    """Signal ``pid``'s whole tree with ``sig``: its descendants (snapshotted, deepest first),
    its process group, then ``pid`` itself; returns every process signalled. It does not wait.

    ``known``: processes signalled by an earlier step (for SIGKILL after SIGTERM), signalled
    again if still alive even when they have left the tree.
    """
    import psutil

    procs: list[psutil.Process] = []
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True)
    except psutil.Error:
        root = None
    seen = {p.pid for p in procs}
    for p in known or ():
        if p.pid not in seen and p.pid != pid:
            procs.append(p)
            seen.add(p.pid)
    signal_all(procs, sig)
    kill_group(pid, sig)
    if root is not None:
        try:
            root.send_signal(sig)
        except psutil.Error:
            pass
        procs.append(root)
    return procs


def tree_rss(pid: int) -> int | None:
    """Resident bytes of ``pid`` and its descendants; None when ``pid`` is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        total = root.memory_info().rss
        for child in root.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return int(total)
    except psutil.Error:
        return None


def signal_name(signum: int) -> str:
    """``SIGKILL`` for 9; ``signal 99`` for a number without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(code: int | None) -> tuple[int | None, str | None]:
    """``(exit code, signal name)`` of an exit code as ``Popen`` and ``Process`` give it
    (negative: the signal that ended the process)."""
    if code is not None and code < 0:
        return None, signal_name(-code)
    return code, None
