"""Every ``LocalPool`` not yet closed: interpreter exit closes them (``warm.py`` registers
that), and a forked child disowns them."""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pool import LocalPool

__all__ = ["live_pools", "close_all_pools"]

live_pools: weakref.WeakSet[LocalPool] = weakref.WeakSet()


def close_all_pools() -> None:
    """Kill every pool's workers now (at interpreter exit)."""
    for pool in list(live_pools):
        pool.close(kill=True)


def _disown_after_fork() -> None:
    """In a child forked from this process (a ``multiprocessing`` fork helper, ``os.fork``):
    the pools are the parent's. Their lifeline's write end, reaper pipe and worker pipes are
    pointed at /dev/null (the fd numbers stay valid, so the child's objects close nothing of
    anyone's), or the child would keep every worker alive and the reaper blind after the
    parent's death; the child never closes or uses them."""
    pools = list(live_pools)
    live_pools.clear()
    if not pools:
        return
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for pool in pools:
        pool._closed = True
        pool._sup.closed = True
        for fd in pool._sup.inherited_fds():
            try:
                os.dup2(devnull, fd, inheritable=False)
            except OSError:
                pass
    os.close(devnull)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_disown_after_fork)
