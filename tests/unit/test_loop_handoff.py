"""The loop's side of "never wait on anyone": a held scheduler admits nothing but still enforces
deadlines; the hand-off never blocks the loop and wakes it when room frees; tasks that fail
before they are sent do not stall a flat batch; a run starts only the workers it can use."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

from orchestrator import (
    InlineExecutor,
    OrchestrationPolicy,
    TaskGraph,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
)
from orchestrator.loop_thread import Ended, Handoff, LoopThread
from orchestrator.scheduler.state import TaskState
from orchestrator.session import most_busy
from orchestrator.testing import FakeClock
from tests.unit.harness import Harness, t

# -- a held scheduler ---------------------------------------------------------------------------


def test_a_held_scheduler_admits_nothing_but_still_kills_at_the_deadline() -> None:
    h = Harness([t("a", timeout=5.0), t("b"), t("c")], workers=3, kill_grace=0, start=False)
    h.sched.holding = True
    h.start()
    assert h.running == []  # nothing admitted while held
    h.sched.holding = False
    h.step()
    assert sorted(h.running) == ["a", "b", "c"]
    h.sched.holding = True
    h.finish("b", duration=1.0)
    h.advance(5.0)  # held: the deadline fires all the same
    assert h.ex.kills == [("a", True)]
    assert h.state("a") is TaskState.TIMED_OUT
    assert h.running == ["c"]


def test_a_held_flat_batch_pulls_nothing_until_released() -> None:
    pulled: list[str] = []

    def source() -> Iterator[TaskSpec]:
        for i in range(10):
            pulled.append(f"t{i}")
            yield t(f"t{i}")

    h = Harness(source(), flat=True, retain=False, workers=2, max_pending=0)
    assert len(pulled) == 2
    h.sched.holding = True
    h.finish(h.running[0], duration=1.0)
    h.finish(h.running[0], duration=1.0)
    assert len(pulled) == 2 and h.running == []  # room in the window, but held
    h.sched.holding = False
    h.step()
    assert len(pulled) == 4 and len(h.running) == 2


# -- tasks that fail before they are sent --------------------------------------------------------


class _ErrorAtPickle:
    def __reduce__(self) -> tuple[object, ...]:
        raise RuntimeError("refuses to be pickled")


@pytest.mark.parametrize("as_generator", [False, True])
def test_unpicklable_arguments_at_one_worker_all_fail_and_the_run_returns(
        as_generator: bool) -> None:
    # Each failure frees room in the window; nothing else would wake the loop to pull the next.
    h = Harness((t(f"t{i}") for i in range(4)) if as_generator else [t(f"t{i}") for i in range(4)],
                flat=as_generator, workers=1, max_pending=1, start=False)
    h.ex.unpicklable.update({"t0", "t1", "t2", "t3"})
    h.start()
    assert h.done
    res = h.result()
    assert {tid: (r.status, r.error and r.error.kind) for tid, r in res.tasks.items()} == {
        f"t{i}": (TaskStatus.FAILED, "pickling") for i in range(4)}


# -- the hand-off -------------------------------------------------------------------------------


def test_the_handoff_never_blocks_the_loop_and_wakes_it_when_room_frees() -> None:
    wakeups: list[int] = []
    handoff: Handoff[int] = Handoff(2, lambda: wakeups.append(1))
    handoff.put([1, 2, 3])  # past the bound: taken all the same (what was running finished)
    assert handoff.full()
    assert handoff.get() == 1 and wakeups == [1]  # room: the held loop is woken once
    assert handoff.get() == 2 and wakeups == [1]
    assert not handoff.full()
    handoff.end()
    assert handoff.get() == 3
    with pytest.raises(Ended):
        handoff.get()


def test_the_handoff_raises_the_loops_error_before_the_results_still_waiting() -> None:
    handoff: Handoff[int] = Handoff(4, lambda: None)
    handoff.put([1, 2])
    handoff.end(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        handoff.get()


def test_a_consumer_waiting_on_the_handoff_gets_what_another_thread_puts() -> None:
    handoff: Handoff[int] = Handoff(4, lambda: None)
    got: list[int] = []

    def consume() -> None:
        while True:
            try:
                got.append(handoff.get())
            except Ended:
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(100):
        handoff.put([i])
    handoff.end()
    consumer.join(60)
    assert got == list(range(100))


def test_a_loop_threads_error_is_raised_in_the_waiting_thread() -> None:
    def body() -> int:
        raise ValueError("from the loop")

    with pytest.raises(ValueError, match="from the loop"):
        LoopThread(body, lambda: None, "test-loop").start().wait()
    assert LoopThread(lambda: 7, lambda: None, "test-loop").start().wait() == 7


def test_the_loop_runs_on_its_own_thread() -> None:
    seen: list[str] = []
    execute_parallel([TaskSpec("a", lambda: seen.append(threading.current_thread().name))],
                     executor=InlineExecutor(), clock=FakeClock())
    assert seen == ["orchestrator-loop"]


# -- how many workers a run starts --------------------------------------------------------------


def test_most_busy_counts_what_can_run_at_once() -> None:
    chain = TaskGraph([t("a"), t("b", "a"), t("c", "b"), t("d", "c")])
    diamond = TaskGraph([t("a"), t("b", "a"), t("c", "a"), t("d", "b", "c")])
    flat = TaskGraph([t(f"f{i}") for i in range(5)])
    assert (most_busy(chain), most_busy(diamond), most_busy(flat)) == (1, 2, 5)
    assert most_busy([t("x"), t("y")]) == 2
    assert most_busy(iter([t("x")])) is None  # a generator: not known


@pytest.mark.parametrize("tasks, size", [
    ([t("one")], 1),
    ([t("a"), t("b", "a"), t("c", "b")], 1),
    ([t(f"f{i}") for i in range(12)], 8),
])
def test_a_run_opens_its_executor_for_no_more_workers_than_can_be_busy(
        tasks: list[TaskSpec], size: int) -> None:
    ex = InlineExecutor()
    execute_graph(tasks, OrchestrationPolicy(max_concurrency=8), executor=ex, clock=FakeClock())
    assert ex.capacity == size
