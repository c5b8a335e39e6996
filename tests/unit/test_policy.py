"""RetryPolicy / OrchestrationPolicy validation, the backoff formula and which failures retry."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from orchestrator import OrchestrationPolicy, PolicyError, RetryPolicy
from orchestrator.executors.base import error_from_tuple
from orchestrator.model.results import TaskError
from tests.unit.harness import exactly
from workers.capture import capture

# -- validation --------------------------------------------------------------------------------

INT_GE_1 = "an integer >= 1"
SECONDS_GE_0 = "a number of seconds >= 0 and <= 1e+09"


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("max_attempts", 0, INT_GE_1),
        ("max_attempts", -1, INT_GE_1),
        ("max_attempts", 2.0, INT_GE_1),
        ("max_attempts", True, INT_GE_1),
        ("max_attempts", "3", INT_GE_1),
        ("backoff", "linear", "'fixed' or 'exponential'"),
        ("backoff", None, "'fixed' or 'exponential'"),
        ("base_delay", -0.5, SECONDS_GE_0),
        ("base_delay", math.nan, SECONDS_GE_0),
        ("base_delay", math.inf, SECONDS_GE_0),
        ("base_delay", True, SECONDS_GE_0),
        ("base_delay", "1", SECONDS_GE_0),
        ("multiplier", 0.5, "a number >= 1"),
        ("multiplier", math.inf, "a number >= 1"),
        ("max_delay", -1, SECONDS_GE_0),
        ("max_delay", math.inf, SECONDS_GE_0),
        ("jitter", -0.1, "a number between 0 and 1"),
        ("jitter", 1.5, "a number between 0 and 1"),
        ("jitter", math.nan, "a number between 0 and 1"),
        ("seed", 1.0, "an integer"),
        ("seed", False, "an integer"),
        ("seed", "0", "an integer"),
        ("retry_on", 42, "a tuple of exception classes or names"),
        ("retry_on", (42,), "a tuple of exception classes or names"),
        ("retry_on", (int,), "a tuple of exception classes or names"),
        ("retry_on", ("",), "a tuple of exception classes or names"),
        ("retry_on_timeout", 1, "True or False"),
        ("retry_on_timeout", None, "True or False"),
        ("retry_on_crash", "yes", "True or False"),
    ],
)
def test_retry_policy_rejects_a_bad_field_naming_field_value_and_range(
        field: str, value: Any, allowed: str) -> None:
    with pytest.raises(PolicyError, match=exactly(
            f"RetryPolicy.{field} must be {allowed}, got {value!r}")):
        RetryPolicy(**{field: value})


OPT_SECONDS = "a number of seconds > 0 and <= 1e+09, or None"


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("max_concurrency", 0, INT_GE_1),
        ("max_concurrency", 2.0, INT_GE_1),
        ("max_concurrency", True, INT_GE_1),
        ("task_timeout", 0, OPT_SECONDS),
        ("task_timeout", -1, OPT_SECONDS),
        ("task_timeout", math.inf, OPT_SECONDS),
        ("task_timeout", True, OPT_SECONDS),
        ("global_timeout", 0.0, OPT_SECONDS),
        ("global_timeout", math.nan, OPT_SECONDS),
        ("global_timeout", "10", OPT_SECONDS),
        ("retry", None, "a RetryPolicy"),
        ("retry", {"max_attempts": 2}, "a RetryPolicy"),
        ("cancellation", "all", "'isolated' or 'cascading'"),
        ("on_failure", "ignore", "'skip' or 'continue'"),
        ("max_pending", -1, "an integer >= 0, or None"),
        ("max_pending", 1.5, "an integer >= 0, or None"),
        ("max_pending", False, "an integer >= 0, or None"),
        ("kill_grace", -0.1, SECONDS_GE_0),
        ("kill_grace", math.inf, SECONDS_GE_0),
        ("max_task_memory_mb", 0, "a number of megabytes > 0, or None"),
        ("max_task_memory_mb", -5, "a number of megabytes > 0, or None"),
        ("max_tasks_per_worker", 0, "an integer >= 1, or None"),
        ("max_tasks_per_worker", 2.5, "an integer >= 1, or None"),
        ("critical_path_first", 1, "True or False"),
        ("memory_check_interval", 0, "a number of seconds > 0 and <= 1e+09"),
        ("memory_check_interval", math.nan, "a number of seconds > 0 and <= 1e+09"),
    ],
)
def test_orchestration_policy_rejects_a_bad_field_naming_field_value_and_range(
        field: str, value: Any, allowed: str) -> None:
    with pytest.raises(PolicyError, match=exactly(
            f"OrchestrationPolicy.{field} must be {allowed}, got {value!r}")):
        OrchestrationPolicy(**{field: value})


def test_good_values_are_accepted_and_replace_validates_again() -> None:
    policy = OrchestrationPolicy(max_concurrency=3, task_timeout=1.5, global_timeout=60,
                                 max_pending=0, kill_grace=0, max_task_memory_mb=0.5,
                                 max_tasks_per_worker=1, critical_path_first=False)
    assert policy.pending_limit == 0
    assert OrchestrationPolicy(max_concurrency=3).pending_limit == 3
    assert policy.replace(max_concurrency=5).max_concurrency == 5
    with pytest.raises(PolicyError, match=exactly(
            "OrchestrationPolicy.max_concurrency must be an integer >= 1, got 0")):
        policy.replace(max_concurrency=0)


def test_policy_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_a_single_exception_class_or_name_is_accepted_for_retry_on() -> None:
    assert RetryPolicy(retry_on=ValueError).retry_on == (ValueError,)
    assert RetryPolicy(retry_on="ValueError").retry_on == ("ValueError",)
    assert RetryPolicy(retry_on=[KeyError, "x.Y"]).retry_on == (KeyError, "x.Y")


# -- RetryPolicy.delay ---------------------------------------------------------------------------


def test_fixed_backoff_waits_base_delay_every_time() -> None:
    policy = RetryPolicy(backoff="fixed", base_delay=1.5)
    assert [policy.delay("a", n) for n in range(1, 6)] == [1.5] * 5


def test_exponential_backoff_multiplies_from_the_first_retry() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=0.5, multiplier=3.0)
    assert [policy.delay("a", n) for n in range(1, 5)] == [0.5, 1.5, 4.5, 13.5]


def test_delays_are_capped_at_max_delay() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=1.0, max_delay=5.0)
    assert [policy.delay("a", n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert RetryPolicy(base_delay=10.0, max_delay=3.0).delay("a", 1) == 3.0


def test_a_huge_attempt_number_gives_max_delay_not_an_overflow() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=1.0, max_delay=7.0)
    assert policy.delay("a", 5000) == 7.0


def test_a_zero_base_delay_stays_zero_however_many_attempts() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=0.0)
    assert policy.delay("a", 3) == 0.0
    assert policy.delay("a", 5000) == 0.0


def test_the_attempt_number_must_be_at_least_one() -> None:
    with pytest.raises(PolicyError, match=exactly("attempt must be >= 1, got 0")):
        RetryPolicy().delay("a", 0)


def test_jitter_scales_the_capped_delay_within_its_bounds() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=1.0, max_delay=4.0, jitter=0.5)
    delays = {(tid, n): policy.delay(tid, n) for tid in "abcdefgh" for n in range(1, 8)}
    for (_, n), d in delays.items():
        capped = min(2.0 ** (n - 1), 4.0)
        assert capped * 0.5 <= d <= capped * 1.5
    # The factor applies after the cap: capped attempts spread on both sides of max_delay.
    late = [d for (_, n), d in delays.items() if n >= 3]
    assert min(late) < 4.0 < max(late)
    assert len(set(delays.values())) == len(delays)  # jitter really varies per task and attempt


def test_jitter_is_a_pure_function_of_seed_task_and_attempt() -> None:
    policy = RetryPolicy(base_delay=2.0, jitter=0.3, seed=7)
    forwards = [policy.delay(tid, n) for tid in ("x", "y") for n in (1, 2, 3)]
    backwards = [policy.delay(tid, n) for tid in ("y", "x") for n in (3, 2, 1)]
    assert forwards == [backwards[5 - i] for i in range(6)]  # call order does not matter
    assert RetryPolicy(base_delay=2.0, jitter=0.3, seed=7).delay("x", 1) == forwards[0]
    assert RetryPolicy(base_delay=2.0, jitter=0.3, seed=8).delay("x", 1) != forwards[0]


def test_no_jitter_is_drawn_for_a_zero_delay() -> None:
    assert RetryPolicy(base_delay=0.0, jitter=1.0).delay("a", 1) == 0.0


_DELAYS_SCRIPT = """
import json
from orchestrator import RetryPolicy
p = RetryPolicy(backoff="exponential", base_delay=0.25, max_delay=30.0, jitter=0.9, seed=42)
print(json.dumps([p.delay(tid, n) for tid in ("alpha", "beta", "z" * 40) for n in range(1, 9)]))
"""


def test_jittered_delays_are_the_same_in_other_processes_whatever_the_hash_seed() -> None:
    policy = RetryPolicy(backoff="exponential", base_delay=0.25, max_delay=30.0, jitter=0.9,
                         seed=42)
    here = [policy.delay(tid, n) for tid in ("alpha", "beta", "z" * 40) for n in range(1, 9)]
    for hash_seed in ("0", "2718281"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", _DELAYS_SCRIPT], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout) == here


# -- which failures are retried ------------------------------------------------------------------


class TransientError(ConnectionError):
    pass


def raised(exc: BaseException) -> TaskError:
    """The TaskError a worker reports when the task raises ``exc``."""
    return error_from_tuple(capture(exc))


def test_retry_on_a_class_matches_it_and_its_subclasses_through_the_mro() -> None:
    policy = RetryPolicy(retry_on=(OSError,))
    assert policy.retries_error(raised(OSError("x")))
    assert policy.retries_error(raised(TransientError("x")))  # ConnectionError -> OSError
    assert not policy.retries_error(raised(ValueError("x")))


def test_retry_on_a_short_name_matches_any_class_of_that_name_in_the_mro() -> None:
    policy = RetryPolicy(retry_on=("ConnectionError",))
    assert policy.retries_error(raised(TransientError("x")))
    assert not policy.retries_error(raised(OSError("x")))  # a base, not a subclass


def test_retry_on_a_qualified_name_matches_only_that_module() -> None:
    assert RetryPolicy(retry_on=(f"{__name__}.TransientError",)).retries_error(
        raised(TransientError("x")))
    assert not RetryPolicy(retry_on=("elsewhere.TransientError",)).retries_error(
        raised(TransientError("x")))
    assert RetryPolicy(retry_on=("builtins.OSError",)).retries_error(raised(TransientError("x")))


def test_the_default_retries_exceptions_but_not_bare_base_exceptions() -> None:
    policy = RetryPolicy()
    assert policy.retries_error(raised(KeyError("k")))
    assert not policy.retries_error(raised(SystemExit(3)))


@pytest.mark.parametrize(
    ("kind", "flag"),
    [("timeout", "retry_on_timeout"), ("crash", "retry_on_crash"), ("memory", "retry_on_crash")],
)
def test_timeouts_crashes_and_memory_kills_follow_their_flags(kind: str, flag: str) -> None:
    error = TaskError(kind=kind, type="X", message="m")  # type: ignore[arg-type]
    assert RetryPolicy().retries_error(error)
    assert not RetryPolicy(**{flag: False}).retries_error(error)
    # retry_on is about exceptions raised by the task; it does not filter these kinds.
    assert RetryPolicy(retry_on=("Nothing",)).retries_error(error)


@pytest.mark.parametrize("kind", ["pickling", "cancelled", "upstream"])
def test_failures_a_retry_cannot_help_are_never_retried(kind: str) -> None:
    error = TaskError(kind=kind, type="X", message="m")  # type: ignore[arg-type]
    assert not RetryPolicy(max_attempts=5).retries_error(error)


@pytest.mark.parametrize("field", ["task_timeout", "global_timeout", "kill_grace",
                                   "memory_check_interval", "max_task_memory_mb"])
def test_a_huge_int_in_a_number_field_is_a_policy_error_not_an_overflow(field: str) -> None:
    # math.isfinite(10**400) raises OverflowError; the constructor must say what is allowed.
    with pytest.raises(PolicyError, match=f"OrchestrationPolicy.{field} must be .*, got 1000"):
        OrchestrationPolicy(**{field: 10**400})


@pytest.mark.parametrize("field", ["base_delay", "max_delay", "multiplier"])
def test_a_huge_int_in_a_retry_field_is_a_policy_error(field: str) -> None:
    with pytest.raises(PolicyError, match=f"RetryPolicy.{field} must be .*, got 1000.*\\.\\.\\.$"):
        RetryPolicy(**{field: 10**400})


def test_seconds_beyond_a_thread_wait_are_refused() -> None:
    # threading's waits raise OverflowError past TIMEOUT_MAX; 1e9 s is the documented bound.
    assert OrchestrationPolicy(task_timeout=1e9).task_timeout == 1e9
    with pytest.raises(PolicyError, match="task_timeout must be a number of seconds > 0 and "
                                          "<= 1e"):
        OrchestrationPolicy(task_timeout=1e9 + 1)
