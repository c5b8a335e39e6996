"""The loop never waits on anyone (issue 10: defects 1, 9, 10, 11; issue 18 item 4), on real
worker processes with the leak fixture on.

* a consumer of ``iter_parallel`` busy with a result holds neither a deadline nor a free worker
  (a slow sink or callback: tests/telemetry/test_sink_liveness.py);
* tasks whose arguments cannot be pickled all fail as ``pickling`` and the run returns;
* ``shutdown_shared_pool()`` from another thread or from an ``on_event`` callback during a run
  ends that run: its tasks cancelled with a reason naming the shutdown, the pool closed after;
* the parent frees an attempt's pickled arguments when the attempt ends.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import (
    Event,
    LocalPool,
    OrchestrationPolicy,
    Ref,
    RetryPolicy,
    TaskGraph,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
    iter_parallel,
    shutdown_shared_pool,
)
from orchestrator.clock import MonotonicClock
from orchestrator.executors.base import Attempt
from orchestrator.executors.local import warm
from orchestrator.scheduler.loop import Scheduler
from orchestrator.session import handoff_bound
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from orchestrator.telemetry.sinks import MemorySink

from .sync import Beacon, on_ready

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

GUARD = 60.0  # a deadlock guard only: every wait below ends on an event


class _Seen:
    """An ``on_event`` callback that sets one ``threading.Event`` per (type, task id) seen."""

    def __init__(self, *wanted: tuple[str, str]) -> None:
        self.flags = {key: threading.Event() for key in wanted}

    def __call__(self, event: Event) -> None:
        flag = self.flags.get((event.type, event.task_id or ""))
        if flag is not None:
            flag.set()

    def wait_all(self) -> bool:
        deadline = time.monotonic() + GUARD
        return all(flag.wait(max(0.0, deadline - time.monotonic()))
                   for flag in self.flags.values())


# -- defect 1: a consumer busy with a result ----------------------------------------------------


def test_a_consumer_busy_with_a_result_holds_neither_a_deadline_nor_a_free_worker(pool):
    seen = _Seen(("task.timed_out", "hang"), ("task.succeeded", "s1"))
    tasks = [TaskSpec("quick", "workers.agents:echo", args=(1,)),
             TaskSpec("hang", "workers.agents:busy_hang", timeout=1.0),
             TaskSpec("s1", "workers.agents:echo", args=(2,))]
    results = {}
    during_first: bool | None = None
    for res in iter_parallel(tasks, OrchestrationPolicy(max_concurrency=2), executor=pool,
                             on_event=seen):
        if during_first is None:
            # The consumer stays in its first result; the run must go on without it: the
            # hanging task killed at its deadline, the free worker given the next task.
            during_first = seen.wait_all()
        results[res.id] = res
    assert during_first is True
    assert {tid: r.status for tid, r in results.items()} == {
        "quick": TaskStatus.SUCCEEDED, "hang": TaskStatus.TIMED_OUT, "s1": TaskStatus.SUCCEEDED}
    assert results["hang"].duration is not None and results["hang"].duration >= 1.0


# -- defect 9: arguments that cannot be pickled ---------------------------------------------------


class ErrorAtPickle:
    def __reduce__(self) -> Any:
        raise RuntimeError("refuses to be pickled")


@pytest.mark.parametrize("lazy", [False, True])
def test_four_unpicklable_tasks_at_one_worker_all_fail_and_the_run_returns(pool, lazy):
    specs = [TaskSpec(f"t{i}", "workers.agents:echo", args=(ErrorAtPickle(),)) for i in range(4)]
    tasks = iter(specs) if lazy else specs
    res = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), executor=pool)
    assert {tid: (r.status, r.error.kind if r.error else None)
            for tid, r in res.tasks.items()} == {
        f"t{i}": (TaskStatus.FAILED, "pickling") for i in range(4)}


# -- defect 10 / issue 18.4: shutdown_shared_pool() during a run -----------------------------


def _check_shut_down(res: Any, sink: MemorySink) -> None:
    for tid, task in res.tasks.items():
        assert task.status is TaskStatus.CANCELLED, (tid, task.status, task.error)
        assert task.error is not None and "shut down" in task.error.message, task.error
    kills = [e.reason for e in sink.events if e.type == "task.kill"]
    assert kills and set(kills) == {"pool_shutdown"}
    terminal = [e.task_id for e in sink.events if e.type in TERMINAL_EVENT_TYPES]
    assert sorted(terminal) == sorted(res.tasks)  # one terminal event per task
    assert warm._shared.pool is None  # closed as the run gave it back


def _hanging_tasks(beacon: Beacon) -> list[TaskSpec]:
    return [TaskSpec(f"hang-{i}", "workers.agents:hang", kwargs={"ready": beacon.path})
            for i in range(2)] + [TaskSpec(f"later-{i}", "workers.agents:echo", args=(i,))
                                  for i in range(3)]


def test_shutdown_shared_pool_from_another_thread_cancels_the_run(beacon):
    sink = MemorySink()
    watcher = on_ready(beacon, lambda lines: shutdown_shared_pool(), count=2)
    res = execute_parallel(_hanging_tasks(beacon), OrchestrationPolicy(max_concurrency=2),
                           on_event=sink)
    watcher.join(GUARD)
    _check_shut_down(res, sink)


def test_shutdown_shared_pool_from_an_on_event_callback_cancels_the_run(beacon):
    sink = MemorySink()
    started: list[str] = []

    def on_event(event: Event) -> None:
        sink(event)
        if event.type == "task.started":
            started.append(event.task_id or "")
            if len(started) == 2:
                shutdown_shared_pool()  # on the delivery thread: it must not wait for the run

    res = execute_parallel(_hanging_tasks(beacon), OrchestrationPolicy(max_concurrency=2),
                           on_event=on_event)
    _check_shut_down(res, sink)


def test_shutdown_shared_pool_at_any_moment_of_a_run_ends_it_cleanly():
    rng = random.Random(20261202)
    for attempt in range(20):
        sink = MemorySink()
        delay = rng.uniform(0.0, 0.3)  # seeded: where in the run the shutdown lands varies
        timer = threading.Timer(delay, shutdown_shared_pool)
        timer.start()
        tasks = [TaskSpec(f"t{i}", "workers.agents:sleep", args=(0.01,)) for i in range(40)]
        res = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=2), on_event=sink)
        timer.join(GUARD)
        for tid, task in res.tasks.items():
            if task.status is TaskStatus.CANCELLED:
                assert task.error is not None and "shut down" in task.error.message, (
                    attempt, tid, task.error)
            else:
                assert task.status is TaskStatus.SUCCEEDED, (attempt, tid, task.error)
        terminal = [e.task_id for e in sink.events if e.type in TERMINAL_EVENT_TYPES]
        assert sorted(terminal) == sorted(res.tasks), attempt


# -- defect 11: the parent frees what it sent ---------------------------------------------------


class _RecordingPool(LocalPool):
    """A LocalPool that remembers every attempt it took (so the test can look at them)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.taken: list[Attempt] = []

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        taken = super().submit(attempt, queue=queue)
        if taken:
            self.taken.append(attempt)
        return taken


