"""What a failure does to the rest of the run: isolated vs cascading, skip vs continue, crashes,
unpicklable arguments and memory limits."""

from __future__ import annotations

from orchestrator import Ref, RetryPolicy, TaskSpec, TaskStatus
from orchestrator.model.results import TaskError
from tests.unit.harness import NOOP, Harness, t


def statuses(h: Harness) -> dict[str, str]:
    return {tid: r.status.value for tid, r in h.result().tasks.items()}


# -- cancellation: isolated vs cascading ---------------------------------------------------------


def test_isolated_a_failure_touches_nothing_else() -> None:
    h = Harness([t("a"), t("b"), t("c")], workers=2, cancellation="isolated")
    h.fail("a")
    assert h.running == ["c", "b"]  # c took a's worker
    h.finish("b")
    h.finish("c")
    assert statuses(h) == {"a": "failed", "b": "succeeded", "c": "succeeded"}
    assert h.ex.kills == []


def test_cascading_the_first_final_failure_kills_running_and_cancels_waiting_tasks() -> None:
    tasks = [t("a"), t("b"), t("c"), t("after_a", "a"), t("after_b", "b")]
    h = Harness(tasks, workers=2, cancellation="cascading", kill_grace=0)
    h.fail("a", "root cause")
    assert h.ex.kills == [("b", True)]
    assert h.done
    # Issue 2: under "cascading" every task that was still waiting ends cancelled, a's own
    # dependents included (they name a as the cause, like the others).
    assert statuses(h) == {"a": "failed", "b": "cancelled", "c": "cancelled",
                           "after_a": "cancelled", "after_b": "cancelled"}
    res = h.result()
    for tid in ("b", "c", "after_a", "after_b"):
        error = res[tid].error
        assert error is not None and error.kind == "cancelled" and error.upstream == "a"
        assert error.message == (f"task {tid!r} cancelled: task 'a' failed and cancellation "
                                 f"is 'cascading'")
    assert (res["b"].attempts, res["c"].attempts) == (1, 0)


def test_cascading_waits_until_the_retries_are_spent() -> None:
    h = Harness([t("a"), t("b")], workers=2, cancellation="cascading", kill_grace=0,
                retry=RetryPolicy(max_attempts=2, base_delay=1.0))
    h.fail("a")
    assert h.ex.kills == [] and h.running == ["b"]
    h.advance(1.0)
    h.fail("a")
    assert h.ex.kills == [("b", True)]
    assert statuses(h) == {"a": "failed", "b": "cancelled"}


def test_cascading_is_triggered_by_a_timeout_too() -> None:
    h = Harness([t("a", timeout=1.0), t("b")], workers=2, cancellation="cascading", kill_grace=0)
    h.advance(1.0)
    assert statuses(h) == {"a": "timed_out", "b": "cancelled"}


def test_cascading_is_not_triggered_by_success() -> None:
    h = Harness([t("a"), t("b")], workers=2, cancellation="cascading")
    h.finish("a")
    h.finish("b")
    assert statuses(h) == {"a": "succeeded", "b": "succeeded"}


# -- on_failure: skip vs continue -------------------------------------------------------------


def test_skip_ends_every_transitive_dependent_skipped_naming_the_failed_upstream() -> None:
    tasks = [t("a"), t("x"), t("b", "a"), t("c", "b"), t("d", "c", "x"), t("free", "x")]
    h = Harness(tasks, workers=2, on_failure="skip")
    h.fail("a")
    assert statuses_so_far(h) == {"a": "failed", "b": "skipped", "c": "skipped", "d": "skipped"}
    h.finish("x")
    h.finish("free")
    res = h.result()
    assert statuses(h)["free"] == "succeeded"
    for tid in ("b", "c", "d"):
        error = res[tid].error
        assert error is not None and (error.kind, error.upstream) == ("upstream", "a")
        assert error.message == f"task {tid!r} skipped: upstream task 'a' failed"
        assert res[tid].attempts == 0
    assert h.ex.started == ["a", "x", "free"]


