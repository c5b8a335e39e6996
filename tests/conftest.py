"""Shared fixtures. The autouse ``no_orphans`` fixture fails any test that leaves a process.

The test process becomes a child subreaper (Linux), so a grandchild orphaned by a killed worker
is re-parented to us and seen here instead of vanishing under init. Allowed to stay: the idle
workers of the library's warm pool and its reaper (kept for reuse by design),
loky/multiprocessing resource trackers (one per interpreter, started on first use), and the
process trees a test module keeps for all its tests (``kept_trees``: a Dask cluster; the module
checks at its end that they are gone).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Iterable

import psutil
import pytest

from orchestrator.clock import FakeClock

_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_become_subreaper()

# Callables giving the root pids of process trees a test module keeps on purpose for all its
# tests; each tree, every descendant included, is allowed until the module removes its entry.
kept_trees: list[Callable[[], Iterable[int]]] = []


def _allowed_pids() -> set[int]:
    from orchestrator.executors.local import warm as pool

    allowed: set[int] = set()
    shared = pool._shared.pool
    if shared is not None and not shared.closed and not pool._shared.in_use:
        allowed.update(shared.pids)
        allowed.update(shared.helper_pids)
    for roots in kept_trees:
        for pid in roots():
            allowed.add(pid)
            try:
                allowed.update(p.pid for p in psutil.Process(pid).children(recursive=True))
            except psutil.Error:
                pass
    return allowed


def _is_helper(proc: psutil.Process) -> bool:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return True
    return "resource_tracker" in cmd or "semaphore_tracker" in cmd


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def leftover_processes() -> list[psutil.Process]:
    me = psutil.Process()
    allowed = _allowed_pids()
    out = []
    for proc in me.children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if proc.pid in allowed or _is_helper(proc):
            continue
        out.append(proc)
    return out


@pytest.fixture(autouse=True)
def no_orphans():
    yield
    deadline = time.monotonic() + 5.0
    while True:
        _reap()
        left = leftover_processes()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # patience for processes that are already dying, as loky's tests do
    if left:
        desc = []
        for p in left:
            try:
                desc.append(f"pid {p.pid}: {' '.join(p.cmdline())[:120]}")
            except psutil.Error:
                desc.append(f"pid {p.pid}")
            try:
                p.kill()
            except psutil.Error:
                pass
        pytest.fail("test left processes behind:\n  " + "\n  ".join(desc))


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
