"""The engine end to end on the real pool (issue 2): timeouts, isolation, Refs, speedup,
cascading, the run's deadline, iter_parallel's backpressure and early close."""

from __future__ import annotations

import itertools
from typing import Iterator

import pytest

from orchestrator import (
    OrchestrationPolicy,
    Ref,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
    iter_parallel,
)
from orchestrator.session import handoff_bound
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from orchestrator.telemetry.sinks import MemorySink

from .conftest import JumpWhenReady, prove_full_pool, run_with_bystanders
from .sync import Gate, alive, fail_after_gate, on_ready, wait_gone

pytestmark = pytest.mark.process


def test_timeout_on_the_real_clock_kills_the_worker_with_zero_collateral(pool, tmp_path):
    run = run_with_bystanders(pool, tmp_path, TaskSpec("slow", "workers.agents:hang",
                                                       timeout=0.3))
    assert run.fault.status is TaskStatus.TIMED_OUT and run.fault.attempts == 1
    assert run.fault.error.message.startswith("task 'slow' attempt 1 timed out after 0.3s; "
                                              f"killed worker pid {run.fault.worker_pid}")
    assert run.fault.duration >= 0.3
    assert wait_gone([run.fault.worker_pid]) == []
    prove_full_pool(pool, 3, tmp_path)


def test_crash_in_a_graph_skips_only_its_dependents(pool):
    tasks = [
        TaskSpec("ok", "workers.agents:echo", args=(1,)),
        TaskSpec("boom", "workers.agents:crash", args=("segfault",)),
        TaskSpec("after-boom", "workers.agents:echo", args=(Ref("boom"),)),
        TaskSpec("after-ok", "workers.agents:add", args=(Ref("ok"), 1)),
    ]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2), executor=pool)
    status = {r.id: r.status for r in result}
    assert status == {"ok": TaskStatus.SUCCEEDED, "boom": TaskStatus.FAILED,
                      "after-boom": TaskStatus.SKIPPED, "after-ok": TaskStatus.SUCCEEDED}
    assert result["boom"].error.signal == "SIGSEGV"
    assert result["after-boom"].error.message == (
        "task 'after-boom' skipped: upstream task 'boom' failed")
    assert result["after-ok"].value == 2


def test_results_pass_through_refs_small_and_large(pool):
    big = 3 * 2**20  # larger than the inline and the queue-behind limits
    tasks = [
        TaskSpec("a", "workers.agents:echo", args=({"k": [1, 2]},)),
        TaskSpec("blob", "workers.agents:big_value", args=(big / 2**20,)),
        TaskSpec("b", "workers.agents:echo", args=([Ref("a"), {"nested": (Ref("a"),)}],)),
        TaskSpec("size", len, args=(Ref("blob"),)),
        TaskSpec("sum", "workers.agents:add", args=(Ref("size"), 1)),
    ]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2), executor=pool)
    assert result.ok, result.failed
    assert result["b"].value == [{"k": [1, 2]}, {"nested": ({"k": [1, 2]},)}]
    assert result["size"].value == big and result["sum"].value == big + 1


def test_sleep_speedup_at_concurrency_4_on_a_warm_pool(pool, tmp_path):
    # Sleeps need no CPU, so this holds on a loaded machine: 8 x 0.3 s on 4 workers.
    prove_full_pool(pool, 4, tmp_path)  # warm: four workers up before the clock starts
    tasks = [TaskSpec(f"s{i}", "workers.agents:sleep", args=(0.3,)) for i in range(8)]
    result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=4), executor=pool)
    assert result.ok
    m = result.metrics
    assert m.serial_time >= 8 * 0.3
    assert m.speedup_vs_serial >= 2.5, m


def test_cascading_failure_kills_the_running_tasks_and_cancels_the_rest(pool, tmp_path, beacon):
    gate = Gate(tmp_path)
    on_ready(beacon, lambda lines: gate.release(), count=2)  # both hangs run: now fail
    sink = MemorySink()
    tasks = [TaskSpec(f"hang-{i}", "workers.agents:hang", kwargs={"ready": beacon.path})
             for i in range(2)]
    tasks += [TaskSpec("fails", fail_after_gate, args=(gate.path, "first failure"))]
    tasks += [TaskSpec(f"queued-{i}", "workers.agents:noop") for i in range(3)]
    try:
        result = execute_parallel(tasks, OrchestrationPolicy(
            max_concurrency=3, cancellation="cascading"), on_event=sink, executor=pool)
    finally:
        gate.close()
    status = {r.id: r.status.value for r in result}
    assert status == {"hang-0": "cancelled", "hang-1": "cancelled", "fails": "failed",
                      "queued-0": "cancelled", "queued-1": "cancelled",
                      "queued-2": "cancelled"}
    assert result["hang-0"].error.message == (
        "task 'hang-0' cancelled: task 'fails' failed and cancellation is 'cascading'")
    kills = [(e.task_id, e.reason) for e in sink.of_type("task.kill")]
    assert sorted(kills) == [("hang-0", "cascade"), ("hang-1", "cascade")]
    hung = [int(line) for line in beacon.lines]
    assert sorted(hung) == sorted(result[f"hang-{i}"].worker_pid for i in range(2))
    assert wait_gone(hung) == []
    prove_full_pool(pool, 3, tmp_path)


