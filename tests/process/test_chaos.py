"""Chaos: seeded faults from inside the tasks and from outside the pool, at once (issue 10).

Inside: tasks raise, crash (``os._exit``), hang past their timeout, catch SIGTERM and return
within the kill's grace, or fork a ``setsid`` child and hang. Outside, a seeded thread keeps
SIGKILLing random workers, SIGSTOPping them (and the reaper) for a moment, and the event sink
is slow now and then. Checks: the run returns; every task ends exactly once, in a state its
fault allows (an outside SIGKILL may turn any task into a crash); every timed-out task was ended
within a bound of its deadline; the pool serves at full size afterwards; nothing is left
(``no_orphans``).

The default size fits < 60 s on a loaded 2-core machine; ``-m soak`` runs 2,000 tasks.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from typing import Any

import pytest

from orchestrator import (
    Event,
    LocalPool,
    OrchestrationPolicy,
    TaskSpec,
    TaskStatus,
    execute_parallel,
)
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES

from . import liveness_agents as agents
from .conftest import prove_full_pool

pytestmark = [pytest.mark.process]

SEED = 20261202
TIMEOUT = 0.5
GRACE = 0.2
# How far past its deadline a timed-out task may end, on a loaded machine with its worker
# perhaps SIGSTOPped at that moment (the target is 1 s; this test asserts a generous
# bound and prints the worst it saw).
SLACK = 3.0
KINDS = [("ok", 80), ("raise", 6), ("crash", 3), ("hang", 4), ("polite", 4), ("fork", 3)]
ENDS = {
    "ok": {TaskStatus.SUCCEEDED},
    "raise": {TaskStatus.FAILED},
    "crash": {TaskStatus.FAILED},
    "hang": {TaskStatus.TIMED_OUT},
    "polite": {TaskStatus.TIMED_OUT},
    "fork": {TaskStatus.TIMED_OUT},
}


class Chaos(threading.Thread):
    """From outside: SIGKILL or SIGSTOP (then SIGCONT) a random worker, or stop the reaper."""

    def __init__(self, pool: LocalPool, rng: random.Random) -> None:
        super().__init__(name="chaos", daemon=True)
        self.pool, self.rng = pool, rng
        self.done = threading.Event()
        self.killed: set[int] = set()
        self.actions = 0

    def run(self) -> None:
        while not self.done.wait(self.rng.uniform(0.05, 0.3)):
            workers, helpers = self.pool.worker_pids, self.pool.helper_pids
            roll = self.rng.random()
            try:
                if roll < 0.25 and workers:
                    victim = self.rng.choice(workers)
                    self.killed.add(victim)
                    os.kill(victim, signal.SIGKILL)
                elif roll < 0.7 and workers:
                    self._pause(self.rng.choice(workers))
                elif helpers:
                    self._pause(helpers[0])
            except ProcessLookupError:
                continue
            self.actions += 1

    def _pause(self, pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            self.done.wait(self.rng.uniform(0.02, 0.2))
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _specs(n: int, rng: random.Random) -> tuple[list[TaskSpec], dict[str, str]]:
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    kinds = rng.choices(names, weights, k=n)
    specs, kind_of = [], {}
    for i, kind in enumerate(kinds):
        tid = f"{kind}-{i}"
        kind_of[tid] = kind
        timeout = TIMEOUT if kind in ("hang", "polite", "fork") else 60.0
        specs.append(TaskSpec(tid, agents.chaos, args=(kind, i), timeout=timeout))
    return specs, kind_of


def _chaos_run(n: int, tmp_path: Any) -> None:
    rng = random.Random(SEED + n)
    specs, kind_of = _specs(n, rng)
    terminal: dict[str, int] = {}
    slow = random.Random(SEED)
    lock = threading.Lock()

    def on_event(e: Event) -> None:
        if e.type in TERMINAL_EVENT_TYPES and e.task_id is not None:
            with lock:
                terminal[e.task_id] = terminal.get(e.task_id, 0) + 1
        if slow.random() < 0.01:
            threading.Event().wait(0.05)  # a slow sink, now and then

    with LocalPool() as pool:
        chaos = Chaos(pool, random.Random(SEED))
        policy = OrchestrationPolicy(max_concurrency=4, kill_grace=GRACE)
        execute_parallel([TaskSpec("warm", agents.pid)], policy, executor=pool)
        chaos.start()
        try:
            result = execute_parallel(specs, policy, on_event=on_event, executor=pool)
        finally:
            chaos.done.set()
            chaos.join(10)
        assert chaos.actions > 0
        worst = 0.0
        for r in result:
            kind = kind_of[r.id]
            allowed = set(ENDS[kind])
            if r.error is not None and r.error.kind == "crash":
                allowed.add(TaskStatus.FAILED)  # killed from outside
            assert r.status in allowed, (kind, r)
            if r.status is TaskStatus.TIMED_OUT:
                assert r.duration is not None
                worst = max(worst, r.duration - TIMEOUT)
                assert r.duration <= TIMEOUT + GRACE + SLACK, (r.id, r.duration)
            if kind == "raise":
                assert r.error.kind in ("exception", "crash"), r
        assert len(result) == n
        assert terminal == {tid: 1 for tid in kind_of}, "each task has one terminal event"
        print(f"chaos: {n} tasks, {chaos.actions} outside faults, worst deadline overshoot "
              f"{worst:.3f}s")
        prove_full_pool(pool, 4, tmp_path)


def test_chaos_seeded_bounded(tmp_path):
    _chaos_run(150, tmp_path)


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_chaos_soak(tmp_path, request):
    if "soak" not in (request.config.option.markexpr or ""):
        pytest.skip("run with -m soak")
    _chaos_run(2000, tmp_path)
