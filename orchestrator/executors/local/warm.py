"""The one pool kept warm between ``execute_*`` calls, and the interpreter-exit shutdown.

Starting workers costs an interpreter start each (~80 ms), so runs that do not bring their own
``executor=`` share one ``LocalPool`` that stays up between calls; a call made while it is in use
(another thread) gets a private pool for its duration. ``shutdown_shared_pool()`` stops it now;
at interpreter exit every pool still open is closed.
"""

from __future__ import annotations

import atexit
import os
import threading

from .pool import LocalPool, close_all_pools

__all__ = ["shared_pool", "release_shared_pool", "shutdown_shared_pool"]


class _SharedPool:
    def __init__(self) -> None:
        self.pool: LocalPool | None = None
        self.lock = threading.Lock()
        self.in_use = False

    def acquire(self) -> tuple[LocalPool, bool]:
        with self.lock:
            if not self.in_use:
                if self.pool is None or self.pool.closed:
                    self.pool = LocalPool()
                self.in_use = True
                return self.pool, True
        return LocalPool(), False

    def release(self, pool: LocalPool, shared: bool, *, healthy: bool) -> None:
        if not shared:
            pool.close(kill=not healthy)
            return
        with self.lock:
            self.in_use = False
            if not healthy:
                pool.close(kill=True)
                self.pool = None

    def shutdown(self) -> None:
        with self.lock:
            if self.pool is not None:
                self.pool.close()
                self.pool = None


_shared = _SharedPool()


def _forget_after_fork() -> None:
    # A forked child must not use or close its parent's warm pool (pool.py disowns its fds).
    _shared.pool = None
    _shared.in_use = False
    _shared.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def shared_pool() -> tuple[LocalPool, bool]:
    """Check out the warm pool (or a private one when it is in use): ``(pool, shared)``."""
    return _shared.acquire()


def release_shared_pool(pool: LocalPool, shared: bool, *, healthy: bool) -> None:
    """Give back what ``shared_pool()`` gave; an unhealthy pool (an aborted run) is killed."""
    _shared.release(pool, shared, healthy=healthy)


def shutdown_shared_pool() -> None:
    """Stop the warm pool's workers now (it is started again on the next run)."""
    _shared.shutdown()


@atexit.register
def _close_all_pools() -> None:
    _shared.shutdown()
    close_all_pools()
