"""The event log: exact sequences for small runs, one terminal event per task, increasing seq,
and a broken on_event callback that cannot wedge the run."""

from __future__ import annotations

import warnings

import pytest

from orchestrator import InlineExecutor, OrchestrationPolicy, RetryPolicy, execute_graph
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES, Event
from orchestrator.testing import FakeClock
from tests.unit.harness import Harness, t


def log(h: Harness) -> list[tuple[str, str | None]]:
    return [(e.type, e.task_id) for e in h.sink.events]


def test_a_chain_that_succeeds() -> None:
    h = Harness([t("a"), t("b", "a")], workers=2)
    h.finish("a", duration=1.0)
    h.finish("b", duration=1.0)
    h.result()
    assert log(h) == [
        ("run.started", None),
        ("task.ready", "a"), ("task.started", "a"), ("task.succeeded", "a"),
        ("task.ready", "b"), ("task.started", "b"), ("task.succeeded", "b"),
        ("run.finished", None),
    ]


def test_a_failure_skips_its_dependents() -> None:
    h = Harness([t("a"), t("b", "a"), t("c", "b")], workers=1)
    h.fail("a")
    h.result()
    assert log(h) == [
        ("run.started", None), ("task.ready", "a"), ("task.started", "a"),
        ("task.failed", "a"), ("task.skipped", "b"), ("task.skipped", "c"),
        ("run.finished", None),
    ]


def test_a_retry_after_a_delay() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=2, base_delay=1.0))
    h.fail("a")
    h.advance(1.0)
    h.finish("a")
    assert [(e.type, e.attempt) for e in h.sink.events if e.task_id == "a"] == [
        ("task.ready", None), ("task.started", 1), ("task.retry_scheduled", 1),
        ("task.ready", 1), ("task.started", 2), ("task.succeeded", 2),
    ]
    (retry,) = h.sink.of_type("task.retry_scheduled")
    assert retry.reason == "exception" and retry.data == {"delay": 1.0, "next_attempt": 2}


def test_a_worker_crash() -> None:
    h = Harness([t("a")], workers=1)
    h.crash("a", signal="SIGSEGV")
    h.result()
    assert log(h)[2:] == [
        ("task.started", "a"), ("worker.died", None), ("task.failed", "a"),
        ("worker.started", None), ("run.finished", None),
    ]
    died = h.sink.of_type("worker.died")[0]
    assert (died.pid, died.reason, died.data) == (
        1001, "crashed", {"slot": 0, "exit_code": None, "signal": "SIGSEGV"})


def test_a_timeout_with_escalation() -> None:
    h = Harness([t("a", timeout=2.0)], workers=1, kill_grace=0.5, obey_kills=False)
    h.advance(2.0)
    h.advance(0.5)
    h.die("a")
    h.result()
    assert log(h)[3:] == [
        ("task.kill", "a"), ("task.kill", "a"), ("worker.died", None),
        ("task.timed_out", "a"), ("worker.started", None), ("run.finished", None),
    ]
    kill = h.sink.of_type("task.kill")[0]
    assert (kill.reason, kill.pid, kill.data) == (
        "timeout", 1001, {"signal": "SIGTERM", "pids": [1001]})


def test_a_cascade() -> None:
    h = Harness([t("a"), t("b"), t("c")], workers=2, cancellation="cascading", kill_grace=0)
    h.fail("a")
    h.result()
    assert log(h)[1:] == [
        ("task.ready", "a"), ("task.ready", "b"), ("task.ready", "c"),
        ("task.started", "a"), ("task.started", "b"),
        ("task.failed", "a"), ("task.kill", "b"), ("task.cancelled", "c"),
        ("worker.died", None), ("task.cancelled", "b"), ("worker.started", None),
        ("run.finished", None),
    ]
    assert h.sink.of_type("task.kill")[0].reason == "cascade"


# What each attempt of a task does in mixed_run(); a task not listed succeeds.
SCRIPT = {"flaky": ["fail", "ok"], "crashy": ["crash", "crash"], "bad": ["fail", "fail"],
          "slow": ["hang", "hang"]}


