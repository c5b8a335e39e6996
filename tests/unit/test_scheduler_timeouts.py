"""Task timeouts (kill at the deadline, counted from the start), SIGTERM->SIGKILL escalation, and
the run's global_timeout."""

from __future__ import annotations

import pytest

from orchestrator import RetryPolicy, TaskStatus
from tests.unit.harness import Harness, t


def test_a_task_is_killed_exactly_at_its_deadline() -> None:
    h = Harness([t("a", timeout=5.0)], workers=1, kill_grace=0)
    h.advance(4.999)
    assert h.ex.kills == []
    h.advance(0.001)
    assert h.ex.kills == [("a", True)]  # kill_grace=0: straight to SIGKILL
    res = h.result()["a"]
    assert res.status is TaskStatus.TIMED_OUT and res.attempts == 1
    assert res.error is not None and res.error.kind == "timeout"
    assert res.error.message == ("task 'a' attempt 1 timed out after 5.0s; "
                                 "killed worker pid 1001 (SIGKILL)")
    assert res.duration == pytest.approx(5.0)


def test_the_timeout_counts_from_the_start_not_from_submission() -> None:
    h = Harness([t("a", timeout=5.0), t("b", timeout=5.0)], workers=1, kill_grace=0)
    h.advance(4.0)
    h.finish("a", duration=4.0)
    assert h.running == ["b"]  # b starts at t=4 although it was ready at t=0
    h.advance_to(8.999)
    assert h.ex.kills == []
    h.advance_to(9.0)
    assert h.ex.kills == [("b", True)]
    assert h.result()["b"].started_at == pytest.approx(4.0)


def test_the_run_policy_task_timeout_applies_unless_a_task_sets_its_own() -> None:
    h = Harness([t("a"), t("b", timeout=2.0)], workers=2, task_timeout=3.0, kill_grace=0)
    h.advance(2.0)
    assert h.ex.kills == [("b", True)]
    h.advance(1.0)
    assert h.ex.kills == [("b", True), ("a", True)]


def test_a_task_finishing_before_its_deadline_is_not_killed() -> None:
    h = Harness([t("a", timeout=5.0)], workers=1, kill_grace=0)
    h.advance(4.0)
    h.finish("a", 1)
    h.advance(10.0)
    assert h.ex.kills == [] and h.result()["a"].status is TaskStatus.SUCCEEDED


def test_sigterm_escalates_to_sigkill_after_kill_grace() -> None:
    h = Harness([t("a", timeout=5.0)], workers=1, kill_grace=0.5, obey_kills=False)
    h.advance(5.0)
    assert h.ex.kills == [("a", False)]
    h.advance(0.499)
    assert h.ex.kills == [("a", False)]
    h.advance(0.001)
    assert h.ex.kills == [("a", False), ("a", True)]
    h.die("a")
    res = h.result()["a"]
    assert res.status is TaskStatus.TIMED_OUT
    assert res.error is not None and res.error.message.endswith("(SIGKILL)")
    kills = h.sink.of_type("task.kill")
    assert [(e.reason, e.data["signal"] if e.data else None) for e in kills] == [
        ("timeout", "SIGTERM"), ("timeout", "SIGKILL")]


def test_no_sigkill_once_the_process_died_of_the_sigterm() -> None:
    h = Harness([t("a", timeout=5.0)], workers=1, kill_grace=0.5, obey_kills=False)
    h.advance(5.0)
    h.advance(0.2)
    h.die("a")
    h.advance(1.0)
    assert h.ex.kills == [("a", False)]
    assert h.result()["a"].status is TaskStatus.TIMED_OUT


def test_a_result_arriving_during_the_grace_period_wins() -> None:
    h = Harness([t("a", timeout=5.0)], workers=1, kill_grace=0.5, obey_kills=False)
    h.advance(5.0)
    h.finish("a", "just in time")
    h.advance(1.0)
    assert h.ex.kills == [("a", False)]
    res = h.result()["a"]
    assert (res.status, res.value) == (TaskStatus.SUCCEEDED, "just in time")


def test_a_timed_out_task_is_retried_per_retry_on_timeout() -> None:
    h = Harness([t("a", timeout=1.0)], workers=1, kill_grace=0,
                retry=RetryPolicy(max_attempts=2, base_delay=0.5))
    h.advance(1.0)
    assert h.state("a").value == "retry_wait"
    h.advance(0.5)
    assert h.running == ["a"]
    h.advance(1.0)
    res = h.result()["a"]
    assert (res.status, res.attempts, res.retry_delays) == (TaskStatus.TIMED_OUT, 2, (0.5,))


