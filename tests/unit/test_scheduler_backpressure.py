"""Backpressure on lazy input, prefetch limits, requeued attempts, streaming runs, duplicate ids."""

from __future__ import annotations

from typing import Iterator

import pytest

from orchestrator import (
    DuplicateTaskError,
    InlineExecutor,
    OrchestrationPolicy,
    Ref,
    RetryPolicy,
    SpecError,
    TaskSpec,
    TaskStatus,
    execute_parallel,
    iter_parallel,
)
from orchestrator.session import handoff_bound
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from orchestrator.testing import FakeClock
from tests.unit.harness import NOOP, Harness, exactly, t


class CountingSource:
    """A generator of tasks that records, at every pull, how far ahead of completions it is."""

    def __init__(self, n: int, ids: list[str] | None = None) -> None:
        self.ids = ids or [f"t{i}" for i in range(n)]
        self.pulled = 0
        self.ahead: list[int] = []
        self.terminal_events = 0

    def on_event(self, event: object) -> None:
        if getattr(event, "type", None) in TERMINAL_EVENT_TYPES:
            self.terminal_events += 1

    def __iter__(self) -> Iterator[TaskSpec]:
        for tid in self.ids:
            self.pulled += 1
            self.ahead.append(self.pulled - self.terminal_events)
            yield t(tid)


def drain(h: Harness, duration: float) -> None:
    """Finish running tasks one by one (each 'taking' ``duration``) until the run is done."""
    while not h.done:
        h.finish(h.running[0], duration=duration)
        assert len(h.running) <= h.policy.max_concurrency
        assert len(h.ex.queued()) <= h.policy.pending_limit


@pytest.mark.parametrize(("workers", "max_pending"), [(2, 1), (3, 0), (1, 4)])
def test_input_is_never_pulled_more_than_the_window_ahead_of_completions(
        workers: int, max_pending: int) -> None:
    source = CountingSource(30)
    h = Harness(iter(source), flat=True, workers=workers, max_pending=max_pending,
                on_event=source.on_event)
    assert source.pulled == workers + max_pending  # the window is filled at the start
    drain(h, duration=1.0)
    assert source.pulled == 30
    assert max(source.ahead) == workers + max_pending
    assert h.ex.max_running == workers
    assert h.result().ok and len(h.result()) == 30


def test_short_tasks_are_queued_ahead_but_never_beyond_max_pending() -> None:
    h = Harness(iter([t(f"t{i}") for i in range(20)]), flat=True, workers=2, max_pending=3)
    assert h.ex.queued() == []  # no attempt has finished yet: no basis for prefetching
    h.finish(h.running[0], duration=0.001)
    assert len(h.ex.queued()) == 3  # short attempts: queue behind busy workers
    assert [h.state(tid).value for tid in h.ex.queued()] == ["dispatched"] * 3
    drain(h, duration=0.001)
    assert h.ex.max_running == 2


def test_long_tasks_are_not_queued_behind_a_busy_worker() -> None:
    h = Harness(iter([t(f"t{i}") for i in range(10)]), flat=True, workers=2, max_pending=3)
    h.finish(h.running[0], duration=2.0)
    assert h.ex.queued() == []
    drain(h, duration=2.0)


def test_an_executor_with_a_longer_round_trip_queues_longer_tasks_ahead() -> None:
    # A Dask cluster's round trip is ~100 ms: its executor asks for prefetch up to 1 s tasks.
    h = Harness(iter([t(f"t{i}") for i in range(10)]), flat=True, workers=2, max_pending=2,
                prefetch_below_s=1.0)
    h.finish(h.running[0], duration=0.5)  # the local pool's rule (5 ms) would queue nothing
    assert len(h.ex.queued()) == 2
    plain = Harness(iter([t(f"t{i}") for i in range(10)]), flat=True, workers=2, max_pending=2)
    plain.finish(plain.running[0], duration=0.5)
    assert plain.ex.queued() == []
    for run in (h, plain):
        drain(run, duration=0.5)
        assert run.result().ok


def test_max_pending_zero_never_queues_ahead() -> None:
    h = Harness(iter([t(f"t{i}") for i in range(10)]), flat=True, workers=2, max_pending=0)
    h.finish(h.running[0], duration=0.001)
    assert h.ex.queued() == []
    drain(h, duration=0.001)