def test_skip_after_a_timeout_says_timed_out() -> None:
    h = Harness([t("a", timeout=1.0), t("b", "a")], workers=1, kill_grace=0)
    h.advance(1.0)
    error = h.result()["b"].error
    assert error is not None and error.message == "task 'b' skipped: upstream task 'a' timed_out"


def test_skip_reaches_the_end_of_a_long_chain() -> None:
    n = 5000  # deeper than the interpreter's recursion limit
    h = Harness([t(f"n{i}", *((f"n{i - 1}",) if i else ())) for i in range(n)], workers=1)
    h.fail("n0")
    assert h.done
    res = h.result()
    assert res[f"n{n - 1}"].status is TaskStatus.SKIPPED
    assert res[f"n{n - 1}"].error is not None and res[f"n{n - 1}"].error.upstream == "n0"
    assert sum(r.status is TaskStatus.SKIPPED for r in res) == n - 1


def test_cancelling_a_long_chain_reaches_its_end() -> None:
    n = 5000
    h = Harness([t(f"n{i}", *((f"n{i - 1}",) if i else ())) for i in range(n)], workers=1,
                global_timeout=1.0, kill_grace=0)
    h.advance(1.0)
    assert h.done
    res = h.result()
    assert res["n0"].status is TaskStatus.TIMED_OUT
    assert sum(r.status is TaskStatus.CANCELLED for r in res) == n - 1


def test_continue_runs_dependents_and_a_ref_to_the_failed_task_gives_its_error() -> None:
    tasks = [t("a"), TaskSpec("b", NOOP, args=(Ref("a"), 7)), t("c", "b")]
    h = Harness(tasks, workers=1, on_failure="continue")
    h.fail("a", ValueError("bad input"))
    assert h.running == ["b"]
    arg, seven = h.ex.attempt_of("b").args
    assert isinstance(arg, TaskError) and seven == 7
    assert (arg.kind, arg.type, arg.message) == ("exception", "ValueError", "bad input")
    h.finish("b", "recovered")
    h.finish("c")
    assert statuses(h) == {"a": "failed", "b": "succeeded", "c": "succeeded"}


def test_continue_runs_the_dependents_of_a_timed_out_task_too() -> None:
    h = Harness([t("a", timeout=1.0), t("b", "a"), t("c", "b")], workers=1,
                on_failure="continue", kill_grace=0)
    h.advance(1.0)
    assert h.running == ["b"]
    assert h.ex.attempt_of("b").args == ()
    h.finish("b")
    h.finish("c")
    assert statuses(h) == {"a": "timed_out", "b": "succeeded", "c": "succeeded"}


# -- crashes ---------------------------------------------------------------------------------


def test_a_worker_crash_fails_only_its_task_and_says_how_it_died() -> None:
    h = Harness([t("a"), t("b")], workers=2)
    h.crash("a", signal="SIGSEGV")
    h.finish("b", 2)
    res = h.result()
    assert statuses(h) == {"a": "failed", "b": "succeeded"}
    error = res["a"].error
    assert error is not None and (error.kind, error.signal, error.exit_code) == (
        "crash", "SIGSEGV", None)
    assert error.message == "worker pid 1001 died while running task 'a' attempt 1: SIGSEGV"
    assert h.ex.kills == []


# -- arguments that cannot be pickled ---------------------------------------------------------


def test_an_unpicklable_argument_fails_that_task_and_the_run_goes_on() -> None:
    h = Harness([t("a"), t("b"), t("c", "a")], workers=1, start=False)
    h.ex.unpicklable.add("a")
    h.start()
    assert h.running == ["b"]
    h.finish("b")
    res = h.result()
    assert statuses(h) == {"a": "failed", "b": "succeeded", "c": "skipped"}
    error = res["a"].error
    assert error is not None and (error.kind, error.type) == ("pickling", "PicklingError")
    assert error.message == "task 'a': cannot pickle args[0]"
    assert res["a"].attempts == 1
    assert h.types("a")[-1] == "task.failed"


