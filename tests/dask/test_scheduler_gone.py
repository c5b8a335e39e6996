"""When the Dask scheduler itself dies, a run fails with a clear error after the executor's
grace period instead of waiting for ever, and leaves no runner behind."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from orchestrator import Event, OrchestrationPolicy, PoolError, TaskSpec, execute_parallel
from orchestrator.executors.dask import DaskExecutor
from tests.process.sync import Gate, wait_gate, wait_gone

from .cluster import TestCluster

pytestmark = pytest.mark.process

cluster_options = {"workers": 1, "nthreads": 2}


def test_a_dead_scheduler_fails_the_run_after_the_grace(cluster: TestCluster, tmp_path: Path):
    gate = Gate(tmp_path)
    started: list[Event] = []
    both = threading.Event()

    def on_event(e: Event) -> None:
        if e.type == "task.started":
            started.append(e)
            if len(started) == 2:
                both.set()

    def kill_the_scheduler() -> None:
        if both.wait(60):
            cluster.procs[0].send_signal(signal.SIGKILL)

    threading.Thread(target=kill_the_scheduler, daemon=True).start()
    specs = [TaskSpec(f"t{i}", wait_gate, args=(gate.path,)) for i in range(3)]
    try:
        with DaskExecutor(cluster.address, no_workers_timeout=2) as executor:
            t0 = time.monotonic()
            with pytest.raises(PoolError, match=r"^the connection to the Dask scheduler at "
                                                r"tcp://127\.0\.0\.1:\d+ was lost"):
                execute_parallel(specs, OrchestrationPolicy(max_concurrency=2),
                                 executor=executor, on_event=on_event)
            assert time.monotonic() - t0 < 60  # the grace, not a hang
        # Closing does not wait out the lost client's reconnect timeout (30 s) either.
        assert time.monotonic() - t0 < 25
    finally:
        gate.close()
    assert wait_gone([e.pid for e in started if e.pid]) == []
