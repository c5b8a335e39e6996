"""Runs on a real Dask cluster give what runs on the local pool give: the same values for a DAG
with Refs, the executor contract, the policy's retry delays, and an event log that passes the
same schema checks and rebuilds the same metrics, with each worker's address beside the pid."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator import (
    Executor,
    JsonLinesSink,
    OrchestrationPolicy,
    PoolError,
    Ref,
    RetryPolicy,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_graph_async,
    execute_parallel,
    iter_parallel,
    metrics_from_events,
    read_events,
)
from orchestrator.executors.dask import DaskExecutor
from orchestrator.executors.local.warm import release_shared_pool, shared_pool
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from tests.contract.executor_contract import ExecutorContract
from tests.process.sync import Beacon, Gate, on_ready, wait_gate, wait_gone

from . import tasks as t

pytestmark = pytest.mark.process

POLICY = OrchestrationPolicy(max_concurrency=4)


def twelve_task_dag() -> list[TaskSpec]:
    offset = 5
    return [
        TaskSpec("a", "workers.agents:echo", args=(1,)),
        TaskSpec("b", "workers.agents:echo", args=(2,)),
        TaskSpec("c", t.square, args=(Ref("a"),)),
        TaskSpec("d", t.square, args=(Ref("b"),)),
        TaskSpec("e", "workers.agents:add", args=(Ref("c"), Ref("d"))),
        TaskSpec("f", lambda x: x + offset, args=(Ref("e"),)),
        TaskSpec("g", t.total, args=(Ref("a"), Ref("b"), Ref("f"))),
        TaskSpec("h", "workers.agents:echo", kwargs={"value": {"f": Ref("f"), "l": [Ref("g")]}}),
        TaskSpec("i", "workers.agents:add", args=([Ref("a")], [Ref("b"), Ref("c")])),
        TaskSpec("j", "workers.agents:burn_cpu", args=(0.05,)),
        TaskSpec("k", t.total, args=(Ref("g"), Ref("e")), deps=("j",)),
        TaskSpec("l", "workers.agents:echo", args=((Ref("h"), Ref("i"), Ref("k")),)),
    ]


def test_a_dag_with_refs_gives_the_same_values_as_on_the_local_pool(dask_executor, cluster):
    pool, shared = shared_pool()
    try:
        local = execute_graph(twelve_task_dag(), POLICY, executor=pool)
    finally:
        release_shared_pool(pool, shared, healthy=not pool.closed)
    remote = execute_graph(twelve_task_dag(), POLICY, executor=dask_executor)
    assert remote.ok and local.ok
    values = dict(remote.values)
    values.pop("j"), local.values.pop("j")  # loop counts of a CPU burn differ run to run
    assert values == {k: v for k, v in local.values.items() if k != "j"}
    assert values["l"] == ({"f": 10, "l": [13]}, 4, 18)
    workers = set(cluster.worker_pids())
    for r in remote:
        assert r.worker in workers and r.worker_pid is not None and r.attempts == 1
    assert len(remote) == 12


def test_capacity_is_the_clusters_thread_count(dask_executor, cluster):
    assert dask_executor.capacity == 4
    assert dask_executor.workers == {a: 2 for a in cluster.worker_pids()}


def test_retries_use_the_policys_delays(dask_executor):
    retry = RetryPolicy(max_attempts=4, backoff="exponential", base_delay=0.05, jitter=0.5,
                        seed=11)
    result = execute_parallel([TaskSpec("flaky", "workers.agents:flaky", args=(3, "ok"),
                                        retry=retry)], POLICY, executor=dask_executor)
    r = result["flaky"]
    assert (r.status, r.value, r.attempts) == (TaskStatus.SUCCEEDED, "ok", 4)
    assert r.retry_delays == tuple(retry.delay("flaky", n) for n in (1, 2, 3))
    assert len(set(r.retry_delays)) == 3  # jitter and backoff: three different delays


def test_the_event_log_passes_the_schema_and_rebuilds_the_metrics(dask_executor, cluster,
                                                                  tmp_path: Path):
    log = tmp_path / "run.jsonl"
    specs = twelve_task_dag() + [
        TaskSpec("bad", "workers.agents:fail", args=("no",), retry=RetryPolicy(max_attempts=2)),
        TaskSpec("after-bad", "workers.agents:echo", args=(Ref("bad"),)),
    ]
    with JsonLinesSink(log) as sink:
        result = execute_graph(specs, POLICY, executor=dask_executor, on_event=sink)
    events = read_events(log)  # validates every line against the schema
    assert metrics_from_events(events) == result.metrics
    workers = set(cluster.worker_pids())
    started = [e for e in events if e.type == "task.started"]
    assert len(started) == 14  # 12, and two attempts of "bad"
    assert all(e.data["worker"] in workers and e.pid for e in started)
    ran = [e for e in events if e.type in TERMINAL_EVENT_TYPES and e.task_id != "after-bad"]
    assert all(e.data["worker"] in workers for e in ran)
    skipped = next(e for e in events if e.task_id == "after-bad" and e.type == "task.skipped")
    assert "worker" not in skipped.data  # it never ran anywhere


class TestDaskContract(ExecutorContract):
    """The executor contract (tests/contract), on the cluster."""

    @pytest.fixture
    def executor(self, dask_executor: DaskExecutor) -> Iterator[Executor]:
        yield dask_executor


def test_workers_restricts_where_attempts_run(cluster):
    one = sorted(cluster.worker_pids())[0]
    with DaskExecutor(cluster.address, workers=[one]) as executor:
        result = execute_parallel([TaskSpec(f"t{i}", t.pid) for i in range(6)], POLICY,
                                  executor=executor)
        assert executor.capacity == 2
    assert result.ok and {r.worker for r in result} == {one}


def test_an_unknown_worker_is_refused_at_open(cluster):
    with DaskExecutor(cluster.address, workers=["tcp://127.0.0.1:9"]) as executor:
        with pytest.raises(PoolError, match=r"^no worker at tcp://127\.0\.0\.1:9 in the Dask "
                                            r"cluster at tcp://127\.0\.0\.1:\d+ \(it has "):
            execute_parallel([TaskSpec("a", t.pid)], POLICY, executor=executor)


def test_streaming_and_async_runs_work_on_the_cluster(dask_executor):
    specs = [TaskSpec(f"s{i}", t.square, args=(i,)) for i in range(10)]
    streamed = {r.id: r.value for r in iter_parallel(iter(specs), POLICY,
                                                     executor=dask_executor)}
    assert streamed == {f"s{i}": i * i for i in range(10)}
    result = asyncio.run(execute_graph_async(twelve_task_dag(), POLICY, executor=dask_executor))
    assert result.ok and result["l"].value == ({"f": 10, "l": [13]}, 4, 18)


def test_a_stream_closed_early_kills_what_runs(dask_executor, cluster, tmp_path: Path):
    beacon, gate = Beacon(tmp_path), Gate(tmp_path)
    try:
        # "quick" ends once the three hangs run in their runners (each reports its pid).
        on_ready(beacon, lambda lines: gate.release(), count=3)
        specs = [TaskSpec("quick", wait_gate, args=(gate.path, 1))]
        specs += [TaskSpec(f"hang-{i}", "workers.agents:hang", kwargs={"ready": beacon.path})
                  for i in range(3)]
        stream = iter_parallel(iter(specs), POLICY, executor=dask_executor)
        first = next(stream)
        stream.close()
    finally:
        gate.close()
    runners = [int(line) for line in beacon.lines]
    beacon.close()
    assert first.id == "quick" and len(runners) == 3
    assert wait_gone(runners) == []
    assert idle_soon(cluster)


def idle_soon(cluster, timeout: float = 30.0) -> bool:
    """Whether the cluster is processing nothing within ``timeout`` (a deadlock guard)."""
    deadline = time.monotonic() + timeout
    while any(cluster.client.processing().values()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # bounded patience: the scheduler learns of each end in turn
    return True