def test_an_attempts_pickled_arguments_are_freed_when_it_ends(tmp_path: Path):
    once = RetryPolicy(max_attempts=2, base_delay=0.0)
    graph = TaskGraph([TaskSpec("big", "workers.agents:big_value", args=(1,))]
                      + [TaskSpec(f"use-{i}", "builtins:len", args=(Ref("big"),))
                         for i in range(6)]
                      + [TaskSpec("flaky", "workers.agents:fail", retry=once)])
    pool = _RecordingPool(2)
    sched = Scheduler(graph, OrchestrationPolicy(max_concurrency=2), pool, MonotonicClock())
    held_after_end = []
    try:
        sched.start()
        while not sched.done:
            sched.step(sched.next_timeout())
            table = sched._attempts
            in_flight = {*table.sent, *table.running,
                         *(a.ticket for a in table.parked.values())}
            held_after_end += [a.ticket for a in pool.taken
                               if a.prepared is not None and a.ticket not in in_flight]
        sched.finish_run()
    finally:
        pool.close(kill=True)
    res = sched.result()
    assert res["big"].ok and all(res[f"use-{i}"].value == 2**20 for i in range(6))
    assert res["flaky"].attempts == 2
    assert len(pool.taken) == 9  # every attempt, the retry included
    assert held_after_end == []
    assert [a.ticket for a in pool.taken if a.prepared is not None] == []


def test_a_graph_run_returns_the_same_values_after_the_payloads_are_freed(pool):
    graph = [TaskSpec("a", "workers.agents:echo", args=([1, 2, 3],)),
             TaskSpec("b", "builtins:len", args=(Ref("a"),)),
             TaskSpec("c", "builtins:sum", args=(Ref("a"),))]
    res = execute_graph(graph, OrchestrationPolicy(max_concurrency=2), executor=pool)
    assert (res["b"].value, res["c"].value) == (3, 6)


# -- the hand-off: a consumer far behind, then catching up ------------------------------------


def test_a_stream_whose_consumer_fell_a_full_handoff_behind_resumes_and_finishes(pool):
    """The consumer waits, in its first result, until the loop holds (the hand-off is full and
    every attempt it had started has ended); then it takes the rest. The loop must resume
    admitting at once: nothing is running that would wake it otherwise."""
    policy = OrchestrationPolicy(max_concurrency=2)
    bound = handoff_bound(policy)
    lock = threading.Condition()
    counts = {"started": 0, "ended": 0}

    def on_event(event: Event) -> None:
        with lock:
            if event.type == "task.started":
                counts["started"] += 1
            elif event.type in TERMINAL_EVENT_TYPES:
                counts["ended"] += 1
            lock.notify_all()

    def held() -> bool:
        return counts["ended"] > bound and counts["started"] == counts["ended"]

    n = 0
    for res in iter_parallel((TaskSpec(f"t{i}", "workers.agents:echo", args=(i,))
                              for i in range(3 * bound)), policy, executor=pool,
                             on_event=on_event):
        if n == 0:
            with lock:
                assert lock.wait_for(held, GUARD), counts
                assert counts["ended"] < 3 * bound  # it did hold: not everything ran
        assert res.status is TaskStatus.SUCCEEDED
        n += 1
    assert n == 3 * bound


def test_a_fast_consumer_of_a_long_stream_gets_every_result():
    """Streams of no-ops from a generator on the warm pool, taken as fast as they come: the
    hand-off fills and empties again and again, and the loop must resume each time (it once
    waited for good on a wake-up the held step had already used)."""
    policy = OrchestrationPolicy(max_concurrency=2)
    for size in (50, 3000, 3000):
        ids = [res.id for res in iter_parallel(
            (TaskSpec(f"t{i}", "workers.agents:noop") for i in range(size)), policy)]
        assert sorted(ids) == sorted(f"t{i}" for i in range(size))