def test_an_attempt_requeued_after_its_worker_died_is_not_charged() -> None:
    h = Harness([t("warm"), t("a"), t("b")], workers=1, max_pending=1,
                retry=RetryPolicy(max_attempts=1))
    h.finish("warm", duration=0.001)
    assert (h.running, h.ex.queued()) == (["a"], ["b"])
    h.crash("a", signal="SIGKILL")  # b was sent to that worker but never started
    assert h.running == ["b"] and h.ex.attempt_of("b").attempt == 1
    h.finish("b", "fine")
    res = h.result()
    assert res["a"].status is TaskStatus.FAILED
    assert (res["b"].status, res["b"].attempts, res["b"].retry_delays) == (
        TaskStatus.SUCCEEDED, 1, ())
    assert h.types("b") == ["task.ready", "task.started", "task.succeeded"]


# -- streaming (retain=False) -------------------------------------------------------------------


def test_a_streaming_run_forgets_finished_tasks() -> None:
    source = CountingSource(50)
    h = Harness(iter(source), flat=True, retain=False, workers=2, max_pending=1)
    held = []
    while not h.done:
        h.finish(h.running[0], duration=1.0)
        held.append(len(h.sched._records))  # what the scheduler still holds
    assert max(held) <= 3  # the window, not the 50 tasks
    assert sorted(h.completed) == sorted(source.ids)


def test_a_streaming_run_accepts_an_id_again_once_the_first_finished() -> None:
    h = Harness(iter([t("a"), t("b"), t("a")]), flat=True, retain=False, workers=1,
                max_pending=0)
    h.finish("a", 1, duration=1.0)
    h.finish("b", 2, duration=1.0)
    h.finish("a", 3, duration=1.0)
    assert h.done and h.completed == ["a", "b", "a"]


def test_a_streaming_run_rejects_an_id_that_is_still_running() -> None:
    with pytest.raises(DuplicateTaskError,
                       match=exactly("duplicate task id 'a' while it is running")):
        Harness(iter([t("a"), t("a")]), flat=True, retain=False, workers=2)


def test_iter_parallel_streams_every_result_of_a_generator() -> None:
    pulled: list[int] = []

    def tasks() -> Iterator[TaskSpec]:
        for i in range(200):
            pulled.append(i)
            yield TaskSpec(f"sq{i}", pow, args=(i, 2))

    policy = OrchestrationPolicy(max_concurrency=2, max_pending=1)
    # The loop runs ahead of the consumer by at most the hand-off's bound plus the window
    # (max_concurrency + max_pending); then it holds admissions until the consumer takes more.
    ahead = handoff_bound(policy) + 3
    results = []
    lags = []
    for res in iter_parallel(tasks(), policy, executor=InlineExecutor(), clock=FakeClock()):
        results.append(res)
        lags.append(len(pulled) - len(results))
    assert max(lags) <= ahead
    assert [(r.id, r.value) for r in results] == [(f"sq{i}", i * i) for i in range(200)]


# -- duplicate ids and dependencies in flat input ------------------------------------------------


def test_a_duplicate_in_a_list_is_rejected_before_anything_runs() -> None:
    ex = InlineExecutor()
    ran: list[int] = []
    tasks = [TaskSpec("a", ran.append, args=(1,)), TaskSpec("a", ran.append, args=(2,))]
    with pytest.raises(DuplicateTaskError, match=exactly("duplicate task id 'a'")):
        execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), executor=ex,
                         clock=FakeClock())
    assert ran == []


def test_a_duplicate_from_a_generator_stops_the_run_when_it_is_pulled() -> None:
    ran: list[int] = []

    def tasks() -> Iterator[TaskSpec]:
        yield TaskSpec("a", ran.append, args=(1,))
        yield TaskSpec("b", ran.append, args=(2,))
        yield TaskSpec("a", ran.append, args=(3,))

    with pytest.raises(DuplicateTaskError, match=exactly("duplicate task id 'a'")):
        execute_parallel(tasks(), OrchestrationPolicy(max_concurrency=1, max_pending=0),
                         executor=InlineExecutor(), clock=FakeClock())
    assert 3 not in ran


def test_flat_input_rejects_a_task_with_dependencies() -> None:
    message = ("task 'b' has dependencies ['a']; flat batches take independent tasks "
               "(use execute_graph for dependencies)")
    with pytest.raises(SpecError, match=exactly(message)):
        execute_parallel([t("a"), TaskSpec("b", NOOP, args=(Ref("a"),))],
                         OrchestrationPolicy(max_concurrency=1), executor=InlineExecutor(),
                         clock=FakeClock())
    with pytest.raises(SpecError, match=exactly(message)):
        Harness(iter([t("a"), t("b", "a")]), flat=True, workers=2)