def test_global_timeout_times_out_running_tasks_and_cancels_the_others(pool, tmp_path, beacon):
    cue = JumpWhenReady(pool, beacon, ["hang-0", "hang-1"], 60)
    sink = MemorySink()

    def on_event(e):
        sink(e)
        cue.on_event(e)

    tasks = [TaskSpec(f"hang-{i}", "workers.agents:hang", kwargs={"ready": beacon.path})
             for i in range(2)] + [TaskSpec(f"queued-{i}", "workers.agents:noop")
                                   for i in range(2)]
    result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=2, global_timeout=60),
                              on_event=on_event, executor=pool, clock=cue.clock)
    assert {r.id: r.status.value for r in result} == {
        "hang-0": "timed_out", "hang-1": "timed_out", "queued-0": "cancelled",
        "queued-1": "cancelled"}
    assert result["hang-0"].error.message.startswith(
        "task 'hang-0' attempt 1 was still running when the run's global_timeout of 60s expired")
    assert result["queued-0"].error.message == (
        "task 'queued-0' cancelled: the run's global_timeout of 60s expired before it started")
    assert sorted((e.task_id, e.reason) for e in sink.of_type("task.kill")) == [
        ("hang-0", "run_timeout"), ("hang-1", "run_timeout")]
    assert len([e for e in sink.events if e.type in TERMINAL_EVENT_TYPES]) == 4
    assert wait_gone([pid for (pid,) in cue.seen]) == []


def test_iter_parallel_pulls_a_generator_lazily(pool):
    pulled = 0

    def endless() -> Iterator[TaskSpec]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield TaskSpec(f"t{i}", "workers.agents:echo", args=(i,))

    policy = OrchestrationPolicy(max_concurrency=2, max_pending=2)
    window = policy.max_concurrency + policy.pending_limit
    ahead = []
    it = iter_parallel(endless(), policy, executor=pool)
    for n, r in enumerate(it, 1):
        assert r.status is TaskStatus.SUCCEEDED
        ahead.append(pulled - n)
        if n == 200:
            break
    it.close()
    # Pulled only as tasks finish: never more than the results waiting in the hand-off (its
    # bound) plus one window (plus the step's batch) ahead of the consumer.
    limit = handoff_bound(policy) + 2 * window
    assert max(ahead) <= limit, max(ahead)
    assert pulled <= 200 + limit


def test_closing_iter_parallel_early_kills_the_running_tasks(pool, beacon):
    tasks = [TaskSpec("quick", "workers.agents:echo", args=(1,))] + [
        TaskSpec(f"hang-{i}", "workers.agents:hang", kwargs={"ready": beacon.path})
        for i in range(2)]
    it = iter_parallel(tasks, OrchestrationPolicy(max_concurrency=3), executor=pool)
    first = next(it)
    assert (first.id, first.value) == ("quick", 1)
    pids = [int(line) for line in beacon.read(2)]
    it.close()
    assert alive(pids) == []  # gone when close() returns: no patience


def test_resource_use_is_measured_in_the_worker_per_attempt(pool):
    tasks = [
        TaskSpec("big", "workers.agents:allocate", args=(64,)),
        TaskSpec("cpu", "workers.agents:burn_cpu", args=(0.05,)),
        TaskSpec("tiny", "workers.agents:noop"),
    ]
    result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), executor=pool)
    assert result.ok, result.failed
    big, cpu, tiny = result["big"], result["cpu"], result["tiny"]
    # The peak is reset before each attempt: 64 MB touched shows, and does not carry over.
    assert big.peak_rss is not None and big.peak_rss >= 64 * 2**20
    assert cpu.peak_rss is not None and cpu.peak_rss < big.peak_rss - 32 * 2**20
    assert cpu.cpu_time is not None and cpu.cpu_time >= 0.05
    assert tiny.peak_rss is None  # under 1 ms: not worth a read of /proc/self/status
