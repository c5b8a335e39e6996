"""Recycling a worker that leaks: between tasks, a worker whose resident memory grew by more than
``max_worker_memory_mb`` since its first task is retired and replaced, uncharged, failing nothing
(loky's memory leak protection; a task's own limit, ``max_task_memory_mb``, fails the task).

The base is taken after the worker's first task, so what that task imported (numpy, a model
loaded once per worker) counts as the worker's size, not as a leak. The size is read from
``/proc/PID/statm`` through a descriptor kept open per worker (``pread``: ~2 us, where an
``open`` of the path each time cost ~20 us, 5% of the loop on no-op tasks), and only after every
``CHECK_EVERY``-th task: a worker that leaks 3 MB a task overshoots the bound by at most ~24 MB.
"""

from __future__ import annotations

import os
from typing import Final

from .slots import Slot

__all__ = ["MAX_WORKER_MEMORY_MB", "CHECK_EVERY", "outgrown", "release", "resident_bytes"]

MAX_WORKER_MEMORY_MB: Final = 300.0  # loky's default (_MAX_MEMORY_LEAK_SIZE)
CHECK_EVERY: Final = 8
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(slot: Slot) -> int | None:
    """The resident size of ``slot``'s worker (not its children's: a worker ends them after
    each task). Opens ``slot.statm`` on first use; ``release`` closes it."""
    if slot.statm < 0:
        try:
            slot.statm = os.open(f"/proc/{slot.pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return _psutil_rss(slot.pid)  # no /proc (macOS)
    try:
        return int(os.pread(slot.statm, 128, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def release(slot: Slot) -> None:
    """Close ``slot``'s statm descriptor, if it has one. Mutates."""
    if slot.statm >= 0:
        try:
            os.close(slot.statm)
        except OSError:
            pass
        slot.statm = -1


def _psutil_rss(pid: int) -> int | None:
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:
        return None


def outgrown(slot: Slot, limit_mb: float | None) -> bool:
    """Whether ``slot``'s worker has outgrown ``limit_mb`` (checked every ``CHECK_EVERY``
    tasks, and after the first, which sets the base). Marks the slot ``worn``. Mutates."""
    if slot.worn:
        return True
    if limit_mb is None or (slot.rss_base is not None
                            and slot.done - slot.rss_checked < CHECK_EVERY):
        return False
    slot.rss_checked = slot.done
    rss = resident_bytes(slot)
    if rss is None:
        return False
    if slot.rss_base is None:
        slot.rss_base = rss
        return False
    slot.worn = rss - slot.rss_base > limit_mb * 2**20
    return slot.worn
