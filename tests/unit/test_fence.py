"""The start fence (workers/fence.py): the rule both sides apply under its lock. Across two
real processes it is tested through the pool (tests/process/test_revoke.py)."""

from __future__ import annotations

import pytest

from workers.fence import Fence


@pytest.fixture
def fence():
    f = Fence.create()
    yield f
    f.close()


def test_a_frame_not_yet_claimed_can_be_revoked_and_is_then_skipped(fence: Fence) -> None:
    assert fence.claim(1)
    assert fence.revoke(3)
    assert fence.claim(2)
    assert not fence.claim(3)  # the worker skips it
    assert fence.claim(4)


def test_a_claimed_frame_or_one_before_it_cannot_be_revoked(fence: Fence) -> None:
    assert fence.claim(1) and fence.claim(2)
    assert not fence.revoke(2)  # the worker has begun it
    assert not fence.revoke(1)  # the worker is past it
    assert fence.revoke(3)


def test_the_two_sides_see_one_page(fence: Fence) -> None:
    import os

    worker_side = Fence(os.dup(fence.fd))  # what the worker does with the descriptor it inherits
    try:
        assert fence.revoke(1)
        assert not worker_side.claim(1)
        assert worker_side.claim(2)
        assert not fence.revoke(2)
    finally:
        worker_side.close()


def test_a_revoked_frame_is_struck_off_once_skipped(fence: Fence) -> None:
    for n in (2, 3, 5):
        assert fence.revoke(n)
    assert fence.claim(1)
    assert not fence.claim(2) and not fence.claim(3)
    assert fence.claim(4)
    assert not fence.claim(5)
    assert fence._revoked(0) == []
    assert fence.claim(6)


def test_a_full_list_refuses_rather_than_forgets(fence: Fence) -> None:
    from workers import fence as module

    for n in range(1, module._MOST + 1):
        assert fence.revoke(n)
    assert not fence.revoke(module._MOST + 1)
    assert not fence.claim(1)


def test_the_parent_gives_up_rather_than_wait_for_a_stopped_worker(fence: Fence) -> None:
    # A worker stopped (SIGSTOP) inside a claim holds the lock: revoke must return, refusing.
    import fcntl
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    locked, release = ctx.Event(), ctx.Event()

    def hold(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        locked.set()
        release.wait(60)

    holder = ctx.Process(target=hold, args=(fence.fd,))
    holder.start()
    try:
        assert locked.wait(60)
        assert not fence.revoke(1)
    finally:
        release.set()
        holder.join(60)
    assert fence.revoke(1)  # free again