def mixed_run() -> Harness:
    """Successes, a retry that works, crashes, timeouts, failures and skips in one run."""
    tasks = [t("ok1"), t("flaky"), t("crashy"), t("slow", timeout=3.0), t("bad"),
             t("after_bad", "bad"), t("after_ok", "ok1"), t("tail", "after_bad", "after_ok")]
    h = Harness(tasks, workers=3, kill_grace=0, retry=RetryPolicy(max_attempts=2, base_delay=0.5))
    while not h.done:
        movable = [tid for tid in h.running
                   if SCRIPT.get(tid, ["ok"] * 2)[h.ex.attempt_of(tid).attempt - 1] != "hang"]
        if not movable:
            h.advance(0.5)  # wait for a retry or a deadline
            continue
        tid = movable[0]
        outcome = SCRIPT.get(tid, ["ok"] * 2)[h.ex.attempt_of(tid).attempt - 1]
        if outcome == "ok":
            h.finish(tid, duration=1.0)
        elif outcome == "fail":
            h.fail(tid, duration=1.0)
        else:
            h.crash(tid)
    h.result()
    return h


def test_every_task_gets_exactly_one_terminal_event_and_seq_increases() -> None:
    h = mixed_run()
    events = h.sink.events
    terminal = [e.task_id for e in events if e.type in TERMINAL_EVENT_TYPES]
    assert sorted(terminal) == sorted(h.result().tasks)
    assert [e.seq for e in events] == sorted({e.seq for e in events})  # strictly increasing
    assert len({e.run_id for e in events}) == 1
    assert all(a.elapsed <= b.elapsed for a, b in zip(events, events[1:], strict=False))
    assert events[0].type == "run.started" and events[-1].type == "run.finished"
    statuses = {tid: r.status.value for tid, r in h.result().tasks.items()}
    for e in events:
        if e.type in TERMINAL_EVENT_TYPES:
            assert e.type == f"task.{statuses[e.task_id]}"


@pytest.mark.parametrize("stream", [False, True], ids=["retained", "streaming"])
def test_event_seq_is_gap_free_from_one(stream: bool) -> None:
    # Streaming runs used to take each task's submission number from the event counter, so
    # iter_parallel's events were numbered 1, 3, 5, 6, 7, 9...
    from orchestrator import MemorySink, TaskSpec, execute_parallel, iter_parallel

    sink = MemorySink()
    specs = [TaskSpec(f"t{i}", "workers.agents:noop") for i in range(6)]
    policy = OrchestrationPolicy(max_concurrency=2)
    if stream:
        assert len(list(iter_parallel(specs, policy, executor=InlineExecutor(),
                                      on_event=sink))) == 6
    else:
        assert execute_parallel(specs, policy, executor=InlineExecutor(), on_event=sink).ok
    assert [e.seq for e in sink.events] == list(range(1, len(sink.events) + 1))


def test_run_finished_reports_the_counts() -> None:
    h = mixed_run()
    (finished,) = h.sink.of_type("run.finished")
    assert finished.data is not None
    counts = dict(finished.data["counts"])
    assert counts == {"succeeded": 3, "failed": 2, "timed_out": 1, "skipped": 2}
    assert finished.data["ok"] is False and finished.data["retries"] == 4
    # result() a second time does not emit run.finished again
    h.result()
    assert len(h.sink.of_type("run.finished")) == 1


# -- a broken on_event callback ------------------------------------------------------------------


class Exploding:
    """Raises on the first event of ``on_type``; counts every call."""

    def __init__(self, on_type: str) -> None:
        self.on_type = on_type
        self.calls = 0

    def __call__(self, event: Event) -> None:
        self.calls += 1
        if event.type == self.on_type:
            raise ValueError(f"nope on {event.type}")


def test_a_raising_callback_warns_once_and_the_run_completes() -> None:
    cb = Exploding("task.started")
    with pytest.warns(RuntimeWarning) as warned:
        h = Harness([t("a"), t("b"), t("c", "a")], workers=2, on_event=cb)
        calls = cb.calls
        h.finish("a")
        h.finish("b")
        h.finish("c")
    assert len(warned) == 1
    message = str(warned[0].message)
    assert message == (f"on_event callback raised ValueError: nope on task.started (on a "
                       f"'task.started' event); it will not be called again in run "
                       f"{h.sched.run_id}")
    assert cb.calls == calls  # never called again
    assert h.done and h.result().ok


def test_a_raising_callback_through_the_public_api_leaves_every_task_terminal() -> None:
    tasks = [t("a"), t("b", "a"), t("c")]
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2),
                               on_event=Exploding("run.started"), executor=InlineExecutor(),
                               clock=FakeClock())
    assert [w.category for w in warned] == [RuntimeWarning]
    assert result.ok and [r.status.value for r in result] == ["succeeded"] * 3