def test_an_unpicklable_argument_under_cascading_cancels_the_rest() -> None:
    h = Harness([t("a"), t("b"), t("c")], workers=1, cancellation="cascading", start=False)
    h.ex.unpicklable.add("a")
    h.start()
    assert h.done
    assert statuses(h) == {"a": "failed", "b": "cancelled", "c": "cancelled"}
    assert h.ex.submitted == []


def test_an_unpicklable_argument_under_continue_lets_its_dependent_run() -> None:
    # FIFO order and the dependent submitted first: the dependent becomes ready with a key that
    # sorts before the failed task's own.
    h = Harness([t("child", "a"), t("a"), t("b")], workers=1, on_failure="continue",
                critical_path_first=False, start=False)
    h.ex.unpicklable.add("a")
    h.start()
    assert h.running == ["child"]
    h.finish("child")
    h.finish("b")
    assert statuses(h) == {"child": "succeeded", "a": "failed", "b": "succeeded"}


# -- memory limit -------------------------------------------------------------------------------


def test_a_task_over_its_memory_limit_is_killed_at_the_next_check() -> None:
    h = Harness([t("a"), t("small")], workers=2, max_task_memory_mb=100,
                memory_check_interval=0.5, kill_grace=0, start=False)
    h.ex.memory_bytes.update({"a": 200 * 2**20, "small": 50 * 2**20})
    h.start()
    h.advance(0.499)
    assert h.ex.kills == []
    h.advance(0.001)
    assert h.ex.kills == [("a", True)]
    h.finish("small")
    res = h.result()
    assert statuses(h) == {"a": "failed", "small": "succeeded"}
    error = res["a"].error
    assert error is not None and (error.kind, error.type) == ("memory", "MemoryLimitExceeded")
    assert error.message == ("task 'a' attempt 1 exceeded its memory limit of 100 MB "
                             "(peak seen 200 MB); killed worker pid 1001 (SIGKILL)")
    assert [e.reason for e in h.sink.of_type("task.kill")] == ["memory_limit"]


def test_a_memory_kill_is_retried_per_retry_on_crash() -> None:
    h = Harness([t("a")], workers=1, max_task_memory_mb=100, memory_check_interval=0.5,
                kill_grace=0, retry=RetryPolicy(max_attempts=2), start=False)
    h.ex.memory_bytes["a"] = 200 * 2**20
    h.start()
    h.advance(0.5)
    assert h.running == ["a"] and h.ex.attempt_of("a").attempt == 2
    h.ex.memory_bytes["a"] = 10 * 2**20
    h.advance(0.5)
    h.finish("a", "fits now")
    res = h.result()["a"]
    assert (res.status, res.attempts) == (TaskStatus.SUCCEEDED, 2)
    assert h.ex.kills == [("a", True)]


def test_a_memory_kill_is_final_when_retry_on_crash_is_off() -> None:
    h = Harness([t("a")], workers=1, max_task_memory_mb=100, memory_check_interval=0.5,
                kill_grace=0, retry=RetryPolicy(max_attempts=3, retry_on_crash=False),
                start=False)
    h.ex.memory_bytes["a"] = 200 * 2**20
    h.start()
    h.advance(0.5)
    res = h.result()["a"]
    assert (res.status, res.attempts) == (TaskStatus.FAILED, 1)


def test_a_task_memory_limit_overrides_the_run_policy() -> None:
    h = Harness([t("a", max_memory_mb=300), t("b", max_memory_mb=10)], workers=2,
                max_task_memory_mb=100, memory_check_interval=0.5, kill_grace=0, start=False)
    h.ex.memory_bytes.update({"a": 200 * 2**20, "b": 20 * 2**20})
    h.start()
    h.advance(0.5)
    assert h.ex.kills == [("b", True)]


def statuses_so_far(h: Harness) -> dict[str, str]:
    terminal = {"succeeded", "failed", "timed_out", "cancelled", "skipped"}
    return {tid: s for tid, s in h.states().items() if s in terminal}
