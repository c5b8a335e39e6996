"""What every Executor must do, one suite for all of them (STYLE.md habit 10).

``ExecutorContract`` is a mixin; ``test_executors.py`` runs it against each executor the
``executor`` fixture provides (``inline``, ``process``; a distributed one later). It covers what
both must do alike: run tasks, return values, report errors with their traceback, resolve Refs,
retry, expose the task's context. Timeouts and kills are not here: the inline executor cannot
stop a running call (tests/process covers them for the pool).
"""

from __future__ import annotations

import pytest

from orchestrator import (
    Executor,
    OrchestrationPolicy,
    Ref,
    RetryPolicy,
    TaskFailedError,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
)
from orchestrator.telemetry.sinks import MemorySink

from . import tasks as t

POLICY = OrchestrationPolicy(max_concurrency=2)


def _square(x: int) -> int:
    return x * x


class ExecutorContract:
    def test_runs_tasks_and_returns_their_values(self, executor: Executor) -> None:
        offset = 10
        specs = [
            TaskSpec("path", "workers.agents:add", args=(1, 2)),
            TaskSpec("function", _square, args=(7,)),
            TaskSpec("closure", lambda x: x + offset, args=(1,)),
            TaskSpec("kwargs", "workers.agents:echo", kwargs={"value": {"a": [1, None]}}),
            TaskSpec("none", "workers.agents:noop"),
        ]
        result = execute_parallel(specs, POLICY, executor=executor)
        assert result.ok
        assert result.values == {"path": 3, "function": 49, "closure": 11,
                                 "kwargs": {"a": [1, None]}, "none": None}
        assert [r.attempts for r in result] == [1] * 5
        assert list(result.tasks) == ["path", "function", "closure", "kwargs", "none"]

    def test_reports_an_error_with_its_traceback(self, executor: Executor) -> None:
        result = execute_parallel([TaskSpec("bad", t.raise_transient, args=("no luck",))],
                                  POLICY, executor=executor)
        r = result["bad"]
        assert r.status is TaskStatus.FAILED and r.attempts == 1
        err = r.error
        assert (err.kind, err.type, err.message) == ("exception", "Transient", "no luck")
        assert err.traceback.startswith("Traceback (most recent call last):")
        assert "in raise_transient\n    raise Transient(message)" in err.traceback
        assert err.traceback.endswith("tests.contract.tasks.Transient: no luck\n")
        assert err.type_chain[:2] == ("tests.contract.tasks.Transient", "builtins.ValueError")
        with pytest.raises(TaskFailedError, match=r"^1 of 1 tasks did not succeed:") as info:
            result.raise_for_failures()
        cause = info.value.__cause__
        assert type(cause) is t.Transient and str(cause) == "no luck"
        assert "raise Transient(message)" in str(cause.__cause__)

    def test_system_exit_in_a_task_is_its_failure_only(self, executor: Executor) -> None:
        result = execute_parallel([TaskSpec("exits", t.exits),
                                   TaskSpec("after", "workers.agents:echo", args=(1,))],
                                  OrchestrationPolicy(max_concurrency=1), executor=executor)
        assert (result["exits"].error.kind, result["exits"].error.type) == (
            "exception", "SystemExit")
        assert result["after"].value == 1

    def test_refs_carry_results_and_failures_skip_dependents(self, executor: Executor) -> None:
        specs = [
            TaskSpec("a", "workers.agents:echo", args=(2,)),
            TaskSpec("b", "workers.agents:add", args=(Ref("a"), [Ref("a"), 3])),
            TaskSpec("bad", "workers.agents:fail", args=("x",)),
            TaskSpec("c", "workers.agents:add", args=(Ref("b"), Ref("bad"))),
            TaskSpec("d", "workers.agents:echo", args=(Ref("c"),)),
        ]
        result = execute_graph(specs, POLICY, executor=executor)
        assert result["b"].value == 7
        assert [result[x].status.value for x in "cd"] == ["skipped", "skipped"]
        assert result["c"].error.message == "task 'c' skipped: upstream task 'bad' failed"
        assert result["d"].error.upstream == "bad"

    def test_on_failure_continue_hands_the_error_to_dependents(self, executor: Executor) -> None:
        specs = [TaskSpec("bad", "workers.agents:fail", args=("x",)),
                 TaskSpec("inspect", t.error_type, args=(Ref("bad"),))]
        result = execute_graph(specs, POLICY.replace(on_failure="continue"), executor=executor)
        assert result["inspect"].value == "TaskError:RuntimeError"

    def test_retries_until_success_with_the_policy_delays(self, executor: Executor) -> None:
        retry = RetryPolicy(max_attempts=3, base_delay=0.01)
        result = execute_parallel([TaskSpec("flaky", "workers.agents:flaky", args=(2, "ok"),
                                            retry=retry)], POLICY, executor=executor)
        r = result["flaky"]
        assert (r.status, r.value, r.attempts, r.retry_delays) == (
            TaskStatus.SUCCEEDED, "ok", 3, (0.01, 0.01))

    def test_retries_only_the_errors_the_policy_names(self, executor: Executor) -> None:
        only_value_errors = RetryPolicy(max_attempts=3, retry_on=("ValueError",))
        specs = [TaskSpec("runtime", "workers.agents:fail", args=("x",), retry=only_value_errors),
                 TaskSpec("value", t.raise_transient, args=("y",), retry=only_value_errors)]
        result = execute_parallel(specs, POLICY, executor=executor)
        assert (result["runtime"].attempts, result["value"].attempts) == (1, 3)

    def test_a_task_sees_its_context_and_reports_figures(self, executor: Executor) -> None:
        retry = RetryPolicy(max_attempts=2)
        specs = [TaskSpec("me", t.whoami), TaskSpec("costly", t.reporting, args=(0.25,)),
                 TaskSpec("again", "workers.agents:flaky", args=(1, "second"), retry=retry)]
        result = execute_parallel(specs, POLICY, executor=executor)
        assert result["me"].value == ("me", 1)
        assert result["costly"].reports == {"cost": 0.5, "tokens": 3, "model": "m1"}
        assert (result["again"].value, result["again"].attempts) == ("second", 2)

    def test_emits_the_same_task_events(self, executor: Executor) -> None:
        sink = MemorySink()
        specs = [TaskSpec("ok", "workers.agents:echo", args=(1,)),
                 TaskSpec("bad", "workers.agents:fail", args=("x",),
                          retry=RetryPolicy(max_attempts=2))]
        execute_parallel(specs, OrchestrationPolicy(max_concurrency=1), on_event=sink,
                         executor=executor)
        assert sink.types("ok") == ["task.ready", "task.started", "task.succeeded"]
        assert sink.types("bad") == ["task.ready", "task.started", "task.retry_scheduled",
                                     "task.ready", "task.started", "task.failed"]
        run_types = [e.type for e in sink.events if e.type.startswith("run.")]
        assert run_types == ["run.started", "run.finished"]
