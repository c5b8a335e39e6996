"""Attempts queued in a worker's pipe can be taken back until that worker begins them
(``LocalPool.revoke``, decided by the worker's fence, workers/fence.py), and a worker gone idle
takes what waits behind a busy one (``steal``). Driven through the Executor protocol, so the
test decides when the parent reads its workers' pipes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from orchestrator import LocalPool
from orchestrator.executors.base import Attempt, AttemptFinished, AttemptStarted, ExecutorEvent

from .sync import Beacon, Gate

pytestmark = pytest.mark.timeout(120)

WAIT = "tests.process.sync:wait_gate"
REPORT = "tests.process.sync:report_and_wait"


@pytest.fixture
def local() -> Iterator[Callable[[int], LocalPool]]:
    made: list[LocalPool] = []

    def make(size: int) -> LocalPool:
        made.append(LocalPool(size))
        return made[-1]

    yield make
    for pool in made:
        pool.close(kill=True)


class Driver:
    """Submits attempts to ``pool`` and collects what it reports, as the scheduler would."""

    def __init__(self, pool: LocalPool) -> None:
        self.pool = pool
        self.events: list[ExecutorEvent] = []
        self._tickets = 0
        pool.begin_run()

    def submit(self, fn: str, *args: Any, queue: bool = True) -> int:
        self._tickets += 1
        attempt = Attempt(self._tickets, f"t{self._tickets}", 1, fn, args, {})
        assert self.pool.submit(attempt, queue=queue)
        return self._tickets

    def until(self, check: Callable[[], bool]) -> None:
        for _ in range(10_000):  # bounded: each wait returns on the workers' next message
            if check():
                return
            self.events += self.pool.wait(1.0)
        raise AssertionError(f"never happened; events: {self.events}")

    def finished(self, ticket: int) -> AttemptFinished | None:
        return next((e for e in self.events
                     if isinstance(e, AttemptFinished) and e.ticket == ticket), None)

    def started(self, ticket: int) -> AttemptStarted | None:
        return next((e for e in self.events
                     if isinstance(e, AttemptStarted) and e.ticket == ticket), None)


def _ready_workers(driver: Driver, size: int) -> None:
    # Submitting before READY would still work; the tests below reason about busy workers.
    driver.until(lambda: sum(1 for s in driver.pool._sup.slots if s.state.value == "ready")
                 == size)


def test_a_queued_attempt_taken_back_never_runs(local, tmp_path: Path) -> None:
    pool = local(1)
    d = Driver(pool)
    _ready_workers(d, 1)
    gate = Gate(tmp_path)
    log = tmp_path / "ran"
    head = d.submit(WAIT, gate.path, "head", queue=False)
    queued = [d.submit("tests.futures.helpers:log", str(log), f"q{i}") for i in range(3)]
    d.until(lambda: d.started(head) is not None)  # its frame went out: it runs
    assert not pool.revoke(head)
    assert pool.revoke(queued[1])
    assert not pool.revoke(queued[1])  # once only
    gate.release()
    d.until(lambda: d.finished(queued[2]) is not None)
    assert log.read_text().split() == ["q0", "q2"]
    assert d.finished(queued[1]) is None and d.started(queued[1]) is None
    assert d.finished(head).value == "head"
    gate.close()


def test_an_attempt_the_worker_began_unseen_cannot_be_taken_back(local, tmp_path: Path) -> None:
    # The parent reads nothing meanwhile, so it still believes the head runs when the
    # worker has moved on to the queued attempt: only the fence knows.
    pool = local(1)
    d = Driver(pool)
    _ready_workers(d, 1)
    gate = Gate(tmp_path)
    beacon = Beacon(tmp_path)
    try:
        first = d.submit("workers.agents:noop", queue=False)
        second = d.submit(REPORT, beacon.path, gate.path)
        pool._flush()  # what the next wait() would do first, without reading an answer
        pid = beacon.pids(1)[0][0]  # the worker runs the second attempt now
        assert not pool.revoke(second)
        gate.release()
        d.until(lambda: d.finished(second) is not None)
        assert d.finished(first).ok and d.finished(second).value == pid
    finally:
        gate.close()
        beacon.close()


def test_an_idle_worker_takes_what_waits_behind_a_busy_one(local, tmp_path: Path) -> None:
    pool = local(2)
    d = Driver(pool)
    _ready_workers(d, 2)
    long_gate, short_gate = Gate(tmp_path), Gate(tmp_path)
    beacon = Beacon(tmp_path)
    try:
        long = d.submit(REPORT, beacon.path, long_gate.path, queue=False)
        short = d.submit(REPORT, beacon.path, short_gate.path, queue=False)
        d.until(lambda: d.started(long) is not None and d.started(short) is not None)
        pids = sorted(p[0] for p in beacon.pids(2))
        behind = [d.submit(WAIT, short_gate.path, f"b{i}") for i in range(4)]  # 2 behind each
        short_gate.release()
        # The worker of ``short`` runs its queue, then takes the two behind ``long``.
        d.until(lambda: all(d.finished(t) is not None for t in behind))
        assert d.finished(long) is None  # still held: nothing waited behind it
        assert {d.finished(t).pid for t in behind} == {d.finished(short).pid}
        assert d.finished(short).pid in pids
        long_gate.release()
        d.until(lambda: d.finished(long) is not None)
        # Had that worker run the two taken from it, their answers would come before these
        # (its pipe is in order) and match nothing the pool sent it.
        last = [d.submit("workers.agents:noop", queue=False) for _ in range(2)]
        d.until(lambda: all(d.finished(t) is not None for t in last))
        assert {d.finished(t).pid for t in last} == set(pids)
    finally:
        long_gate.close()
        short_gate.close()
        beacon.close()


def test_an_attempt_whose_write_finds_its_worker_dead_is_requeued_uncharged(local) -> None:
    # The frames of a step go out at the next wait(): the worker died before that write.
    import signal
    from multiprocessing.connection import wait

    from orchestrator.executors.base import AttemptLost, AttemptRequeued

    pool = local(1)
    d = Driver(pool)
    _ready_workers(d, 1)
    slot = pool._sup.slots[0]
    os.kill(slot.pid, signal.SIGKILL)
    assert wait([slot.sentinel], 60)  # it has exited; the pool has not looked yet
    ticket = d.submit("workers.agents:noop", queue=False)
    d.until(lambda: any(isinstance(e, AttemptRequeued) and e.ticket == ticket
                        for e in d.events))
    assert d.started(ticket) is None
    assert not any(isinstance(e, AttemptLost) for e in d.events)
