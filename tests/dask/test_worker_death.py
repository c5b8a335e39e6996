"""A Dask worker killed with SIGKILL in the middle of a run: the attempts it ran are retried
on the other worker (charged as crashes, as a dead local worker's are), the others are not
touched, the run completes, and the dead worker's runners do not outlive it.

Workers without a nanny here, so a dead worker stays dead and "the other" is the only one.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from orchestrator import Event, OrchestrationPolicy, RetryPolicy, TaskSpec, execute_parallel
from orchestrator.executors.dask import DaskExecutor
from tests.process.sync import Gate, wait_gate, wait_gone

from .cluster import TestCluster

pytestmark = pytest.mark.process

cluster_options = {"workers": 2, "nthreads": 2, "nanny": False}


def test_a_killed_worker_s_attempts_are_retried_on_the_other(cluster: TestCluster,
                                                             tmp_path: Path):
    pids = cluster.worker_pids()
    gate = Gate(tmp_path)
    started: list[Event] = []
    all_started, both_lost = threading.Event(), threading.Event()
    lost: list[str] = []

    def on_event(e: Event) -> None:
        if e.type == "task.started":
            started.append(e)
            if len(started) == 4:
                all_started.set()
        elif e.type == "task.retry_scheduled":
            lost.append(e.task_id or "")
            if len(lost) == 2:
                both_lost.set()

    victim: list[str] = []

    def kill_one_worker() -> None:
        if all_started.wait(60):
            victim.append(str(started[0].data["worker"]))
            os.kill(pids[victim[0]], signal.SIGKILL)
            both_lost.wait(60)
        gate.release()

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    specs = [TaskSpec(f"t{i}", wait_gate, args=(gate.path, i),
                      retry=RetryPolicy(max_attempts=2)) for i in range(4)]
    try:
        with DaskExecutor(cluster.address) as executor:
            result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=4),
                                      executor=executor, on_event=on_event)
            assert executor.workers == {a: 2 for a in pids if a != victim[0]}
    finally:
        gate.close()
        killer.join(10)
    assert result.ok, result.failed
    assert result.values == {f"t{i}": i for i in range(4)}
    (survivor,) = set(pids) - set(victim)
    on_victim = {e.task_id for e in started[:4] if e.data["worker"] == victim[0]}
    assert len(on_victim) == 2 and set(lost) == on_victim
    for r in result:
        assert r.worker == survivor
        assert r.attempts == (2 if r.id in on_victim else 1)
    retried = [e for e in started if e.task_id in on_victim and e.attempt == 1]
    assert wait_gone([e.pid for e in retried if e.pid]) == []  # the dead worker's runners
    assert cluster.worker_pids() == {survivor: pids[survivor]}
