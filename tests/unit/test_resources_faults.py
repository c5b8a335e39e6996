"""A seeded random fault mix (results, errors, RetryAfter, crashes, timeouts, cascades, the
run's deadline, interrupts) never leaves a resource held: checked from the scheduler's state
after every step, and at the end every capacity is free."""

from __future__ import annotations

import random

import pytest

from orchestrator import RateLimit, RetryAfter, RetryPolicy

from .harness import Harness, t

NAMES = ("cpu", "api", "gpu")
CAPACITY = {"cpu": 2, "api": 3, "gpu": 1}


def _tasks(rng: random.Random, n: int) -> list:
    tasks = []
    for i in range(n):
        names = rng.sample(NAMES, rng.randint(0, 2))
        resources = {name: rng.choice((1, 0.5, CAPACITY[name])) for name in names}
        deps = tuple(f"t{j}" for j in range(i) if rng.random() < 0.15)
        tasks.append(t(f"t{i}", *deps, resources=resources, timeout=rng.choice((None, 2.0))))
    return tasks


def _check_holdings(h: Harness) -> None:
    """What the admission says is in use is exactly what the attempts in the table hold."""
    admission = h.sched._admission
    table = h.sched._attempts
    expected = dict.fromkeys(admission.usage, 0.0)
    for rec, _ in table.in_order():
        for name, amount in rec.request:
            expected[name] += amount
    assert admission.in_use() == pytest.approx(expected)
    assert set(admission.held) == {a.ticket for r, a in table.in_order() if r.request}
    for name, used in admission.in_use().items():
        assert used <= admission.capacity[name] + 1e-9


def _act(h: Harness, rng: random.Random) -> None:
    running = h.running
    roll = rng.random()
    if not running or roll < 0.15:
        wait = h.sched.next_timeout()
        h.advance(rng.choice((0.05, 0.3, 1.0)) if wait is None else max(wait, 0.01))
        return
    tid = rng.choice(running)
    if roll < 0.45:
        h.finish(tid)
    elif roll < 0.6:
        h.fail(tid)
    elif roll < 0.7:
        h.fail(tid, RetryAfter(rng.choice((0.0, 0.2, 0.7))))
    elif roll < 0.8:
        h.crash(tid)
    else:
        h.advance(rng.choice((0.1, 2.5)))  # some attempts pass their timeout


@pytest.mark.parametrize("seed", range(40))
def test_random_fault_mix_frees_every_resource(seed: int) -> None:
    rng = random.Random(f"resources-faults:{seed}")
    ending = rng.choice(("natural", "interrupt", "deadline", "cascade"))
    policy: dict = {
        "resources": CAPACITY, "rate_limits": {"api": RateLimit(5, burst=2)},
        "retry": RetryPolicy(max_attempts=rng.randint(1, 3)), "kill_grace": 0.1,
        "cancellation": "cascading" if ending == "cascade" else "isolated",
    }
    if ending == "deadline":
        policy["global_timeout"] = rng.choice((0.5, 1.5, 3.0))
    h = Harness(_tasks(rng, rng.randint(5, 25)), workers=rng.randint(1, 5),
                obey_kills=rng.random() < 0.7, **policy)
    steps = rng.randint(3, 40) if ending == "interrupt" else 400
    for _ in range(steps):
        if h.done:
            break
        _check_holdings(h)
        if not h.ex.obey_kills and h.ex.kills and rng.random() < 0.5:
            killed = [tid for tid, _ in h.ex.kills if tid in h.running]
            if killed:
                h.die(rng.choice(killed))
                continue
        _act(h, rng)
    if not h.done:
        h.sched.abort(grace_limit=0.0)
    _check_holdings(h)
    result = h.result()
    assert h.sched.resources_in_use() == dict.fromkeys(h.sched._admission.usage, 0.0)
    assert not h.sched._admission.held
    assert len(result.tasks) == len(h.sched._records)
    terminal = [e for e in h.sink.events if e.type in (
        "task.succeeded", "task.failed", "task.timed_out", "task.cancelled", "task.skipped")]
    assert sorted(e.task_id for e in terminal) == sorted(result.tasks)
