"""A worker's start fence: whether an attempt queued in its pipe can still be taken back.

The parent queues short attempts behind a busy worker (prefetch). Until the worker takes one off
its pipe, the parent may take it back (its future was cancelled, or it moves to a worker gone
idle); once the worker has begun it, nothing can. Both sides number the RUN frames of the pipe
(1, 2, ... from the worker's start: the pipe loses and reorders nothing), and decide under one
lock, on a page they share (the last number claimed, the count revoked, the numbers revoked):

* the worker, before it runs the attempt of frame ``n``, ``claim``s ``n``: one the parent
  revoked is struck off the list and skipped (the worker sends nothing for it); any other
  becomes the last claimed.
* the parent ``revoke``s ``n``: it fails if the worker has claimed ``n`` or a later one (it
  runs its pipe in order); else ``n`` joins the list.

The page is a memfd (an unlinked temporary file where there is none) the worker inherits. The
lock is a POSIX record lock on it (``fcntl.lockf``): those belong to a process, so the parent
and its worker exclude each other. ``flock`` would not do: it locks an open file, and the two
share one. In the parent only the pool's loop thread uses a fence.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import tempfile

__all__ = ["Fence"]

_SIZE = 4096
_HEAD = struct.Struct("=qq")  # the last number claimed (0: none), how many are revoked
_NUMBER = struct.Struct("=q")
_MOST = (_SIZE - _HEAD.size) // _NUMBER.size  # revoked numbers the page holds
_TRIES = 200  # non-blocking lock attempts (a syscall each) before the parent gives up


class Fence:
    """One worker's fence, from either side (``create`` in the parent; the worker wraps the
    descriptor it inherited)."""

    __slots__ = ("fd", "_page")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._page = mmap.mmap(fd, _SIZE)

    @classmethod
    def create(cls) -> Fence:
        """A new, zeroed fence (the parent's side)."""
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("orchestrator-fence")
        else:
            with tempfile.TemporaryFile() as f:
                fd = os.dup(f.fileno())
        try:
            os.ftruncate(fd, _SIZE)
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    # -- the worker ------------------------------------------------------------------------------

    def claim(self, number: int) -> bool:
        """Whether to run the attempt of frame ``number`` (False: the parent revoked it)."""
        page, fd = self._page, self.fd
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            claimed, count = _HEAD.unpack_from(page)
            if count:
                revoked = self._revoked(count)
                if number in revoked:
                    revoked.remove(number)
                    self._write(claimed, revoked)
                    return False
            _HEAD.pack_into(page, 0, number, count)
            return True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    # -- the parent ------------------------------------------------------------------------------

    def revoke(self, number: int) -> bool:
        """Take back the attempt of frame ``number`` unless the worker has begun it or a later
        one; True when it will never run. False too if the worker holds the lock for longer
        than a claim takes (it was stopped inside one: the parent's loop must not wait for a
        SIGCONT). Mutates."""
        page, fd = self._page, self.fd
        if not _try_lock(fd):
            return False
        try:
            claimed, count = _HEAD.unpack_from(page)
            if claimed >= number:
                return False
            revoked = self._revoked(count)
            if len(revoked) >= _MOST:
                return False  # never with the pool's queue limits; refusing is always safe
            revoked.append(number)
            self._write(claimed, revoked)
            return True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        try:
            self._page.close()
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass

    # -- both --------------------------------------------------------------------------------------

    def _revoked(self, count: int) -> list[int]:
        page = self._page
        return [_NUMBER.unpack_from(page, _HEAD.size + i * _NUMBER.size)[0]
                for i in range(count)]

    def _write(self, claimed: int, revoked: list[int]) -> None:
        page = self._page
        for i, number in enumerate(revoked):
            _NUMBER.pack_into(page, _HEAD.size + i * _NUMBER.size, number)
        _HEAD.pack_into(page, 0, claimed, len(revoked))


def _try_lock(fd: int) -> bool:
    """Take the lock without blocking: a claim holds it for microseconds, so a few tries see it
    free unless its holder is stopped."""
    for _ in range(_TRIES):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:  # EAGAIN or EACCES: the worker holds it
            continue
    return False
