"""Resources and rate limits on a FakeClock: exact start times, no head-of-line blocking, the
anti-starvation bound, RetryAfter pauses, and nothing held once the run is over."""

from __future__ import annotations

import pytest

from orchestrator import (
    OrchestrationPolicy,
    PolicyError,
    RateLimit,
    RetryAfter,
    RetryPolicy,
    SpecError,
)
from orchestrator.model.resources import usable_cores
from orchestrator.scheduler.admission import STARVE_AFTER_S

from .harness import Harness, exactly, t


def starts(h: Harness) -> dict[str, float]:
    """task id -> the run time its (last) attempt started, from the task.started events."""
    return {e.task_id: e.elapsed for e in h.sink.events if e.type == "task.started"
            and e.task_id is not None}


def drain_finishing_at_once(h: Harness, limit: int = 200) -> None:
    """Finish whatever runs as soon as it starts; jump the clock to the next timer when
    nothing runs. Ends when the run is done."""
    for _ in range(limit):
        if h.done:
            return
        if h.running:
            for tid in h.running:
                h.finish(tid)
            continue
        wait = h.sched.next_timeout()
        assert wait is not None, f"stalled: {h.states()}"
        h.advance(wait)
    raise AssertionError("run did not end")


def test_cpu_defaults_to_usable_cores_and_names_are_checked() -> None:
    assert OrchestrationPolicy().resources["cpu"] == usable_cores()
    assert OrchestrationPolicy(resources={"cpu": 3, "api": 2}).resources == {"api": 2, "cpu": 3}
    with pytest.raises(PolicyError, match=r"resources\['api'\] must be a number > 0, got 0"):
        OrchestrationPolicy(resources={"api": 0})
    with pytest.raises(PolicyError, match=r"rate_limits\['api'\] must be a RateLimit"):
        OrchestrationPolicy(rate_limits={"api": 5})
    with pytest.raises(SpecError, match=r"task 'a': resources\['api'\] must be a number > 0"):
        t("a", resources={"api": -1})
    with pytest.raises(PolicyError, match="RateLimit.burst must be a number >= 1"):
        RateLimit(4, burst=0.5)


def test_request_above_capacity_is_bad_input_before_anything_runs() -> None:
    message = ("task 'big': requests 4 of resource 'gpu', but its capacity is 2; "
               "it could never start")
    with pytest.raises(SpecError, match=exactly(message)):
        Harness([t("big", resources={"gpu": 4})], resources={"gpu": 2})
    with pytest.raises(SpecError, match=r"task 'x': resource 'db' has no capacity"):
        Harness([t("x", resources={"db": 1})])


def test_capacity_caps_the_overlap_and_frees_on_every_end() -> None:
    tasks = [t(f"t{i}", resources={"api": 1}) for i in range(6)]
    h = Harness(tasks, workers=6, resources={"api": 3})
    assert h.running == ["t0", "t1", "t2"]
    h.finish("t1")
    assert sorted(h.running) == ["t0", "t2", "t3"]
    h.fail("t0")
    h.crash("t2")
    assert sorted(h.running) == ["t3", "t4", "t5"]
    for tid in list(h.running):
        h.finish(tid)
    assert h.done
    assert h.sched.resources_in_use() == {"api": 0.0, "cpu": 0.0}


def test_a_head_that_does_not_fit_does_not_block_smaller_tasks_behind_it() -> None:
    # "big" is first in the queue (highest priority) but needs both GPUs; "small" tasks behind
    # it fit in the one that is free and start at once.
    tasks = [t("hold", resources={"gpu": 1}, priority=9),
             t("big", resources={"gpu": 2}, priority=5),
             t("small", resources={"gpu": 1}), t("plain")]
    h = Harness(tasks, workers=4, resources={"gpu": 2})
    assert sorted(h.running) == ["hold", "plain", "small"]
    waiting = [e for e in h.sink.events if e.type == "task.waiting"]
    assert [(e.task_id, e.data["resource"], e.data["kind"]) for e in waiting] == [
        ("big", "gpu", "capacity")]
    h.finish("hold")
    h.finish("small")
    assert sorted(h.running) == ["big", "plain"]


