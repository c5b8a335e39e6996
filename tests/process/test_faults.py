"""The fault matrix (docs/faults.md), one test per row, on the real pool.

Every row runs the faulty task beside bystander tasks that are provably in flight during the
fault (``run_with_bystanders``) and checks: the faulty task's status and error, zero collateral
(each bystander succeeded at its first attempt on a worker that is still alive), the pool back
at full size (``prove_full_pool``) and, through the autouse ``no_orphans`` fixture, that no
process is left. Kill-ladder and process-tree rows are in test_kill.py.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from orchestrator import LocalPool, RetryPolicy, TaskFailedError, TaskSpec, TaskStatus
from workers.agents import LockedError, NeedsArgsError

from .conftest import JumpWhenReady, prove_full_pool, run_with_bystanders
from .sync import on_ready, wait_gone

pytestmark = pytest.mark.process

SIZE = 3  # the fault task and two bystanders


def _no_worker_died(run, pool_pids_before, pool):
    assert run.died() == []
    assert set(pool_pids_before) <= set(pool.worker_pids)


def _warm(pool, tmp_path):
    return prove_full_pool(pool, SIZE, tmp_path)


# -- the task raises -------------------------------------------------------------------------


def test_raises(pool, tmp_path):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path, TaskSpec("raiser", "workers.agents:fail",
                                                       args=("bad input 17",)))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED and run.fault.attempts == 1
    assert (err.kind, err.type, err.message) == ("exception", "RuntimeError", "bad input 17")
    assert err.traceback.startswith("Traceback (most recent call last):")
    assert 'in fail\n    raise RuntimeError(message)' in err.traceback
    assert err.traceback.endswith("RuntimeError: bad input 17\n")
    rebuilt = err.exception()
    assert type(rebuilt) is RuntimeError and str(rebuilt) == "bad input 17"
    assert "raise RuntimeError(message)" in str(rebuilt.__cause__)
    _no_worker_died(run, before, pool)
    prove_full_pool(pool, SIZE, tmp_path)


def test_raises_an_exception_with_required_constructor_arguments(pool, tmp_path):
    # Plain pickle loses it (unpickling calls __init__ with one argument of two); it is rebuilt
    # without __init__ and comes back as itself, its attributes with it.
    run = run_with_bystanders(pool, tmp_path, TaskSpec("needs", "workers.agents:raise_unpicklable"))
    err = run.fault.error
    assert (err.kind, err.type) == ("exception", "NeedsArgsError")
    rebuilt = err.exception()
    assert type(rebuilt) is NeedsArgsError
    assert (rebuilt.code, str(rebuilt)) == (42, "code 42: required constructor arguments")
    assert "raise_unpicklable" in str(rebuilt.__cause__)  # the worker's traceback


@pytest.mark.parametrize("agent, exc_type, message", [
    ("raise_holding_lock", LockedError, "an error that holds a lock"),  # cannot be pickled
])
def test_raises_an_exception_that_cannot_cross_the_boundary(pool, tmp_path, agent, exc_type,
                                                            message):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path, TaskSpec("odd-error", f"workers.agents:{agent}"))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.type, err.message) == ("exception", exc_type.__qualname__, message)
    assert f"in {agent}\n" in err.traceback
    assert err.traceback.endswith(f"{exc_type.__module__}.{exc_type.__qualname__}: {message}\n")
    assert f"workers.agents.{exc_type.__qualname__}" in err.type_chain  # retry_on still matches
    # The object itself could not travel: the same words come back as a TaskFailedError.
    assert err.exception_bytes is None
    rebuilt = err.exception()
    assert isinstance(rebuilt, TaskFailedError)
    assert str(rebuilt) == f"{exc_type.__qualname__}: {message}"
    _no_worker_died(run, before, pool)
    prove_full_pool(pool, SIZE, tmp_path)


def test_raises_memory_error(pool, tmp_path):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path, TaskSpec("greedy", "workers.agents:crash",
                                                       args=("memory",)))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.type) == ("exception", "MemoryError")
    assert "bytearray(1 << 50)" in err.traceback
    _no_worker_died(run, before, pool)  # a MemoryError is an exception, not a dead worker
    prove_full_pool(pool, SIZE, tmp_path)


# -- the task's value ------------------------------------------------------------------------


def test_returns_an_unpicklable_value(pool, tmp_path):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path,
                              TaskSpec("holder", "workers.agents:return_unpicklable"))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.type) == ("pickling", "TypeError")
    assert err.message == ("task 'holder': it returned a _Holder that cannot be pickled: "
                           "cannot pickle '_thread.lock' object")
    _no_worker_died(run, before, pool)
    prove_full_pool(pool, SIZE, tmp_path)


def test_returns_a_value_whose_class_only_the_worker_can_import(pool, tmp_path):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path,
                              TaskSpec("alien", "workers.agents:return_worker_only_class"))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.type) == ("pickling", "ModuleNotFoundError")
    assert err.message == ("task 'alien': its result could not be unpickled in the parent: "
                           "No module named '_orchestrator_worker_only'")
    _no_worker_died(run, before, pool)
    prove_full_pool(pool, SIZE, tmp_path)


def _peak_rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset this process's peak RSS (VmHWM), Linux >= 4.0
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        text = f.read()
    start = text.index("VmHWM:") + 6
    return int(text[start:text.index("kB", start)]) * 1024


def test_returns_a_200_mb_value_without_extra_copies(pool, tmp_path):
    _warm(pool, tmp_path)
    if not _peak_rss_reset():
        pytest.skip("needs /proc/self/clear_refs to measure the peak")
    mb = 2**20
    base = _peak_rss()
    run = run_with_bystanders(pool, tmp_path, TaskSpec("big", "workers.agents:big_value",
                                                       args=(200,)))
    value = run.fault.value
    assert run.fault.status is TaskStatus.SUCCEEDED
    assert type(value) is bytes and len(value) == 200 * mb and value[:1] == value[-1:] == b"\x01"
    # One copy on each side: a pickled copy (worker) or an unpickled one (parent) would double it.
    assert _peak_rss() - base < 300 * mb, (_peak_rss() - base) / mb
    assert run.fault.peak_rss < 300 * mb, run.fault.peak_rss / mb
    del value, run
    prove_full_pool(pool, SIZE, tmp_path)


# -- the worker dies -------------------------------------------------------------------------


@pytest.mark.parametrize("how, code, sig", [
    ("segfault", None, "SIGSEGV"),
    ("exit", 3, None),
    ("kill", None, "SIGKILL"),
])
def test_worker_dies_by_itself(pool, tmp_path, how, code, sig):
    # Retries on: each attempt kills its worker; both deaths are the task's alone.
    run = run_with_bystanders(pool, tmp_path, TaskSpec(
        "doomed", "workers.agents:crash", args=(how,), retry=RetryPolicy(max_attempts=2)))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED and run.fault.attempts == 2
    assert (err.kind, err.type, err.exit_code, err.signal) == ("crash", "WorkerCrashed", code, sig)
    assert err.message == (f"worker pid {run.fault.worker_pid} died while running task 'doomed' "
                           f"attempt 2: {sig or f'exit code {code}'}")
    died = run.died()
    assert [(e.reason, e.data["exit_code"], e.data["signal"]) for e in died] == [
        ("crashed", code, sig)] * 2
    retry = [e for e in run.events if e.type == "task.retry_scheduled"]
    assert [(e.task_id, e.reason) for e in retry] == [("doomed", "crash")]
    assert wait_gone([e.pid for e in died]) == []
    prove_full_pool(pool, SIZE, tmp_path)


def test_worker_killed_from_outside(pool, tmp_path, beacon):
    def kill(lines: list[str]) -> None:
        os.kill(int(lines[0]), signal.SIGKILL)

    on_ready(beacon, kill)
    run = run_with_bystanders(pool, tmp_path, TaskSpec("victim", "workers.agents:hang",
                                                       kwargs={"ready": beacon.path}))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.signal, err.exit_code) == ("crash", "SIGKILL", None)
    assert int(beacon.lines[0]) == run.fault.worker_pid
    assert run.kills() == []  # nobody asked for it: a crash, not a kill
    assert wait_gone([run.fault.worker_pid]) == []
    prove_full_pool(pool, SIZE, tmp_path)


# -- the task hangs --------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["hang", "busy_hang", "hang_in_c"])
def test_hang_is_stopped_by_its_timeout(pool, tmp_path, beacon, agent):
    # The clock jumps past the deadline only once the agent reported it is hanging (for
    # hang_in_c: just before it enters the C call that holds the GIL and never returns).
    cue = JumpWhenReady(pool, beacon, "stuck", 60)
    run = run_with_bystanders(pool, tmp_path, TaskSpec(
        "stuck", f"workers.agents:{agent}", kwargs={"ready": beacon.path}, timeout=60),
        clock=cue.clock, also=cue.on_event)
    err = run.fault.error
    assert run.fault.status is TaskStatus.TIMED_OUT
    assert (err.kind, err.type) == ("timeout", "TimeoutError")
    assert err.message == (f"task 'stuck' attempt 1 timed out after 60s; killed worker pid "
                           f"{run.fault.worker_pid} (SIGTERM)")
    assert run.kills("stuck") == [("timeout", "SIGTERM")]  # SIGTERM was enough: no SIGKILL step
    assert [(e.pid, e.reason) for e in run.died()] == [(run.fault.worker_pid, "killed")]
    assert wait_gone([run.fault.worker_pid]) == []
    prove_full_pool(pool, SIZE, tmp_path)


# -- bad arguments ---------------------------------------------------------------------------


class _Client:
    def __init__(self) -> None:
        self.url = "https://example.invalid"
        self._lock = threading.Lock()


def test_unpicklable_argument_is_caught_before_dispatch_with_its_path(pool, tmp_path):
    _warm(pool, tmp_path)
    before = pool.worker_pids
    run = run_with_bystanders(pool, tmp_path, TaskSpec(
        "needs-client", "workers.agents:echo", kwargs={"value": 1, "client": _Client()}))
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED
    assert (err.kind, err.type) == ("pickling", "PicklingError")
    assert err.message.startswith(
        "task 'needs-client': cannot pickle kwargs['client']._lock: ")
    assert "cannot pickle '_thread.lock' object" in err.message
    # Never sent: no worker ran it, no start event.
    assert run.fault.worker_pid is None
    assert not [e for e in run.events if e.task_id == "needs-client" and e.type == "task.started"]
    _no_worker_died(run, before, pool)
    prove_full_pool(pool, SIZE, tmp_path)


# -- memory limit ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["task", "policy"])
def test_memory_limit_kills_the_task_and_retries_it(pool, tmp_path, where):
    limit = 150  # MB; a bystander's worker uses ~25
    spec_limit = {"max_memory_mb": limit} if where == "task" else {}
    policy = {"max_task_memory_mb": limit} if where == "policy" else {}
    run = run_with_bystanders(pool, tmp_path, TaskSpec(
        "hog", "workers.agents:allocate", args=(400,), kwargs={"hold": 60},
        retry=RetryPolicy(max_attempts=2), **spec_limit), **policy)
    err = run.fault.error
    assert run.fault.status is TaskStatus.FAILED and run.fault.attempts == 2
    assert (err.kind, err.type) == ("memory", "MemoryLimitExceeded")
    prefix = f"task 'hog' attempt 2 exceeded its memory limit of {limit} MB (peak seen "
    assert err.message.startswith(prefix), err.message
    peak = int(err.message[len(prefix):].split(" MB")[0])
    assert limit < peak <= 450
    assert err.message.endswith(f"; killed worker pid {run.fault.worker_pid} (SIGTERM)")
    assert run.kills("hog") == [("memory_limit", "SIGTERM")] * 2
    retry = [e for e in run.events if e.type == "task.retry_scheduled"]
    assert [(e.task_id, e.reason) for e in retry] == [("hog", "memory")]
    assert wait_gone([e.pid for e in run.died()]) == []
    prove_full_pool(pool, SIZE, tmp_path)


# -- worker recycling ------------------------------------------------------------------------


def test_max_tasks_per_worker_replaces_workers_and_loses_no_task():
    from orchestrator import OrchestrationPolicy, execute_parallel
    from orchestrator.executors.local.warm import _shared
    from orchestrator.telemetry.sinks import MemorySink

    sink = MemorySink()
    specs = [TaskSpec(f"t{i}", os.getpid) for i in range(12)]
    result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=2,
                                                         max_tasks_per_worker=3), on_event=sink)
    assert result.ok and [r.attempts for r in result] == [1] * 12
    pids = [r.value for r in result]
    assert pids == [r.worker_pid for r in result]
    per_worker = {p: pids.count(p) for p in set(pids)}
    assert max(per_worker.values()) <= 3 and len(per_worker) >= 4, per_worker
    # Retired workers are gone (the ones retired as the run ended are collected silently).
    assert [e.reason for e in sink.of_type("worker.died")] == [
        "retired"] * len(sink.of_type("worker.died"))
    kept = set(_shared.pool.pids)
    assert len(kept & set(per_worker)) <= 2
    assert wait_gone(set(per_worker) - kept) == []


def test_max_tasks_per_worker_reaches_a_pool_given_as_executor():
    # The policy's setting used to reach only the shared pool: executor=LocalPool() ran all six
    # tasks in one worker.
    from orchestrator import OrchestrationPolicy, execute_parallel

    specs = [TaskSpec(f"t{i}", os.getpid) for i in range(6)]
    with LocalPool() as own:
        result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=1,
                                                             max_tasks_per_worker=1),
                                  executor=own)
        assert result.ok
        assert len({r.value for r in result}) == 6
        # The pool's own setting applies again to a run whose policy leaves it unset.
        again = execute_parallel(specs, OrchestrationPolicy(max_concurrency=1), executor=own)
        assert len({r.value for r in again}) == 1


def test_workers_retired_at_the_end_of_a_run_are_not_reported_in_the_next_run():
    from orchestrator import OrchestrationPolicy, execute_parallel
    from orchestrator.telemetry.sinks import MemorySink

    first, second = MemorySink(), MemorySink()
    specs = [TaskSpec(f"t{i}", os.getpid) for i in range(4)]
    result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=2,
                                                         max_tasks_per_worker=1), on_event=first)
    served = {r.value for r in result}
    assert len(served) == 4
    execute_parallel(specs, OrchestrationPolicy(max_concurrency=2), on_event=second)
    assert second.of_type("worker.died") == []
    assert wait_gone(served) == []  # all four were retired (each served its one task)


def test_attempts_queued_behind_a_dying_worker_are_requeued_uncharged(pool, tmp_path):
    # Short tasks make the scheduler queue attempts behind busy workers (prefetch), including
    # behind the worker that is about to die; those attempts never started and must run
    # elsewhere without being charged an attempt.
    from orchestrator import OrchestrationPolicy, execute_parallel
    from orchestrator.executors.base import AttemptRequeued

    from .sync import Gate, exit_after_gate

    gate = Gate(tmp_path)
    requeued: list[int] = []
    real_wait = pool.wait

    def spy(timeout):
        events = real_wait(timeout)
        requeued.extend(e.ticket for e in events if isinstance(e, AttemptRequeued))
        return events

    succeeded = 0

    def on_event(e):
        nonlocal succeeded
        if e.type == "task.succeeded":
            succeeded += 1
            if succeeded == 40:  # prefetch is on by now: let the worker die
                gate.release()

    specs = [TaskSpec("dies", exit_after_gate, args=(gate.path,))] + [
        TaskSpec(f"t{i}", "workers.agents:echo", args=(i,)) for i in range(200)]
    pool.wait = spy
    try:
        result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=2, max_pending=4),
                                  on_event=on_event, executor=pool)
    finally:
        del pool.wait
        gate.close()
    assert result["dies"].error.exit_code == 3
    assert [(r.status.value, r.attempts) for r in result if r.id != "dies"] == [
        ("succeeded", 1)] * 200
    assert requeued, "no attempt was queued behind the dying worker: the test proved nothing"
    prove_full_pool(pool, 2, tmp_path)


def test_a_retired_worker_that_cannot_exit_is_killed():
    # A task left a non-daemon thread running: the worker's interpreter would wait for it
    # forever after being asked to exit. The run's end gives it a moment, then kills it.
    from orchestrator import OrchestrationPolicy, execute_parallel

    from .sync import alive, leave_thread_running

    result = execute_parallel([TaskSpec("sticky", leave_thread_running)],
                              OrchestrationPolicy(max_concurrency=1, max_tasks_per_worker=1))
    assert result.ok
    assert alive([result["sticky"].value]) == []  # collected by the run that retired it
