"""Soak: 2,000 tasks at concurrency 4 with seeded random faults and retries on.

5% raise, 2% crash (segfault, exit, SIGKILL in turn), 2% time out, 1% exceed their memory limit;
each fault happens on every attempt, so each task's end is known in advance. Checks: every task
ends exactly once, in the state its fault implies, after the attempts the policy allows; the
counts match the injected faults; no worker, file descriptor or thread is leaked; the parent's
memory does not grow with the number of tasks (results are streamed by ``iter_parallel``).
"""

from __future__ import annotations

import collections
import gc
import random
from typing import Iterator

import psutil
import pytest

from orchestrator import OrchestrationPolicy, RetryPolicy, TaskSpec, iter_parallel
from orchestrator.executors.local.warm import _shared, shutdown_shared_pool

pytestmark = [pytest.mark.process, pytest.mark.soak, pytest.mark.timeout(300)]

N = 2000
SEED = 20240611
ATTEMPTS = 2
CRASHES = ("segfault", "exit", "kill")


def plan(seed: int = SEED, n: int = N) -> list[str]:
    rng = random.Random(seed)
    faults = []
    for _ in range(n):
        u = rng.random()
        faults.append("raise" if u < 0.05 else "crash" if u < 0.07 else
                      "timeout" if u < 0.09 else "memory" if u < 0.10 else "ok")
    return faults


def spec(i: int, fault: str) -> TaskSpec:
    tid = f"t{i:04d}"
    if fault == "raise":
        return TaskSpec(tid, "workers.agents:fail", args=(f"injected {i}",))
    if fault == "crash":
        return TaskSpec(tid, "workers.agents:crash", args=(CRASHES[i % 3],))
    if fault == "timeout":
        return TaskSpec(tid, "workers.agents:hang", timeout=0.2)
    if fault == "memory":
        return TaskSpec(tid, "workers.agents:allocate", args=(160,), kwargs={"hold": 60},
                        max_memory_mb=80)
    return TaskSpec(tid, "workers.agents:echo", args=(i,))


EXPECTED = {  # fault -> (status, error kind)
    "ok": ("succeeded", None),
    "raise": ("failed", "exception"),
    "crash": ("failed", "crash"),
    "timeout": ("timed_out", "timeout"),
    "memory": ("failed", "memory"),
}


def _usage() -> tuple[int, int]:
    me = psutil.Process()
    return me.num_fds(), me.num_threads()


def test_soak_2000_tasks_with_random_faults():
    faults = plan()
    injected = collections.Counter(faults)
    assert injected["ok"] < N and all(injected[k] for k in EXPECTED)  # every fault is drawn
    policy = OrchestrationPolicy(max_concurrency=4, retry=RetryPolicy(max_attempts=ATTEMPTS),
                                 kill_grace=0.1)

    # Warm up (imports, loky's resource tracker), then measure with no pool at all.
    list(iter_parallel([spec(0, "ok"), spec(1, "crash")], policy))
    shutdown_shared_pool()
    fds_before, threads_before = _usage()

    pulled = 0

    def tasks() -> Iterator[TaskSpec]:
        nonlocal pulled
        for i, fault in enumerate(faults):
            pulled += 1
            yield spec(i, fault)

    seen: dict[str, tuple[str, str | None, int]] = {}
    objects_at: dict[int, int] = {}
    rss_at: dict[int, int] = {}
    for n, r in enumerate(iter_parallel(tasks(), policy), 1):
        assert r.id not in seen, f"{r.id} ended twice"
        seen[r.id] = (r.status.value, r.error.kind if r.error else None, r.attempts)
        if n in (N // 4, N):
            gc.collect()
            objects_at[n] = len(gc.get_objects())
            rss_at[n] = psutil.Process().memory_info().rss
    assert pulled == N and len(seen) == N

    # Every task ended once, as its fault implies, after the attempts the policy allows.
    wrong = {}
    for i, fault in enumerate(faults):
        status, kind = EXPECTED[fault]
        want = (status, kind, 1 if fault == "ok" else ATTEMPTS)
        if seen[f"t{i:04d}"] != want:
            wrong[f"t{i:04d}"] = (fault, seen[f"t{i:04d}"])
    assert not wrong, wrong
    ended = collections.Counter((s, k) for s, k, _ in seen.values())
    assert ended == {EXPECTED[f]: c for f, c in injected.items()}

    # No worker leak: the warm pool holds its 4 workers and at most one spare.
    pool = _shared.pool
    assert pool is not None and pool.capacity == 4 and len(pool.pids) <= 5
    children = {p.pid for p in psutil.Process().children()
                if "resource_tracker" not in " ".join(p.cmdline())}
    assert children == set(pool.pids) | set(pool.helper_pids)
    shutdown_shared_pool()
    assert _usage() == (fds_before, threads_before)

    # Flat memory: the last 1,500 tasks added (next to) nothing to the parent.
    assert objects_at[N] - objects_at[N // 4] < 500, objects_at
    assert rss_at[N] - rss_at[N // 4] < 8 * 2**20, rss_at
