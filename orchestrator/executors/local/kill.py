"""One worker's process tree: stop it with everything it started, or measure it.

``kill_tree`` snapshots the worker's descendants (psutil), signals them children-first, then the
worker's process group (the worker called ``setsid``, so its group holds any descendant that did
not leave it) and the worker itself. It does not wait: the scheduler learns of the death from the
worker's sentinel. Descendants that survive a SIGTERM are remembered and get the SIGKILL.
"""

from __future__ import annotations

import signal

import psutil

from workers.tree import kill_group, signal_all

__all__ = ["kill_tree", "tree_rss", "signal_name"]


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def kill_tree(pid: int, sig: int = signal.SIGKILL,
              known: list[psutil.Process] | None = None) -> list[psutil.Process]:
    """Signal ``pid``'s whole tree with ``sig``; returns every process signalled.

    ``known``: processes signalled by an earlier step (for SIGKILL after SIGTERM), signalled
    again if still alive even when they have left the tree.
    """
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
