"""OrchestrationResult helpers and metrics, from runs on a fake clock."""

from __future__ import annotations

import pytest

from orchestrator import (
    InlineExecutor,
    OrchestrationPolicy,
    RetryPolicy,
    TaskFailedError,
    TaskSpec,
    TaskStatus,
    execute_graph,
)
from orchestrator.model.results import RemoteTraceback
from orchestrator.testing import FakeClock
from tests.unit.harness import Harness, exactly, t


def explode(message: str) -> None:
    raise ValueError(message)


def test_helpers_of_a_run_with_failures() -> None:
    h = Harness([t("a"), t("b"), t("c", "b")], workers=2)
    h.finish("a", 41)
    h.fail("b", ValueError("broken"))
    res = h.result()
    assert not res.ok
    assert res.values == {"a": 41}
    assert [r.id for r in res.failed] == ["b", "c"]
    assert res["a"].ok and res["a"].value == 41 and res["a"].error is None
    assert len(res) == 3 and [r.id for r in res] == ["a", "b", "c"]


def test_a_clean_run_is_ok_and_raise_for_failures_is_silent() -> None:
    result = execute_graph([TaskSpec("a", pow, args=(2, 5)), TaskSpec("b", abs, args=(-3,))],
                           OrchestrationPolicy(max_concurrency=2), executor=InlineExecutor(),
                           clock=FakeClock())
    assert result.ok and result.values == {"a": 32, "b": 3}
    result.raise_for_failures()


def test_raise_for_failures_names_each_failed_task_with_the_worker_traceback_as_cause() -> None:
    result = execute_graph(
        [TaskSpec("a", explode, args=("first",)), TaskSpec("b", explode, args=("second",)),
         TaskSpec("c", abs, args=(1,), deps=("a",)), TaskSpec("d", abs, args=(1,))],
        OrchestrationPolicy(max_concurrency=2), executor=InlineExecutor(), clock=FakeClock())
    with pytest.raises(TaskFailedError, match=exactly(
            "3 of 4 tasks did not succeed:\n"
            "  a: failed (ValueError: first)\n"
            "  b: failed (ValueError: second)\n"
            "  c: skipped (UpstreamFailed: task 'c' skipped: upstream task 'a' failed)")) as info:
        result.raise_for_failures()
    err = info.value
    assert [r.id for r in err.failed] == ["a", "b", "c"]
    cause = err.__cause__
    assert isinstance(cause, ValueError) and str(cause) == "first"
    remote = cause.__cause__
    assert isinstance(remote, RemoteTraceback)
    assert remote.tb.startswith("Traceback (most recent call last):")
    assert 'raise ValueError(message)' in remote.tb and remote.tb.endswith("ValueError: first\n")


def test_raise_for_failures_without_an_exception_has_no_cause() -> None:
    h = Harness([t("a", timeout=1.0)], workers=1, kill_grace=0)
    h.advance(1.0)
    with pytest.raises(TaskFailedError) as info:
        h.result().raise_for_failures()
    assert info.value.__cause__ is None


def test_raise_for_failures_lists_ten_and_counts_the_rest() -> None:
    h = Harness([t(f"t{i:02}") for i in range(13)], workers=13)
    for i in range(13):
        h.fail(f"t{i:02}", f"e{i}")
    with pytest.raises(TaskFailedError) as info:
        h.result().raise_for_failures()
    lines = str(info.value).splitlines()
    assert lines[0] == "13 of 13 tasks did not succeed:"
    assert lines[1:11] == [f"  t{i:02}: failed (RuntimeError: e{i})" for i in range(10)]
    assert lines[11:] == ["  ... and 3 more"]


def test_metrics_come_from_the_attempts() -> None:
    h = Harness([t("a"), t("b"), t("c", "a")], workers=2,
                retry=RetryPolicy(max_attempts=2, base_delay=1.0))
    h.advance(2.0)
    h.finish("a", duration=2.0)
    h.fail("b", duration=2.0)  # retried after 1 s
    h.advance(1.0)
    h.finish("c", duration=1.0)
    h.finish("b", duration=3.0)
    m = h.result().metrics
    assert m.wall_time == pytest.approx(3.0)
    assert m.serial_time == pytest.approx(2.0 + 2.0 + 3.0 + 1.0)
    assert m.speedup_vs_serial == pytest.approx(8.0 / 3.0)
    assert (m.tasks, m.attempts, m.retries, m.workers) == (3, 4, 1, 2)
    assert dict(m.counts) == {"succeeded": 3}
    assert m.critical_path == pytest.approx(5.0)  # b's two attempts: 2 + 3
    assert h.result()["b"].busy_time == pytest.approx(5.0)


def test_task_result_to_dict_is_plain_data() -> None:
    h = Harness([t("a", tags={"team": "x"})], workers=1)
    h.fail("a", ValueError("v"), duration=0.5)
    d = h.result()["a"].to_dict()
    assert d["status"] == "failed" and d["attempts"] == 1 and d["duration"] == 0.5
    assert d["error"]["kind"] == "exception" and d["error"]["type"] == "ValueError"
    assert d["retry_delays"] == [] and h.result()["a"].tags == {"team": "x"}
    assert h.result()["a"].status is TaskStatus.FAILED
