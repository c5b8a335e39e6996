"""Which ready task starts next: priority, then critical path by estimates, then submission order.

One worker throughout, so the start order is exactly the order the scheduler chose. Attempts
"take" one second each: short attempts would turn on prefetch (queueing behind the busy worker
before a later-ready task exists), which test_scheduler_backpressure covers.
"""

from __future__ import annotations

from orchestrator import RetryPolicy, TaskSpec
from tests.unit.harness import Harness, t


def run_in_order(h: Harness) -> list[str]:
    """Finish whatever runs until the run is done; return the start order."""
    while not h.done:
        (running,) = h.running
        h.finish(running, duration=1.0)
    return h.ex.started


def test_higher_priority_starts_first() -> None:
    h = Harness([t("a"), t("b", priority=5), t("c", priority=1), t("d", priority=-1)], workers=1)
    assert run_in_order(h) == ["b", "c", "a", "d"]


def test_then_the_longest_estimated_path_to_a_sink() -> None:
    tasks = [t("x", estimate=1.0), t("y", estimate=1.0), t("z", "y", estimate=10.0),
             t("w", estimate=5.0)]
    # ranks: y 11 (through z), z 10, w 5, x 1
    assert run_in_order(Harness(tasks, workers=1)) == ["y", "z", "w", "x"]


def test_path_length_sums_estimates_not_task_counts() -> None:
    tasks = [t("p1", estimate=1.0), t("p2", "p1", estimate=1.0), t("p3", "p2", estimate=1.0),
             t("q", estimate=5.0)]
    assert run_in_order(Harness(tasks, workers=1)) == ["q", "p1", "p2", "p3"]


def test_missing_estimates_count_as_the_mean_of_the_given_ones() -> None:
    # mean of given = 4.0, so "u" (no estimate) outranks "s" (3.0) but not "l" (5.0)
    tasks = [t("s", estimate=3.0), t("u"), t("l", estimate=5.0)]
    assert run_in_order(Harness(tasks, workers=1)) == ["l", "u", "s"]


def test_priority_outranks_a_longer_path() -> None:
    tasks = [t("long", estimate=100.0), t("tail", "long", estimate=100.0),
             t("urgent", priority=1, estimate=0.1)]
    assert run_in_order(Harness(tasks, workers=1)) == ["urgent", "long", "tail"]


def test_equal_keys_start_in_submission_order_not_by_id() -> None:
    tasks = [t("m"), t("b"), t("z"), t("a")]
    assert run_in_order(Harness(tasks, workers=1)) == ["m", "b", "z", "a"]


def test_critical_path_first_off_gives_fifo_within_a_priority() -> None:
    tasks = [t("x", estimate=1.0), t("y", estimate=1.0), t("z", "y", estimate=10.0),
             t("w", estimate=5.0), t("v", priority=2)]
    h = Harness(tasks, workers=1, critical_path_first=False)
    # ready at start: x y w v; z becomes ready when y is done and goes before w (submitted later)
    assert run_in_order(h) == ["v", "x", "y", "z", "w"]


def test_a_task_starts_only_after_all_its_dependencies_succeeded() -> None:
    h = Harness([t("a"), t("b"), t("c", "a", "b"), t("d", "c")], workers=4)
    assert h.running == ["a", "b"]
    h.finish("b")
    assert h.running == ["a"]
    h.finish("a")
    assert h.running == ["c"]
    h.finish("c")
    assert h.running == ["d"]
    h.finish("d")
    assert h.done and h.result().ok


def test_flat_input_follows_the_same_order_within_what_was_pulled() -> None:
    tasks = [t("a"), t("b", priority=2), t("c", estimate=3.0), t("d")]
    h = Harness(iter(tasks), workers=1, flat=True, max_pending=10)
    # "d" has no estimate: it counts as the mean of those seen so far (3.0), later in order.
    assert run_in_order(h) == ["b", "c", "d", "a"]


def test_a_retried_task_keeps_its_place_in_the_order() -> None:
    h = Harness([t("hi", priority=1), t("lo1"), t("lo2")], workers=1,
                retry=RetryPolicy(max_attempts=2))
    assert h.running == ["hi"]
    h.fail("hi", duration=1.0)  # zero delay: ready again at once, still ahead of the others
    assert h.running == ["hi"]
    assert run_in_order(h) == ["hi", "hi", "lo1", "lo2"]


def test_a_task_spec_order_of_deps_does_not_change_the_start_order() -> None:
    one = [t("a"), t("b"), TaskSpec("c", "workers.agents:noop", deps=("a", "b"))]
    two = [t("a"), t("b"), TaskSpec("c", "workers.agents:noop", deps=("b", "a"))]
    assert run_in_order(Harness(one, workers=1)) == run_in_order(Harness(two, workers=1))
