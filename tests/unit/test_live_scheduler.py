"""LiveScheduler (scheduler/intake.py): a run fed while it goes on, and the kill of one task in
every state, with a ScriptedExecutor and a FakeClock (no processes)."""

from __future__ import annotations

from collections import deque

from orchestrator.clock import FakeClock
from orchestrator.executors.scripted import ScriptedExecutor, run_until_quiet
from orchestrator.model.policy import OrchestrationPolicy, RetryPolicy
from orchestrator.model.spec import TaskSpec
from orchestrator.scheduler.intake import LiveScheduler
from orchestrator.telemetry.sinks import MemorySink


def _live(workers: int = 1, **policy):
    clock = FakeClock()
    ex = ScriptedExecutor(workers=workers)
    feed: deque[TaskSpec] = deque()
    sink = MemorySink()
    sched = LiveScheduler(lambda: feed.popleft() if feed else None,
                          OrchestrationPolicy(max_concurrency=workers, **policy), ex, clock,
                          on_event=sink)
    sched.start()
    return sched, ex, feed, clock, sink


def _spec(tid: str, **kw) -> TaskSpec:
    return TaskSpec(tid, "workers.agents:noop", **kw)


def test_it_takes_tasks_while_it_runs_and_ends_only_once_closed():
    sched, ex, feed, clock, sink = _live()
    assert not sched.done  # open, with nothing yet
    feed.append(_spec("a"))
    run_until_quiet(sched, ex)
    ex.finish("a", 1)
    done = [r.id for r in sched.step(0.0)]
    assert done == ["a"] and not sched.done
    feed.append(_spec("b"))
    run_until_quiet(sched, ex)
    sched.close()
    assert not sched.done  # b still runs
    ex.finish("b", 2)
    run_until_quiet(sched, ex)
    assert sched.done


def test_the_window_bounds_what_it_takes():
    sched, ex, feed, clock, sink = _live(workers=1, max_pending=1)
    feed.extend(_spec(f"t{i}") for i in range(5))
    run_until_quiet(sched, ex)
    assert len(feed) == 3 and not sched.room  # one running, one queued behind it


def test_kill_task_in_every_state_ends_it_cancelled_as_killed():
    sched, ex, feed, clock, sink = _live(workers=1, max_pending=2,
                                         retry=RetryPolicy(max_attempts=2, base_delay=10))
    feed.extend([_spec("run"), _spec("ready"), _spec("retry")])
    run_until_quiet(sched, ex)
    assert ex.running() == ["run"]
    assert sched.kill_task("ready") is True  # not started: ends at once
    assert sched.kill_task("run") is True  # running: killed, ends when its process is gone
    run_until_quiet(sched, ex)
    ex.fail("retry", "boom")
    run_until_quiet(sched, ex)  # now waiting 10 s for its retry
    assert sched.kill_task("retry") is True
    run_until_quiet(sched, ex)
    assert sched.kill_task("gone") is False
    ends = {e.task_id: (e.type, e.error.type) for e in sink.events
            if e.type == "task.cancelled"}
    assert ends == {t: ("task.cancelled", "TaskKilled") for t in ("run", "ready", "retry")}
    kills = [e for e in sink.events if e.type == "task.kill"]
    assert [(e.task_id, e.reason) for e in kills] == [("run", "requested")]
    assert sched.kill_task("run") is False  # ended
