"""What the engine's pool adds to the stdlib contract: timeouts that kill the task's whole
process tree, crash isolation, kill(future), retries, recycling, the memory limit, per-task
options, events and metrics."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from pathlib import Path

import pytest

from orchestrator import (
    MemoryLimitExceeded,
    MemorySink,
    ProcessPool,
    RetryPolicy,
    SpecError,
    TaskKilled,
    TaskTimeout,
    WorkerCrashed,
)
from workers import agents

from . import helpers as h
from .conftest import gone, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pools():
    made: list[ProcessPool] = []

    def make(*args, **kwargs) -> ProcessPool:
        made.append(ProcessPool(*args, **kwargs))
        return made[-1]

    yield make
    for pool in made:
        pool.shutdown(wait=True, cancel_futures=True)


def _pids(path: Path) -> list[int]:
    text = wait_for(f"{path} to be written", lambda: path.exists() and path.read_text())
    return [int(p) for p in text.split()]


def _queueing_pool(pools, workers: int):
    """A pool whose recent tasks were short, so it queues the next ones in its workers' pipes
    (prefetch) rather than only in its own queue."""
    pool = pools(workers)
    for _ in range(3):
        [f.result(timeout=60) for f in [pool.submit(h.square, x) for x in range(2 * workers)]]
    return pool


def test_a_future_queued_in_a_workers_pipe_can_still_be_cancelled_and_never_runs(
        pools, gate, tmp_path):
    # The stdlib marks the calls in its call queue running, so it cannot cancel them; this pool
    # takes a call back from its worker's pipe until the worker begins it.
    pool = _queueing_pool(pools, 1)
    g = gate("blocked")
    first = pool.submit(h.block, g.ready, g.release, 1)
    g.wait_running()
    log = tmp_path / "ran"
    rest = [pool.submit(h.log, str(log), str(x)) for x in range(6)]
    called: list[cf.Future] = []
    rest[2].add_done_callback(called.append)
    assert not any(f.running() for f in rest)  # none has begun: the worker is busy
    assert [f.cancel() for f in rest[1:4]] == [True, True, True]
    assert called == [rest[2]]
    done, not_done = cf.wait(rest[1:4], timeout=0)
    assert done == set(rest[1:4]) and not not_done
    g.open()
    assert first.result(timeout=60) == 1
    assert [f.result(timeout=60) for f in rest[4:]] == ["4", "5"]
    assert rest[0].result(timeout=60) == "0"
    assert log.read_text().split() == ["0", "4", "5"]
    assert pool.metrics().counts["succeeded"] == 6 + 1 + 3
    assert not rest[0].cancel()  # done


def test_a_future_is_running_only_once_its_task_has_begun(pools, gate):
    pool = _queueing_pool(pools, 1)
    g = gate("blocked")
    first = pool.submit(h.block, g.ready, g.release, 1)
    g.wait_running()
    assert first.running()
    second = pool.submit(h.square, 3)
    assert not second.running() and not second.done()
    g.open()
    assert second.result(timeout=60) == 9
    assert not second.cancel()


def test_shutdown_cancel_futures_cancels_every_call_not_begun(pools, gate):
    pool = _queueing_pool(pools, 1)
    g = gate("blocked")
    first = pool.submit(h.block, g.ready, g.release, 1)
    g.wait_running()
    rest = [pool.submit(h.square, x) for x in range(8)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in rest)
    g.open()
    assert first.result(timeout=60) == 1
    pool.shutdown(wait=True)
    assert cf.wait(rest, timeout=0).not_done == set()


def test_a_timeout_kills_the_task_with_its_children_and_names_both(pools, tmp_path):
    pool = pools(2)
    ready = tmp_path / "tree"
    # 5 s: long enough for the children to start on a loaded machine, so their pids are known
    f = pool.options(timeout=5.0).submit(agents.spawn_children, 2, ready=str(ready))
    children = _pids(ready)
    with pytest.raises(TaskTimeout) as info:
        f.result(timeout=60)
    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert exc.task_id == f.task_id and exc.timeout == 5.0
    assert f.task_id in str(exc) and "timed out after 5.0s" in str(exc)
    wait_for("the task's children to be killed", lambda: all(gone(p) for p in children))
    assert pool.submit(h.square, 5).result(timeout=60) == 25  # the pool goes on


def test_the_pools_task_timeout_applies_to_every_task(pools, tmp_path):
    pool = pools(1, task_timeout=0.5)
    with pytest.raises(TaskTimeout, match="timed out after 0.5s"):
        pool.submit(agents.hang).result(timeout=60)


@pytest.mark.parametrize("how, words", [("kill", "SIGKILL"), ("exit", "exit code 3"),
                                        ("segfault", "SIGSEGV")])
def test_a_crash_fails_only_its_own_future(pools, gate, how, words):
    pool = pools(2)
    g = gate("neighbour")
    neighbour = pool.submit(h.block, g.ready, g.release, "alive")
    g.wait_running()
    f = pool.submit(agents.crash, how)
    with pytest.raises(WorkerCrashed) as info:
        f.result(timeout=60)
    assert words in str(info.value) and f.task_id in str(info.value)
    if how == "exit":
        assert info.value.exit_code == 3
    else:
        assert info.value.signal == words
    g.open()
    assert neighbour.result(timeout=60) == "alive"
    assert pool.submit(h.square, 6).result(timeout=60) == 36


def test_kill_stops_a_running_task_and_its_tree(pools, tmp_path):
    pool = pools(2)
    ready = tmp_path / "tree"
    f = pool.submit(agents.spawn_children, 1, ready=str(ready))
    children = _pids(ready)
    assert pool.kill(f) is True
    with pytest.raises(TaskKilled, match="killed on request") as info:
        f.result(timeout=60)
    assert info.value.task_id == f.task_id
    wait_for("the child to be killed", lambda: all(gone(p) for p in children))
    assert pool.kill(f) is False  # already ended
    assert pool.submit(h.square, 2).result(timeout=60) == 4


def test_kill_of_a_future_not_started_cancels_it(pools, gate):
    pool = pools(1)
    g = gate("busy")
    pool.submit(h.block, g.ready, g.release)
    g.wait_running()
    queued = [pool.submit(h.square, x) for x in range(5)]
    assert pool.kill(queued[-1]) is True
    assert queued[-1].cancelled()
    # one handed to the scheduler but not started ends killed, never run
    assert pool.kill(queued[0]) is True
    g.open()
    with pytest.raises((TaskKilled, cf.CancelledError)):
        queued[0].result(timeout=60)
    assert [f.result(timeout=60) for f in queued[1:-1]] == [1, 4, 9]


def test_retries_until_a_flaky_task_succeeds(pools):
    pool = pools(2, retry=RetryPolicy(max_attempts=3))
    f = pool.submit(agents.flaky, 2, "third time")
    assert f.result(timeout=60) == "third time"
    assert f.attempts == 3
    assert pool.metrics().retries == 2


def test_options_retry_and_timeout_per_task(pools):
    pool = pools(1)
    flaky = pool.options(retry=RetryPolicy(max_attempts=2)).submit(agents.flaky, 1)
    assert flaky.result(timeout=60) == "ok"
    plain = pool.submit(agents.flaky, 1)
    with pytest.raises(RuntimeError, match="flaky: attempt 1"):
        plain.result(timeout=60)


def test_bad_options_fail_before_anything_is_submitted(pools):
    pool = pools(1)
    with pytest.raises(SpecError, match="timeout"):
        pool.options(timeout=-1)
    with pytest.raises(SpecError, match="priority"):
        pool.options(priority="high")  # type: ignore[arg-type]


def test_max_tasks_per_worker_recycles_workers(pools):
    pool = pools(1, max_tasks_per_worker=1)
    pids = [pool.submit(h.getpid).result(timeout=60) for _ in range(3)]
    assert len(set(pids)) == 3


def test_the_memory_limit_kills_the_task(pools):
    pool = pools(1, memory_limit=150)
    f = pool.submit(agents.allocate, 400, 30)
    with pytest.raises(MemoryLimitExceeded, match="memory limit of 150 MB"):
        f.result(timeout=60)
    assert pool.submit(h.square, 3).result(timeout=60) == 9


def test_one_run_per_pool_with_one_terminal_event_per_task(tmp_path):
    sink = MemorySink()
    pool = ProcessPool(2, on_event=sink)
    fs = [pool.submit(h.square, x) for x in range(10)] + [pool.submit(h.raise_value, "no")]
    cf.wait(fs, timeout=60)
    pool.shutdown()
    types = [e.type for e in sink.events]
    assert types[0] == "run.started" and types[-1] == "run.finished"
    assert types.count("run.started") == 1
    terminal = [e for e in sink.events if e.type in ("task.succeeded", "task.failed")]
    assert sorted(e.task_id for e in terminal) == sorted(f.task_id for f in fs)
    assert len({e.run_id for e in sink.events}) == 1 and sink.events[0].run_id == pool.run_id
    finished = sink.events[-1].data
    assert finished["counts"] == {"succeeded": 10, "failed": 1} and finished["ok"] is False


def test_metrics_so_far(pools):
    pool = pools(2)
    fs = [pool.submit(h.square, x) for x in range(6)]
    cf.wait(fs, timeout=60)
    m = pool.metrics()
    assert m.tasks == 6 and m.attempts == 6 and m.counts == {"succeeded": 6}
    assert m.wall_time > 0 and m.serial_time >= 0 and m.workers == 2


def test_an_unpicklable_argument_fails_its_future_only(pools):
    import pickle

    pool = pools(1)
    f = pool.submit(h.square, threading.Lock())
    with pytest.raises(pickle.PicklingError, match=r"'square-1': cannot pickle args\[0\]:") as info:
        f.result(timeout=60)
    assert isinstance(info.value, TypeError)  # as the stdlib's pool raises
    assert pool.submit(h.square, 4).result(timeout=60) == 16


def test_a_lambda_and_a_closure_run(pools):
    pool = pools(1)
    k = 3
    assert pool.submit(lambda x: x + k, 1).result(timeout=60) == 4
    assert list(pool.map(lambda x: x * k, range(4), chunksize=2)) == [0, 3, 6, 9]


def test_the_pool_is_a_concurrent_futures_executor():
    assert issubclass(ProcessPool, cf.Executor)
    assert os.cpu_count()


def test_priority_overtakes_the_queue(pools, gate, tmp_path):
    pool = pools(1)
    g = gate("busy")
    order = str(tmp_path / "order")
    first = pool.submit(h.block, g.ready, g.release)
    g.wait_running()
    fs = [pool.submit(h.log, order, f"n{i}") for i in range(4)]
    fs.append(pool.options(priority=-1).submit(h.log, order, "low"))
    fs.append(pool.options(priority=5).submit(h.log, order, "high"))
    fs.append(pool.options(priority=1).submit(h.log, order, "mid"))
    g.open()
    cf.wait([first, *fs], timeout=60)
    ran = Path(order).read_text().split()
    # n0 was handed to the scheduler (the worker's one queued slot) before the others came, so
    # where it runs depends on whether it was queued behind the worker; the rest run by priority
    ran.remove("n0")
    assert ran == ["high", "mid", "n1", "n2", "n3", "low"]


def test_a_given_executor_runs_the_tasks_and_is_left_open():
    from orchestrator import InlineExecutor, LocalPool

    with ProcessPool(2, executor=InlineExecutor()) as pool:
        assert list(pool.map(h.square, range(5), chunksize=2)) == [0, 1, 4, 9, 16]
    local = LocalPool(2)
    try:
        for x in (4, 5):  # two pools, one after the other, on the same workers
            with ProcessPool(2, executor=local) as pool:
                assert pool.submit(h.square, x).result(timeout=60) == x * x
            assert not local.closed
    finally:
        local.close()


def test_options_resources_cap_the_overlap_and_bad_requests_fail_before_submit(
        pools, tmp_path: Path) -> None:
    from tests.process import resource_tasks as rt
    from tests.process.test_resources import _largest_overlap

    pool = pools(4, resources={"api": 2}, task_timeout=60)
    api = pool.options(resources={"api": 1})
    futures = [api.submit(rt.meet, str(tmp_path), 2, 0.05) for _ in range(6)]
    intervals = [f.result(timeout=60) for f in futures]
    assert _largest_overlap(intervals) == 2  # two meet, so two overlap; never a third
    with pytest.raises(SpecError, match="'gpu' has no capacity"):
        pool.options(resources={"gpu": 1})
    with pytest.raises(SpecError, match="capacity is 2"):
        pool.options(resources={"api": 3})


def test_a_finished_future_holds_no_more_than_a_new_one(pools):
    # What a caller keeps of each result: an attribute first set by the loop, once other
    # futures existed, gave every instance a dict of its own.
    pool = pools(2)
    fresh = h.tracked_reachable(pool.submit(agents.noop))
    futures = [pool.submit(agents.noop) for _ in range(50)]
    assert [f.result() for f in futures] == [None] * 50
    assert max(h.tracked_reachable(f) for f in futures) <= fresh