def test_a_starving_task_gets_a_reservation_after_the_bound() -> None:
    # One-GPU tasks keep taking the GPU that frees up; "big" (2 GPUs) waits. Once it has waited
    # STARVE_AFTER_S, nothing else that uses a GPU starts; a task without resources still does.
    tasks = [t("h0", resources={"gpu": 1}, priority=9),
             t("big", resources={"gpu": 2}, priority=5)]
    tasks += [t(f"s{i}", resources={"gpu": 1}) for i in range(6)]
    tasks += [t("other"), t("other2")]
    h = Harness(tasks, workers=3, resources={"gpu": 2})
    assert sorted(h.running) == ["h0", "other", "s0"]
    h.advance(0.5)
    h.finish("s0")  # before the bound: the freed GPU goes to the next small task
    assert sorted(h.running) == ["h0", "other", "s1"]
    h.advance(STARVE_AFTER_S)  # "big" has waited 1.5 s > the bound: it holds the reservation
    h.finish("s1")
    # s2 would delay "big": held back; "other2" shares nothing with "big": it starts.
    assert sorted(h.running) == ["h0", "other", "other2"]
    h.finish("other")
    assert sorted(h.running) == ["h0", "other2"]
    h.finish("h0")
    assert sorted(h.running) == ["big", "other2"]
    assert starts(h)["big"] == pytest.approx(0.5 + STARVE_AFTER_S)
    drain_finishing_at_once(h)
    assert starts(h)["s2"] >= starts(h)["big"]
    assert h.result().ok and h.sched.resources_in_use() == {"cpu": 0.0, "gpu": 0.0}


def test_rate_limit_4_per_second_burst_2_exact_start_times() -> None:
    tasks = [t(f"r{i:02d}", resources={"api": 1}) for i in range(12)]
    h = Harness(tasks, workers=6, rate_limits={"api": RateLimit(4, burst=2)})
    drain_finishing_at_once(h)
    times = sorted(starts(h).values())
    assert times == pytest.approx([0.0, 0.0] + [0.25 * k for k in range(1, 11)])
    for lo in times:
        assert sum(1 for x in times if lo <= x < lo + 1.0) <= 4 + 2
    assert times[-1] >= 2.5
    assert h.result().ok
    waiting = [e for e in h.sink.events if e.type == "task.waiting"]
    assert len(waiting) == 10 and {e.data["kind"] for e in waiting} == {"rate"}


def test_retry_after_waits_and_pauses_the_bucket_for_every_user() -> None:
    tasks = [t("a", resources={"api": 1}), t("b", resources={"api": 1}),
             t("c", resources={"api": 1})]
    h = Harness(tasks, workers=1, rate_limits={"api": RateLimit(100)},
                retry=RetryPolicy(max_attempts=2))
    assert h.running == ["a"]
    h.advance(0.1)
    h.fail("a", RetryAfter(0.5))
    # The bucket is paused for 0.5 s: "b" may not start although a worker is free.
    assert h.running == []
    paused = [e for e in h.sink.events if e.type == "rate.paused"]
    assert [(e.task_id, e.data) for e in paused] == [("a", {"resource": "api", "seconds": 0.5})]
    retry = [e for e in h.sink.events if e.type == "task.retry_scheduled"]
    assert retry[0].data["delay"] == 0.5
    h.advance(0.5)
    assert len(h.running) == 1
    drain_finishing_at_once(h)
    second = [e.elapsed for e in h.sink.events if e.type == "task.started" and e.task_id == "a"]
    assert second[1] - 0.1 >= 0.5
    assert min(starts(h)["b"], starts(h)["c"]) >= 0.6 - 1e-9
    assert h.result().ok


def test_retry_after_delay_is_at_least_the_backoff() -> None:
    h = Harness([t("a")], workers=1,
                retry=RetryPolicy(max_attempts=2, base_delay=2.0))
    h.fail("a", RetryAfter(0.5))
    retry = [e for e in h.sink.events if e.type == "task.retry_scheduled"]
    assert retry[0].data["delay"] == 2.0


