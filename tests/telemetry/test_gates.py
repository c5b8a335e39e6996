"""Quality gates: built-ins, gates run in a worker (timeout and retry rules), events."""

from __future__ import annotations

import time

import pytest

from orchestrator import (
    AllSucceeded,
    GateVerdict,
    InlineExecutor,
    MaxFailureRate,
    MemorySink,
    MinSpeedup,
    OrchestrationPolicy,
    PolicyError,
    RetryPolicy,
    SpecError,
    TaskSpec,
    WorkerGate,
    execute_graph,
    execute_parallel,
    in_worker,
)


def run(tasks, gates, **kw):
    sink = MemorySink()
    result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), on_event=sink,
                              executor=InlineExecutor(), gates=gates, **kw)
    return result, sink


OK = [TaskSpec(f"ok{i}", "workers.agents:echo", args=(i,)) for i in range(3)]
BAD = [TaskSpec("bad", "workers.agents:fail")]


def test_all_succeeded():
    result, _ = run(OK, [AllSucceeded()])
    assert result.ok and result.gates == (GateVerdict("all_succeeded", True,
                                                      "all 3 tasks succeeded"),)
    result, _ = run(OK + BAD, [AllSucceeded()])
    assert not result.ok
    assert result.gates[0].message == "1 of 4 tasks did not succeed: bad (failed)"


def test_max_failure_rate_is_inclusive():
    result, _ = run(OK + BAD, [MaxFailureRate(0.25), MaxFailureRate(0.2)])
    assert [(v.passed, v.message) for v in result.gates] == [
        (True, "failure rate 25.0% (1 of 4) <= 25.0%"),
        (False, "failure rate 25.0% (1 of 4) > 20.0%")]


def test_min_speedup_reads_the_metrics():
    result, _ = run(OK, [MinSpeedup(0), MinSpeedup(1e9)])
    assert [v.passed for v in result.gates] == [True, False]
    assert result.gates[1].message.endswith("< 1e+09x")


@pytest.mark.parametrize("make, message", [
    (lambda: MaxFailureRate(1.5), r"^MaxFailureRate.rate must be a number from 0 to 1, got 1.5$"),
    (lambda: MinSpeedup(-1), r"^MinSpeedup.x must be a number >= 0, got -1$"),
    (lambda: in_worker(AllSucceeded(), timeout=0), r"^in_worker: timeout must be > 0 seconds"),
    (lambda: in_worker(AllSucceeded(), retry=3), r"^in_worker: retry must be a RetryPolicy"),
])
def test_bad_gate_settings_are_named(make, message):
    with pytest.raises(PolicyError, match=message):
        make()


def test_in_worker_needs_a_callable():
    with pytest.raises(SpecError, match=r"^in_worker: fn must be callable or an import path"):
        in_worker(42)  # type: ignore[arg-type]


def test_the_existing_gate_and_merge_forms_still_work():
    result, sink = run(OK, [lambda r: (r.merged == 3, f"sum {r.merged}"), lambda r: None],
                       merge=lambda values: sum(values.values()))
    assert result.ok and result.merged == 3
    assert [v.message for v in result.gates] == ["sum 3", ""]


def test_a_gate_in_the_executor_passes_and_is_marked_in_its_event():
    result, sink = run(OK, [in_worker(AllSucceeded(), timeout=5)])
    assert result.ok and result.gates[0].name == "all_succeeded"
    [event] = sink.of_type("gate.passed")
    assert event.data["in_worker"] is True and event.data["attempts"] == 1
    # The gate's own attempt is not a task of the run.
    assert result.metrics.tasks == 3 and len(sink.of_type("task.succeeded")) == 3


def test_a_worker_gate_is_retried_under_its_retry_policy():
    from workers import current_task

    def auditor(result):
        if current_task().attempt == 1:
            raise RuntimeError("auditor hiccup")
        return True, f"audited {len(result)} tasks"

    gate = in_worker(auditor, name="auditor", retry=RetryPolicy(max_attempts=2))
    result, sink = run(OK, [gate])
    assert result.gates == (GateVerdict("auditor", True, "audited 3 tasks"),)
    assert sink.of_type("gate.passed")[0].data["attempts"] == 2


def test_a_worker_gate_that_keeps_failing_fails_with_the_reason():
    def auditor(result):
        raise ValueError("unreadable output")

    result, sink = run(OK, [in_worker(auditor, retry=RetryPolicy(max_attempts=2))])
    [verdict] = result.gates
    assert not result.ok and not verdict.passed
    assert verdict.message == ("gate 'auditor' ran in a worker and failed after 2 attempt(s): "
                               "ValueError: unreadable output")
    assert "ValueError: unreadable output" in (verdict.error or "")
    [event] = sink.of_type("gate.failed")
    assert event.reason == verdict.message


def test_worker_gate_names():
    assert WorkerGate("pkg.mod:audit").name == "audit"
    assert in_worker(MinSpeedup(2)).name == "min_speedup"
    assert in_worker(AllSucceeded(), name="custom").name == "custom"


@pytest.mark.process
def test_a_worker_gate_past_its_timeout_is_killed_and_fails():
    def stuck(result):
        time.sleep(600)

    started = time.monotonic()
    result = execute_graph([TaskSpec("a", "workers.agents:noop")],
                           OrchestrationPolicy(max_concurrency=2, kill_grace=0.1),
                           gates=[in_worker(stuck, name="stuck", timeout=0.5),
                                  in_worker(AllSucceeded(), timeout=30)])
    assert time.monotonic() - started < 60  # killed, not waited for
    stuck_verdict, ok_verdict = result.gates
    assert not stuck_verdict.passed
    assert stuck_verdict.message.startswith("gate 'stuck' ran in a worker and timed_out after "
                                            "1 attempt(s): TimeoutError: task 'gate:stuck' "
                                            "attempt 1 timed out after 0.5s")
    assert ok_verdict.passed and result["a"].ok and not result.ok
