"""Retries: exact delays on a fake clock, attempt counts, what is retried, the run's deadline."""

from __future__ import annotations

import pytest

from orchestrator import RetryPolicy, TaskStatus
from tests.unit.harness import Harness, t


def test_exponential_retries_wait_exactly_their_delays() -> None:
    retry = RetryPolicy(max_attempts=4, backoff="exponential", base_delay=1.5)
    h = Harness([t("a")], workers=1, retry=retry)
    for attempt, delay in ((1, 1.5), (2, 3.0), (3, 6.0)):
        assert h.ex.attempt_of("a").attempt == attempt
        h.fail("a")
        assert h.running == []
        h.advance(delay - 0.001)
        assert h.running == []
        h.advance(0.001)
        assert h.running == ["a"]
    h.finish("a", "ok")
    res = h.result()["a"]
    assert (res.status, res.value, res.attempts) == (TaskStatus.SUCCEEDED, "ok", 4)
    assert res.retry_delays == (1.5, 3.0, 6.0)
    assert h.clock.now() == pytest.approx(10.5)


def test_jittered_delays_used_are_the_ones_the_policy_computes() -> None:
    retry = RetryPolicy(max_attempts=3, base_delay=2.0, jitter=0.5, seed=11)
    h = Harness([t("a"), t("b")], workers=2, retry=retry)
    expected = {tid: (retry.delay(tid, 1), retry.delay(tid, 2)) for tid in "ab"}
    for tid in "ab":
        h.fail(tid)
    for _ in range(2):
        for tid in "ab":
            h.advance_to(h.clock.now() + 5.0)  # past any jittered delay (at most 3.0)
            if tid in h.running:
                h.fail(tid)
    res = h.result()
    assert res["a"].retry_delays == expected["a"]
    assert res["b"].retry_delays == expected["b"]
    assert expected["a"] != expected["b"]


def test_attempts_stop_at_max_attempts_and_the_last_error_stands() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=3))
    for n in (1, 2, 3):
        h.fail("a", f"failure {n}")
    assert h.done
    res = h.result()["a"]
    assert (res.status, res.attempts, res.retry_delays) == (TaskStatus.FAILED, 3, (0.0, 0.0))
    assert res.error is not None and res.error.message == "failure 3"
    assert h.ex.started == ["a", "a", "a"]


def test_a_task_retry_policy_overrides_the_run_policy() -> None:
    h = Harness([t("a", retry=RetryPolicy(max_attempts=2, base_delay=4.0)), t("b")], workers=2,
                retry=RetryPolicy(max_attempts=5))
    h.fail("a")
    h.fail("b")
    assert h.running == ["b"]
    h.advance(4.0)
    h.fail("a")
    assert h.state("a").value == "failed"
    h.finish("b")
    res = h.result()
    assert (res["a"].attempts, res["a"].retry_delays) == (2, (4.0,))
    assert (res["b"].attempts, res["b"].retry_delays) == (2, (0.0,))


def test_an_exception_not_in_retry_on_is_not_retried() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=3, retry_on=(KeyError,)))
    h.fail("a", ValueError("not transient"))
    res = h.result()["a"]
    assert (res.status, res.attempts, res.retry_delays) == (TaskStatus.FAILED, 1, ())
    assert res.error is not None and res.error.type == "ValueError"


def test_an_exception_in_retry_on_is_retried() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=3, retry_on=(KeyError,)))
    h.fail("a", KeyError("k"))
    assert h.running == ["a"]


def test_a_worker_crash_is_retried_per_retry_on_crash() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=2))
    h.crash("a", signal="SIGSEGV")
    assert h.running == ["a"]
    h.finish("a", 1)
    res = h.result()["a"]
    # the second attempt ran on the replacement worker
    assert (res.status, res.attempts, res.worker_pid) == (TaskStatus.SUCCEEDED, 2, 1002)


def test_a_crash_is_not_retried_when_retry_on_crash_is_off() -> None:
    h = Harness([t("a")], workers=1, retry=RetryPolicy(max_attempts=3, retry_on_crash=False))
    h.crash("a", exit_code=3, signal=None)
    res = h.result()["a"]
    assert (res.status, res.attempts) == (TaskStatus.FAILED, 1)
    assert res.error is not None and res.error.kind == "crash"
    assert res.error.message == "worker pid 1001 died while running task 'a' attempt 1: exit code 3"
    assert res.error.exit_code == 3


# -- retries and the run's global_timeout -----------------------------------------------------


@pytest.mark.parametrize(("fail_at", "retried"), [(6.5, True), (7.0, False), (8.0, False)])
def test_a_retry_is_scheduled_only_if_it_would_start_before_the_global_timeout(
        fail_at: float, retried: bool) -> None:
    retry = RetryPolicy(max_attempts=2, base_delay=3.0)
    h = Harness([t("a")], workers=1, retry=retry, global_timeout=10.0)
    h.advance(fail_at)
    h.fail("a", "late failure")
    if retried:
        assert h.state("a").value == "retry_wait"
        h.advance_to(fail_at + 3.0)
        assert h.running == ["a"]
        return
    assert h.done
    res = h.result()["a"]
    assert (res.status, res.attempts, res.retry_delays) == (TaskStatus.FAILED, 1, ())
    assert res.error is not None and res.error.message == "late failure"


def test_reports_add_up_over_attempts_so_a_failed_try_still_costs() -> None:
    from orchestrator.telemetry.costs import ReportedCost

    h = Harness([t("a", retry=RetryPolicy(max_attempts=2))], workers=1)
    h.fail("a", "overloaded", reports={"cost": 1.5, "tokens": 10, "model": "small"})
    h.finish("a", "ok", reports={"cost": 2.0, "model": "large"})
    res = h.result()["a"]
    assert res.status is TaskStatus.SUCCEEDED and res.attempts == 2
    assert dict(res.reports) == {"cost": 3.5, "tokens": 10, "model": "large"}
    assert ReportedCost().estimate([res]) == 3.5