def test_retry_after_is_retryable_whatever_retry_on_says() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=2, retry_on=(KeyError,)))
    h.fail("a", RetryAfter(0.25))
    assert h.running == []
    h.advance(0.25)
    assert h.running == ["a"]


def test_usage_figures_peak_mean_and_wait() -> None:
    tasks = [t(f"t{i}", resources={"api": 1}) for i in range(3)]
    h = Harness(tasks, workers=3, resources={"api": 2})
    h.advance(1.0)
    h.finish("t0")  # t2 waited 1 s for "api"
    h.advance(1.0)
    h.finish("t1")
    h.finish("t2")
    figures = h.result().metrics.resources
    api = figures["api"]
    assert api.peak == 2 and api.capacity == 2
    assert api.wait == pytest.approx(1.0)
    assert api.mean == pytest.approx(2.0)  # two held all the time over 2 s
    assert "cpu" not in figures  # nothing used it


def test_capacity_3_on_a_fake_clock_exact_start_times() -> None:
    tasks = [t(f"c{i:02d}", resources={"api": 1}) for i in range(12)]
    h = Harness(tasks, workers=6, resources={"api": 3})
    while not h.done:
        h.advance(1.0)
        for tid in list(h.running):
            h.finish(tid)
    assert sorted(starts(h).values()) == [float(k) for k in range(4) for _ in range(3)]
    assert h.result().metrics.resources["api"].mean == pytest.approx(3.0)


def test_the_mixed_dag_reaches_its_optimum_in_a_zero_overhead_simulation() -> None:
    # 4 parse agents (CPU) -> 2 calls each (sleep) -> a score (CPU) each -> merge, 0.25 s
    # each, cores=2: the optimum is 5 steps at concurrency 4 and 4 steps at 8 (issue 14).
    from benchmarks.simulate import simulate
    from benchmarks.workloads import durations, mixed_dag

    specs = mixed_dag(4, 0.25, cpu=True)
    for workers, best in ((4, 1.25), (8, 1.0)):
        policy = OrchestrationPolicy(max_concurrency=workers, resources={"cpu": 2})
        assert simulate(specs, durations(specs), policy) == pytest.approx(best)


def test_rank_counts_a_scarce_resource_longer() -> None:
    from benchmarks.workloads import mixed_dag
    from orchestrator import TaskGraph
    from orchestrator.model.resources import weighted_ranks

    graph = TaskGraph(mixed_dag(4, 0.25, cpu=True))
    # cpu work 2.0 s on 2 cores = 1.0 s; all work 4.0 s on 8 workers = 0.5 s: pressure 2.
    ranks = weighted_ranks(graph, {"cpu": 2}, 8)
    assert ranks["score-0"] == pytest.approx(0.5)
    assert ranks["call-0-0"] == pytest.approx(0.75)
    assert ranks["parse-0"] == pytest.approx(1.25)
    # On 4 workers the cores are not the scarcer: the plain critical path.
    assert weighted_ranks(graph, {"cpu": 2}, 4) == pytest.approx(graph.ranks())


def test_a_flat_batch_pulls_past_tasks_waiting_for_a_resource() -> None:
    # The window (max_concurrency + max_pending = 2) would hold two "api" tasks, one waiting,
    # and a worker would idle; the waiting one does not count, so "plain-0" is pulled and runs.
    tasks = [t(f"api-{i}", resources={"api": 1}) for i in range(4)]
    tasks += [t(f"plain-{i}") for i in range(3)]
    h = Harness(iter(tasks), flat=True, workers=2, max_pending=0, resources={"api": 1})
    assert sorted(h.running) == ["api-0", "plain-0"]
    h.finish("plain-0")
    assert sorted(h.running) == ["api-0", "plain-1"]
    drain_finishing_at_once(h)
    assert h.result().ok and len(h.result().tasks) == 7
    # Bounded: a batch of waiting tasks is pulled only 8 windows deep.
    many = (t(f"w{i}", resources={"api": 1}) for i in range(1000))
    h = Harness(many, flat=True, workers=2, max_pending=0, resources={"api": 1})
    assert len(h.sched._records) == 2 + 8 * 2
