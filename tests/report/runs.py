"""Runs for the report's tests: a real one on the local pool with every kind of ending, and
scripted ones of any size (ScriptedExecutor + FakeClock: no processes, deterministic)."""

from __future__ import annotations

import random
from typing import Any

from orchestrator import (
    AllSucceeded,
    MemorySink,
    OrchestrationPolicy,
    RetryPolicy,
    TaskSpec,
    execute_graph,
)
from orchestrator.telemetry.events import Event
from orchestrator.testing import task_error

from ..telemetry.scenarios import settle, start, t

# A task id and an error message that would break out of a <script> if written unescaped.
HOSTILE_ID = "fail</script><script>window.pwned=1</script>"
HOSTILE_MESSAGE = "bad </script><img src=x onerror=\"window.pwned=2\"> & <!-- <b>"


def real_run() -> list[Event]:
    """On the local pool: retries (flaky), a timeout (hang), a crash, an exception, a skipped
    task after it, and a gate that rejects the run."""
    retry = RetryPolicy(max_attempts=3, backoff="fixed", base_delay=0.05)
    tasks = [
        TaskSpec("flaky", "workers.agents:flaky", args=(2,), retry=retry),
        TaskSpec("hang", "workers.agents:hang", timeout=0.5),
        TaskSpec("crash", "workers.agents:crash"),
        TaskSpec(HOSTILE_ID, "workers.agents:fail", args=(HOSTILE_MESSAGE,)),
        TaskSpec("skipped", "workers.agents:noop", deps=(HOSTILE_ID,)),
        TaskSpec("sleep", "workers.agents:sleep", args=(0.05,), deps=("flaky",)),
        TaskSpec("noop", "workers.agents:noop", deps=("sleep",)),
    ]
    sink = MemorySink()
    execute_graph(tasks, OrchestrationPolicy(max_concurrency=2, kill_grace=0.2), on_event=sink,
                  gates=[AllSucceeded()])
    return list(sink.events)


def scripted_run(n: int, *, workers: int = 8, layers: int = 20, seed: int = 7) -> list[Event]:
    """``n`` tasks in ``layers`` layers, each after one or two of the layer before; one in 50
    fails once (then succeeds on its retry), and in the last three layers one in 100 fails
    for good (its dependents are skipped). Durations are seeded: the same arguments give the
    same events."""
    rng = random.Random(seed)
    width = max(1, n // layers)
    ids = [f"step{i // width}-{i % width}" for i in range(n)]
    retry = RetryPolicy(max_attempts=2, backoff="fixed", base_delay=0.01)
    tasks = []
    for i, tid in enumerate(ids):
        layer = i // width
        deps = () if layer == 0 else tuple(sorted({ids[(layer - 1) * width + rng.randrange(width)]
                                                   for _ in range(rng.randint(1, 2))}))
        tasks.append(t(tid, *deps, retry=retry))
    sched, ex, clock, events = start(tasks, workers=workers)
    flaky = {tid for tid in ids if rng.random() < 0.02}
    broken = {tid for tid in ids[-3 * width:] if rng.random() < 0.01}  # few skips follow
    ends: dict[str, float] = {}
    while not sched.done:
        for tid in ex.running():
            ends.setdefault(tid, clock.now() + rng.uniform(0.001, 0.05))
        if not ends:
            clock.advance(0.01)  # a retry's delay
            settle(sched)
            continue
        tid = min(ends, key=ends.__getitem__)
        clock.advance(max(0.0, ends.pop(tid) - clock.now()))
        attempt = ex.attempt_of(tid).attempt
        if tid in broken or (tid in flaky and attempt == 1):
            ex.fail(tid, f"{tid} attempt {attempt} failed")
        else:
            ex.finish(tid, cpu_time=0.001)
        settle(sched)
    sched.result()  # emits run.finished
    return events


class Log:
    """Events of one run, ``seq`` counted for the test."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, type_: str, at: float, **fields: Any) -> None:
        self.events.append(Event(type_, len(self.events) + 1, 1.7e9 + at, "r1", at, **fields))


def finished(log: Log, at: float, workers: int = 2, ok: bool = True) -> None:
    log.add("run.finished", at, duration=at, data={"ok": ok, "interrupted": False,
                                                   "counts": {}, "retries": 0,
                                                   "workers": workers})


def ran(log: Log, tid: str, start: float, end: float, pid: int, **started: Any) -> None:
    log.add("task.started", start, task_id=tid, attempt=1, pid=pid, **started)
    log.add("task.succeeded", end, task_id=tid, attempt=1, pid=pid, duration=end - start,
            data={"busy_time": end - start})


def later_schema_run() -> list[Event]:
    """By hand, what later schema versions add: two cluster workers, a resource with its
    capacity, a wait for it, a reused task and a mapped task of 6 children (one fails)."""
    log = Log()
    log.add("run.started", 0.0, data={"tasks": 9, "max_concurrency": 2,
                                      "policy": {"resources": {"api": 2}}})
    log.add("task.reused", 0.0, task_id="cached", data={"busy_time": 0.0, "reused_from": "r0"})
    ran(log, "plan", 0.0, 1.0, 7, data={"worker": "tcp://10.0.0.2:8786"})
    children = [f"research[{i}]" for i in range(6)]
    log.add("task.expanded", 1.0, task_id="research", data={"n": 6, "children": children})
    for i, c in enumerate(children):
        log.add("task.ready", 1.0, task_id=c)
        if i >= 2:
            log.add("task.waiting", 1.0, task_id=c, data={"resource": "api"})
        start = 1.0 + (i // 2)
        worker = f"tcp://10.0.0.{2 + i % 2}:8786"
        log.add("task.started", start, task_id=c, attempt=1, pid=7 + i % 2,
                data={"worker": worker, "resources": {"api": 1}})
        failed = i == 2
        log.add("task.failed" if failed else "task.succeeded", start + 0.9, task_id=c,
                attempt=1, pid=7 + i % 2, duration=0.9, error=task_error() if failed else None,
                reason="exception" if failed else None, data={"busy_time": 0.9, "deps": ["plan"]})
    log.add("task.skipped", 4.0, task_id="summary", error=task_error("upstream", kind="upstream"),
            data={"busy_time": 0.0, "deps": ["research", "cached"]})
    finished(log, 4.0, ok=False)
    return log.events
