"""Kills on a real Dask cluster stay surgical: a hanging task ends ``timed_out`` on time with its
whole process tree, a crash fails only its own task, and a run's stop ends every task on the
cluster; the Dask workers themselves never restart, and every other task succeeds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import (
    MemorySink,
    OrchestrationPolicy,
    RetryPolicy,
    TaskSpec,
    TaskStatus,
    execute_parallel,
)
from orchestrator.executors.dask import DaskExecutor
from tests.process.sync import Beacon, Gate, on_ready, report_and_wait, wait_gone

from . import tasks as t
from .cluster import TestCluster

pytestmark = pytest.mark.process

SLACK = 0.5  # a timed-out task ends within its deadline plus this


def bystanders(n: int = 3, seconds: float = 1.6) -> list[TaskSpec]:
    """Tasks that are in flight while the fault under test happens (4 threads in the cluster),
    with a timeout of their own: the policy's is the faulty task's."""
    return [TaskSpec(f"bystander-{i}", "workers.agents:sleep", args=(seconds,), timeout=60,
                     retry=RetryPolicy(max_attempts=3)) for i in range(n)]


def check_bystanders(result, cluster: TestCluster, pids_before: dict[str, int]) -> None:
    """Every bystander succeeded at its first attempt, on a worker that never restarted."""
    assert cluster.worker_pids() == pids_before
    for r in result:
        if r.id.startswith("bystander-"):
            assert (r.status, r.attempts, r.error) == (TaskStatus.SUCCEEDED, 1, None), r
            assert r.worker in pids_before


def prove_full_cluster(executor: DaskExecutor, tmp_path: Path) -> None:
    """Four tasks run at once again: each reports, then waits for a gate that opens only once
    all four have reported."""
    beacon, gate = Beacon(tmp_path), Gate(tmp_path)
    try:
        watcher = on_ready(beacon, lambda lines: gate.release(), count=4)
        specs = [TaskSpec(f"probe-{i}", report_and_wait, args=(beacon.path, gate.path))
                 for i in range(4)]
        result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=4),
                                  executor=executor)
        watcher.join(5)
    finally:
        gate.close()  # opens it, if four never reported: the run ends, the test fails below
        beacon.close()
    assert result.ok and len(beacon.lines) == 4
    assert len({r.worker for r in result}) == 2


def elapsed(sink: MemorySink, task_id: str, type_: str) -> float:
    return next(e.elapsed for e in sink.events if e.task_id == task_id and e.type == type_)


HANGS = {
    "python loop": ("workers.agents:busy_hang", {}),
    "time.sleep": ("workers.agents:hang", {}),
    "C sleep": (t.c_sleep, {}),
    "C call holding the GIL": ("workers.agents:hang_in_c", {}),
    "with a grandchild": ("workers.agents:spawn_children", {"count": 1, "depth": 2}),
}


@pytest.mark.parametrize("kind", sorted(HANGS))
def test_a_hanging_task_times_out_on_time_with_its_whole_tree(kind, dask_executor, cluster,
                                                              tmp_path: Path):
    fn, kwargs = HANGS[kind]
    before = cluster.worker_pids()
    beacon = Beacon(tmp_path)
    sink = MemorySink()
    try:
        hang = TaskSpec("hang", fn, kwargs={**kwargs, "ready": beacon.path})
        result = execute_parallel([hang, *bystanders()],
                                  OrchestrationPolicy(max_concurrency=4, task_timeout=1),
                                  executor=dask_executor, on_event=sink)
        tree = beacon.pids(1, timeout=5)[0]  # the runner, or the children it started
    finally:
        beacon.close()
    r = result["hang"]
    assert r.status is TaskStatus.TIMED_OUT and r.attempts == 1
    assert r.error.message.startswith("task 'hang' attempt 1 timed out after 1s; killed worker "
                                      f"pid {r.worker_pid} on {r.worker}")
    took = elapsed(sink, "hang", "task.timed_out") - elapsed(sink, "hang", "task.started")
    assert 1.0 <= took <= 1.0 + SLACK, took
    assert wait_gone([r.worker_pid, *tree]) == []
    check_bystanders(result, cluster, before)
    prove_full_cluster(dask_executor, tmp_path)


def test_sigterm_ignored_escalates_to_sigkill(dask_executor, cluster):
    before = cluster.worker_pids()
    sink = MemorySink()
    result = execute_parallel(
        [TaskSpec("stubborn", "workers.agents:ignore_sigterm"), *bystanders()],
        OrchestrationPolicy(max_concurrency=4, task_timeout=1, kill_grace=0.3),
        executor=dask_executor, on_event=sink)
    r = result["stubborn"]
    assert r.status is TaskStatus.TIMED_OUT
    kills = [(e.reason, e.data["signal"]) for e in sink.of_type("task.kill")]
    assert kills == [("timeout", "SIGTERM"), ("timeout", "SIGKILL")]
    assert r.error.message.endswith("(SIGKILL)")
    assert wait_gone([r.worker_pid]) == []
    check_bystanders(result, cluster, before)


@pytest.mark.parametrize("how, what", [("segfault", "SIGSEGV"), ("exit", "exit code 3")])
def test_a_crash_fails_only_its_task(how, what, dask_executor, cluster, tmp_path):
    before = cluster.worker_pids()
    result = execute_parallel([TaskSpec("crash", "workers.agents:crash", args=(how, 3)),
                               *bystanders()],
                              OrchestrationPolicy(max_concurrency=4), executor=dask_executor)
    r = result["crash"]
    assert r.status is TaskStatus.FAILED and r.error.kind == "crash"
    assert r.error.message == (f"worker pid {r.worker_pid} on {r.worker} died while running "
                               f"task 'crash' attempt 1: {what}")
    assert (r.error.signal, r.error.exit_code) == (("SIGSEGV", None) if how == "segfault"
                                                   else (None, 3))
    check_bystanders(result, cluster, before)
    prove_full_cluster(dask_executor, tmp_path)


def test_the_run_deadline_ends_every_task_on_the_cluster(dask_executor, cluster, tmp_path):
    before = cluster.worker_pids()
    specs = [TaskSpec(f"hang-{i}", "workers.agents:hang") for i in range(6)]
    result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=4, global_timeout=1.5),
                              executor=dask_executor)
    statuses = sorted(r.status.value for r in result)
    assert statuses == ["cancelled"] * 2 + ["timed_out"] * 4
    ran = [r.worker_pid for r in result if r.status is TaskStatus.TIMED_OUT]
    assert wait_gone(ran) == []
    assert cluster.worker_pids() == before
    prove_full_cluster(dask_executor, tmp_path)


def test_cascading_cancellation_ends_every_task_on_the_cluster(dask_executor, cluster, tmp_path):
    before = cluster.worker_pids()
    sink = MemorySink()
    specs = [TaskSpec(f"hang-{i}", "workers.agents:hang") for i in range(3)]
    specs.append(TaskSpec("bad", "workers.agents:fail", args=("first failure",)))
    specs += [TaskSpec(f"later-{i}", "workers.agents:hang") for i in range(2)]
    result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=4,
                                                         cancellation="cascading"),
                              executor=dask_executor, on_event=sink)
    assert result["bad"].status is TaskStatus.FAILED
    others = [r for r in result if r.id != "bad"]
    assert {r.status for r in others} == {TaskStatus.CANCELLED}
    ran = [r.worker_pid for r in others if r.worker_pid is not None]
    assert wait_gone(ran) == []
    assert cluster.worker_pids() == before
    prove_full_cluster(dask_executor, tmp_path)


def test_a_task_over_its_memory_limit_is_killed(dask_executor, cluster):
    before = cluster.worker_pids()
    result = execute_parallel(
        [TaskSpec("hog", "workers.agents:allocate", args=(400, 30), max_memory_mb=150),
         *bystanders()], OrchestrationPolicy(max_concurrency=4), executor=dask_executor)
    r = result["hog"]
    assert r.status is TaskStatus.FAILED and r.error.kind == "memory"
    assert "exceeded its memory limit of 150 MB" in r.error.message
    assert wait_gone([r.worker_pid]) == []
    check_bystanders(result, cluster, before)


def test_runners_are_recycled_after_max_tasks_per_worker(dask_executor):
    specs = [TaskSpec(f"pid-{i}", t.pid) for i in range(8)]
    result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=2,
                                                         max_tasks_per_worker=1),
                              executor=dask_executor)
    assert result.ok
    pids = [r.value for r in result]
    assert len(set(pids)) == 8
    assert wait_gone(pids) == []  # retired runners exit


ORPHAN = """
import sys
from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel
from orchestrator.executors.dask import DaskExecutor
executor = DaskExecutor(sys.argv[1])
execute_parallel([TaskSpec("orphan", "workers.agents:hang", kwargs={"ready": sys.argv[2]})],
                 OrchestrationPolicy(max_concurrency=1), executor=executor)
"""


def test_a_runner_does_not_outlive_a_killed_orchestrator(cluster, tmp_path: Path):
    before = cluster.worker_pids()
    beacon = Beacon(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN, cluster.address, beacon.path],
                            env=cluster.env)
    try:
        (runner,) = beacon.pids(1, timeout=120)[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        beacon.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    # The scheduler lets go of the dead client's task; its host kills the runner.
    assert wait_gone([runner], timeout=30) == []
    assert cluster.worker_pids() == before
