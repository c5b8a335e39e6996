"""Resources and rate limits on real worker processes: the overlap the tasks record themselves
never passes the capacity, the rate limit holds, and RetryAfter pauses."""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator import (
    MemorySink,
    OrchestrationPolicy,
    RateLimit,
    RetryPolicy,
    TaskSpec,
    execute_parallel,
)

from . import resource_tasks as rt


def _largest_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best = now = 0
    for _, step in points:  # an end sorts before a start at the same instant
        now += step
        best = max(best, now)
    return best


def test_api_capacity_3_caps_the_overlap_at_exactly_3(tmp_path: Path) -> None:
    # The first three meet (each waits until three have entered), so three do overlap; the
    # capacity says no fourth may start before one of them ends.
    tasks = [TaskSpec(f"call-{i}", rt.meet, args=(str(tmp_path), 3, 0.05),
                      resources={"api": 1}) for i in range(12)]
    policy = OrchestrationPolicy(max_concurrency=6, resources={"api": 3}, task_timeout=60)
    result = execute_parallel(tasks, policy)
    assert result.ok, result.failed
    intervals = [r.value for r in result]
    assert _largest_overlap(intervals) == 3
    api = result.metrics.resources["api"]
    assert api.peak == 3 and api.capacity == 3


def test_rate_limit_4_per_second_burst_2_on_real_processes() -> None:
    sink = MemorySink()
    tasks = [TaskSpec(f"r{i:02d}", rt.started_at, resources={"api": 1}) for i in range(12)]
    policy = OrchestrationPolicy(max_concurrency=6, rate_limits={"api": RateLimit(4, burst=2)},
                                 task_timeout=60)
    before = time.monotonic()
    result = execute_parallel(tasks, policy, on_event=sink)
    assert result.ok, result.failed
    starts = sorted(e.elapsed for e in sink.events if e.type == "task.started")
    assert len(starts) == 12
    for lo in starts:
        assert sum(1 for s in starts if lo <= s < lo + 1.0) <= 4 + 2
    assert max(r.value for r in result) - before >= 2.5  # as the workers saw it
    assert starts[-1] >= 2.5 - 1e-6


def test_retry_after_pauses_the_task_and_every_user_of_its_rate_limit(tmp_path: Path) -> None:
    tasks = [TaskSpec("a", rt.retry_after_once, args=(0.5, str(tmp_path)),
                      resources={"api": 1}, retry=RetryPolicy(max_attempts=2)),
             TaskSpec("b", rt.started_at, resources={"api": 1}),
             TaskSpec("c", rt.started_at, resources={"api": 1})]
    policy = OrchestrationPolicy(max_concurrency=1, rate_limits={"api": RateLimit(50)},
                                 task_timeout=60)
    sink = MemorySink()
    result = execute_parallel(tasks, policy, on_event=sink)
    assert result.ok, result.failed
    first_end = float((tmp_path / "first_end").read_text())
    assert result["a"].attempts == 2
    assert result["a"].value - first_end >= 0.5
    assert min(result["b"].value, result["c"].value) - first_end >= 0.5
    assert [e.data["seconds"] for e in sink.events if e.type == "rate.paused"] == [0.5]
