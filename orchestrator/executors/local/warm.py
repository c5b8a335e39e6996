"""The one pool kept warm between ``execute_*`` calls, and the interpreter-exit shutdown.

Starting workers costs an interpreter start each (~80 ms), so runs that do not bring their own
``executor=`` share one ``LocalPool`` that stays up between calls; a call made while it is in use
(another thread) gets a private pool for its duration. ``shutdown_shared_pool()`` stops it now;
at interpreter exit every pool still open is closed.

Shutting the pool down while a run holds it does not pull the pool from under that run's loop
(its selector closed mid-wait, its workers gone as if they had crashed): the run is told to stop
(its tasks end cancelled, saying the pool was shut down) and the pool is closed when the run
gives it back, within seconds. ``shutdown_shared_pool()`` returns at once: it may be called from
the run's own event callback, which the run waits for before it can give the pool back.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Callable

from .pool import LocalPool
from .registry import close_all_pools

__all__ = ["shared_pool", "release_shared_pool", "shutdown_shared_pool"]


class _SharedPool:
    def __init__(self) -> None:
        self.pool: LocalPool | None = None
        self.lock = threading.Lock()
        self.in_use = False
        self.on_shutdown: Callable[[], None] | None = None  # tells the holding run to stop
        self.close_on_release = False

    def acquire(self, on_shutdown: Callable[[], None] | None) -> tuple[LocalPool, bool]:
        with self.lock:
            if not self.in_use:
                if self.pool is None or self.pool.closed:
                    self.pool = LocalPool()
                self.in_use = True
                self.on_shutdown = on_shutdown
                return self.pool, True
        return LocalPool(), False

    def release(self, pool: LocalPool, shared: bool, *, healthy: bool) -> None:
        if not shared:
            pool.close(kill=not healthy)
            return
        with self.lock:
            self.in_use = False
            self.on_shutdown = None
            if not healthy or self.close_on_release:
                self.close_on_release = False
                pool.close(kill=not healthy)
                self.pool = None

    def shutdown(self) -> None:
        with self.lock:
            stop = self.on_shutdown if self.in_use else None
            if stop is not None:
                self.close_on_release = True
            elif self.pool is not None:
                self.pool.close()
                self.pool = None
        if stop is not None:
            stop()


_shared = _SharedPool()


def _forget_after_fork() -> None:
    # A forked child must not use or close its parent's warm pool (pool.py disowns its fds).
    _shared.pool = None
    _shared.in_use = False
    _shared.on_shutdown = None
    _shared.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def shared_pool(on_shutdown: Callable[[], None] | None = None) -> tuple[LocalPool, bool]:
    """Check out the warm pool (or a private one when it is in use): ``(pool, shared)``.
    ``on_shutdown``: called (from any thread) if ``shutdown_shared_pool()`` comes while the
    pool is checked out; the holder must then stop its run and give the pool back."""
    return _shared.acquire(on_shutdown)


def release_shared_pool(pool: LocalPool, shared: bool, *, healthy: bool) -> None:
    """Give back what ``shared_pool()`` gave; an unhealthy pool (an aborted run) is killed."""
    _shared.release(pool, shared, healthy=healthy)


def shutdown_shared_pool() -> None:
    """Stop the warm pool's workers now (it is started again on the next run). A run holding
    it is stopped, its tasks cancelled, and the pool closes as that run gives it back."""
    _shared.shutdown()


@atexit.register
def _close_all_pools() -> None:
    _shared.shutdown()
    close_all_pools()