def test_a_timeout_is_final_when_retry_on_timeout_is_off() -> None:
    h = Harness([t("a", timeout=1.0)], workers=1, kill_grace=0,
                retry=RetryPolicy(max_attempts=3, retry_on_timeout=False))
    h.advance(1.0)
    res = h.result()["a"]
    assert (res.status, res.attempts) == (TaskStatus.TIMED_OUT, 1)


# -- global_timeout -----------------------------------------------------------------------------


def test_global_timeout_kills_running_cancels_unstarted_and_returns_a_result() -> None:
    tasks = [t("long"), t("other"), t("never", priority=-1), t("child", "long")]
    h = Harness(tasks, workers=2, global_timeout=10.0, kill_grace=0)
    h.advance(9.999)
    assert h.ex.kills == []
    h.advance(0.001)
    assert sorted(h.ex.kills) == [("long", True), ("other", True)]
    assert h.done
    res = h.result()
    status = {tid: r.status.value for tid, r in res.tasks.items()}
    assert status == {"long": "timed_out", "other": "timed_out", "never": "cancelled",
                      "child": "cancelled"}
    assert res["long"].error is not None and res["long"].error.message == (
        "task 'long' attempt 1 was still running when the run's global_timeout of 10.0s "
        "expired; killed worker pid 1001 (SIGKILL)")
    assert res["never"].error is not None and res["never"].error.message == (
        "task 'never' cancelled: the run's global_timeout of 10.0s expired before it started")
    assert res["never"].attempts == 0
    assert not res.ok and not res.interrupted


def test_global_timeout_waits_for_the_sigkill_escalation() -> None:
    h = Harness([t("a")], workers=1, global_timeout=10.0, kill_grace=1.0, obey_kills=False)
    h.advance(10.0)
    assert h.ex.kills == [("a", False)] and not h.done
    h.advance(1.0)
    assert h.ex.kills == [("a", False), ("a", True)]
    h.die("a")
    assert h.done and h.result()["a"].status is TaskStatus.TIMED_OUT


def test_global_timeout_ends_a_task_waiting_to_retry_with_its_last_failure() -> None:
    # "flaky" fails at t=1 and is due again at t=3, but both workers are busy until the
    # deadline: it started once, so it ends with that failure, not "cancelled before it started".
    retry = RetryPolicy(max_attempts=3, base_delay=2.0)
    tasks = [t("long"), t("flaky"), t("second", priority=-1)]
    h = Harness(tasks, workers=2, global_timeout=10.0, kill_grace=0, retry=retry)
    h.advance(1.0)
    h.fail("flaky", "first failure")
    assert sorted(h.running) == ["long", "second"]
    h.advance(2.0)
    assert h.state("flaky").value == "ready"
    h.advance(7.0)
    res = h.result()
    assert res["flaky"].status is TaskStatus.FAILED
    assert res["flaky"].error is not None and res["flaky"].error.message == "first failure"
    assert (res["flaky"].attempts, res["flaky"].retry_delays) == (1, (2.0,))
    assert res["second"].status is TaskStatus.TIMED_OUT


def test_global_timeout_after_a_timed_out_attempt_keeps_timed_out() -> None:
    retry = RetryPolicy(max_attempts=3, base_delay=1.0)
    h = Harness([t("busy"), t("slow", timeout=2.0)], workers=1, global_timeout=10.0,
                kill_grace=0, retry=retry)
    h.advance(1.0)
    h.finish("busy", duration=1.0)
    assert h.running == ["slow"]
    h.advance(2.0)  # slow times out at t=3, due again at t=4 ...
    h.advance(7.0)  # ... but the clock jumps past both the retry and the run's deadline
    res = h.result()["slow"]
    assert res.status is TaskStatus.TIMED_OUT and res.attempts == 1
    assert res.error is not None and res.error.kind == "timeout"


def test_global_timeout_ends_a_retry_queued_behind_a_busy_worker_with_its_last_failure() -> None:
    # Short attempts switch prefetch on, so flaky's retry is queued behind "long"; the kill at
    # the deadline hands it back unstarted. It ran once, so its failure stands.
    retry = RetryPolicy(max_attempts=3, base_delay=1.0)
    h = Harness([t("warm"), t("flaky"), t("long")], workers=1, max_pending=1,
                global_timeout=10.0, kill_grace=0, retry=retry)
    h.finish("warm", duration=0.001)
    h.advance(1.0)
    h.fail("flaky", "first failure", duration=0.001)
    assert h.running == ["long"]
    h.advance(1.0)
    assert h.ex.queued() == ["flaky"]
    h.advance(8.0)
    res = h.result()
    assert res["flaky"].status is TaskStatus.FAILED
    assert res["flaky"].error is not None and res["flaky"].error.message == "first failure"
    assert res["flaky"].attempts == 1
    assert res["long"].status is TaskStatus.TIMED_OUT
