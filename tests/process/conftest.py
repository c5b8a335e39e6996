"""Fixtures and checks shared by the tests on real worker processes.

``pool`` is the library's warm shared pool, checked out for the test (so the test can reach it:
wake it, read its pids) and given back afterwards. ``run_with_bystanders`` runs one task under
test next to bystander tasks that are provably in flight when it fails, and checks the zero
collateral rule; ``prove_full_pool`` shows the pool serves ``size`` tasks at once again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from orchestrator import (
    Event,
    LocalPool,
    OrchestrationPolicy,
    OrchestrationResult,
    RetryPolicy,
    TaskResult,
    TaskSpec,
    TaskStatus,
    execute_parallel,
)
from orchestrator.executors.local.warm import release_shared_pool, shared_pool
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES

from .sync import Beacon, Gate, JumpClock, alive, on_ready, report_and_wait, wait_gate


@pytest.fixture
def pool() -> Iterator[LocalPool]:
    p, shared = shared_pool()
    p.max_tasks_per_worker = None  # runs with executor= keep the pool's own setting
    try:
        yield p
    finally:
        release_shared_pool(p, shared, healthy=not p.closed)


@pytest.fixture
def beacon(tmp_path: Path) -> Iterator[Beacon]:
    b = Beacon(tmp_path)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = Gate(tmp_path)
    try:
        yield g
    finally:
        g.close()


@dataclass
class FaultRun:
    result: OrchestrationResult
    events: list[Event]
    fault: TaskResult
    bystanders: list[TaskResult]

    def kills(self, task_id: str | None = None) -> list[tuple[str | None, Any]]:
        """``(reason, signal)`` of every ``task.kill`` event (of ``task_id``), in order."""
        return [(e.reason, (e.data or {}).get("signal")) for e in self.events
                if e.type == "task.kill" and (task_id is None or e.task_id == task_id)]

    def died(self) -> list[Event]:
        return [e for e in self.events if e.type == "worker.died"]


def run_with_bystanders(pool: LocalPool, tmp_path: Path, fault: TaskSpec, *, bystanders: int = 2,
                        clock: Any = None, also: Callable[[Event], None] | None = None,
                        **policy: Any) -> FaultRun:
    """Run ``fault`` beside ``bystanders`` tasks that block on a gate opened only when the fault
    task has reached its terminal state, so they are in flight through the whole fault. Then
    check zero collateral: each bystander succeeded at its first attempt, on a worker that is
    still alive and still in the pool, and no worker died except the fault's."""
    g = Gate(tmp_path)
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if also is not None:
            also(e)
        if e.task_id == fault.id and e.type in TERMINAL_EVENT_TYPES:
            g.release()

    size = bystanders + 1
    policy.setdefault("max_concurrency", size)
    specs = [fault] + [
        TaskSpec(f"bystander-{i}", wait_gate, args=(g.path, i),
                 retry=RetryPolicy(max_attempts=3))  # a disturbed bystander would show 2+
        for i in range(bystanders)
    ]
    try:
        result = execute_parallel(specs, OrchestrationPolicy(**policy), on_event=on_event,
                                  executor=pool, clock=clock)
    finally:
        g.close()
    others = [result[f"bystander-{i}"] for i in range(bystanders)]
    for i, r in enumerate(others):
        assert r.status is TaskStatus.SUCCEEDED, r
        assert (r.attempts, r.value, r.error) == (1, i, None)
        assert r.worker_pid in pool.pids and alive([r.worker_pid]) == [r.worker_pid]
        assert r.started_at is not None and r.finished_at is not None
    fault_result = result[fault.id]
    bystander_pids = {r.worker_pid for r in others}
    dead = {e.pid for e in events if e.type == "worker.died"}
    assert not dead & bystander_pids, f"bystander workers died: {dead & bystander_pids}"
    return FaultRun(result, events, fault_result, others)


class JumpWhenReady:
    """Fire a task's timeout on cue: once the agent reported on ``beacon`` (it is set up: hanging,
    ignoring SIGTERM, its children started) and the scheduler has seen the attempt start (so its
    deadline is armed), jump ``clock`` past the deadline and wake the pool. Pass ``clock`` and
    ``on_event`` to the run; ``inspect(pids)`` runs first, while the agent is surely alive."""

    def __init__(self, pool: LocalPool, beacon: Beacon, task_ids: str | list[str], jump: float,
                 inspect: Callable[[list[list[int]]], None] | None = None) -> None:
        self.clock = JumpClock()
        self.seen: list[list[int]] = []
        self._waiting = {task_ids} if isinstance(task_ids, str) else set(task_ids)
        self._pool, self._jump, self._inspect = pool, jump, inspect
        self._started = threading.Event()
        on_ready(beacon, self._fire, count=len(self._waiting))

    def on_event(self, e: Event) -> None:
        if e.type == "task.started" and e.task_id in self._waiting:
            self._waiting.discard(e.task_id)
            if not self._waiting:
                self._started.set()

    def _fire(self, lines: list[str]) -> None:
        self.seen.extend([int(x) for x in line.split()] for line in lines)
        if self._inspect is not None:
            self._inspect(self.seen)
        # A fresh worker may run the task before the parent has read its READY (the start is
        # inferred then): jumping earlier would arm the deadline after the jump.
        self._started.wait(60)
        self.clock.jump(self._jump)
        self._pool.wakeup()


def prove_full_pool(pool: LocalPool, size: int, tmp_path: Path) -> list[int]:
    """Run ``size`` tasks that all must be running at once (each reports, then waits for a gate
    opened only after all ``size`` reported): passes only if ``size`` workers serve. Returns
    their pids."""
    b = Beacon(tmp_path)
    g = Gate(tmp_path)
    try:
        watcher = on_ready(b, lambda lines: g.release(), count=size)
        specs = [TaskSpec(f"probe-{i}", report_and_wait, args=(b.path, g.path))
                 for i in range(size)]
        result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=size),
                                  executor=pool)
        watcher.join(5)
    finally:
        g.close()
        b.close()
    assert result.ok, result.failed
    pids = [r.value for r in result]
    assert len(set(pids)) == size, pids
    assert set(pids) <= set(pool.pids)
    assert pool.capacity == size and pool.idle() == size
    return pids
