"""The scheduler's messages, word for word: what a person reads when a task does not succeed."""

from __future__ import annotations

from orchestrator.model.results import TaskError
from orchestrator.scheduler.records import TaskRecord
from orchestrator.scheduler.state import KillReason, StopReason
from orchestrator.scheduler.wording import (
    callback_dropped,
    cancelled_error,
    leftover_timeout_error,
    lost_attempt_error,
    pickling_error,
    upstream_error,
)
from tests.unit.harness import t


def attempt_two_of(task_id: str) -> TaskRecord:
    rec = TaskRecord(t(task_id), 0, 1.0, ())
    rec.attempt = 2
    return rec


def lost(rec: TaskRecord, reason: KillReason | None, **how: object) -> TaskError:
    fields: dict[str, object] = {"pid": 4312, "signal": "SIGKILL", "exit_code": None,
                                 "timeout": 5.0, "global_timeout": 60.0, "memory_limit": 256.0}
    fields.update(how)
    return lost_attempt_error(rec, reason, **fields)  # type: ignore[arg-type]


def test_a_timed_out_attempt_names_its_timeout_the_worker_and_the_signal() -> None:
    error = lost(attempt_two_of("score-17"), KillReason.TIMEOUT)
    assert (error.kind, error.type) == ("timeout", "TimeoutError")
    assert error.message == ("task 'score-17' attempt 2 timed out after 5.0s; killed worker pid "
                             "4312 (SIGKILL)")


def test_an_attempt_cut_by_the_run_deadline_names_the_global_timeout() -> None:
    error = lost(attempt_two_of("a"), KillReason.RUN_TIMEOUT, signal="SIGTERM")
    assert (error.kind, error.type) == ("timeout", "TimeoutError")
    assert error.message == ("task 'a' attempt 2 was still running when the run's global_timeout "
                             "of 60.0s expired; killed worker pid 4312 (SIGTERM)")


def test_an_attempt_over_its_memory_limit_names_the_limit_and_the_peak_seen() -> None:
    rec = attempt_two_of("big")
    rec.rss_seen = 300 * 2**20
    error = lost(rec, KillReason.MEMORY_LIMIT)
    assert (error.kind, error.type) == ("memory", "MemoryLimitExceeded")
    assert error.message == ("task 'big' attempt 2 exceeded its memory limit of 256 MB (peak seen "
                             "300 MB); killed worker pid 4312 (SIGKILL)")


def test_a_crash_names_the_signal_or_the_exit_code() -> None:
    by_signal = lost(attempt_two_of("c"), None, signal="SIGSEGV")
    assert (by_signal.kind, by_signal.type, by_signal.signal) == ("crash", "WorkerCrashed",
                                                                  "SIGSEGV")
    assert by_signal.message == "worker pid 4312 died while running task 'c' attempt 2: SIGSEGV"
    by_code = lost(attempt_two_of("c"), None, signal=None, exit_code=3)
    assert by_code.exit_code == 3
    assert by_code.message == ("worker pid 4312 died while running task 'c' attempt 2: exit "
                               "code 3")
    unknown = lost(attempt_two_of("c"), None, signal=None)
    assert unknown.message == "worker pid 4312 died while running task 'c' attempt 2: unknown"


def test_a_cancelled_task_says_why_the_run_stopped() -> None:
    cascade = cancelled_error("b", StopReason.CASCADE, "a", None)
    assert (cascade.kind, cascade.type, cascade.upstream) == ("cancelled", "Cancelled", "a")
    assert cascade.message == ("task 'b' cancelled: task 'a' failed and cancellation is "
                               "'cascading'")
    assert cancelled_error("b", StopReason.RUN_TIMEOUT, None, 30.0).message == (
        "task 'b' cancelled: the run's global_timeout of 30.0s expired before it started")
    assert cancelled_error("b", StopReason.INTERRUPT, None, None).message == (
        "task 'b' cancelled: the run was interrupted")


def test_the_other_endings_word_for_word() -> None:
    skipped = upstream_error("c", "a", "timed_out")
    assert (skipped.kind, skipped.type, skipped.upstream) == ("upstream", "UpstreamFailed", "a")
    assert skipped.message == "task 'c' skipped: upstream task 'a' timed_out"
    leftover = leftover_timeout_error("slow")
    assert (leftover.kind, leftover.type) == ("timeout", "TimeoutError")
    assert leftover.message == ("task 'slow' timed out; its worker was killed while the run "
                                "stopped")
    unpicklable = pickling_error("task 'p': cannot pickle args[0]")
    assert (unpicklable.kind, unpicklable.type, unpicklable.message) == (
        "pickling", "PicklingError", "task 'p': cannot pickle args[0]")
    assert callback_dropped(ValueError("nope"), "task.started", "run-1") == (
        "on_event callback raised ValueError: nope (on a 'task.started' event); it will not be "
        "called again in run run-1")
