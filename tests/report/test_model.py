"""The report's view model: events (scripted runs, no processes) -> lanes, attempts, tasks,
header facts and use over time."""

from __future__ import annotations

import pytest

from orchestrator import EventLogError
from orchestrator.report.model import build_view
from orchestrator.report.series import peak, step_series
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.reader import metrics_from_events

from ..telemetry.scenarios import SCENARIOS


@pytest.fixture(scope="module")
def retries():
    result, events = SCENARIOS["retries_timeouts_and_skips"]()
    return result, events, build_view(events)


def test_one_attempt_per_start_with_how_it_ended(retries):
    _, events, view = retries
    got = [(a.task, a.attempt, a.start, a.end, a.outcome) for a in view.attempts]
    assert got == [("a", 1, 0.0, 0.25, "failed"), ("b", 1, 0.0, 2.0, "timed_out"),
                   ("e", 1, 0.25, 0.3125, "crashed"), ("a", 2, 0.75, 1.0, "succeeded"),
                   ("c", 1, 1.0, 1.125, "succeeded"), ("b", 2, 2.5, 4.5, "timed_out")]
    assert len(view.attempts) == sum(1 for e in events if e.type == "task.started")
    kills = {(a.task, a.attempt): a.kill for a in view.attempts if a.kill}
    assert kills == {("b", 1): "timeout", ("b", 2): "timeout"}
    errors = {(a.task, a.attempt): a.error.kind for a in view.attempts if a.error}
    assert errors == {("a", 1): "exception", ("b", 1): "timeout", ("e", 1): "crash",
                      ("b", 2): "timeout"}


def test_one_lane_per_worker_pid_with_its_deaths(retries):
    _, events, view = retries
    pids = {e.pid for e in events if e.type == "task.started"}
    assert [lane.key for lane in view.lanes] == [str(p) for p in sorted(pids)]
    assert {a.lane for a in view.attempts} == {str(p) for p in pids}
    deaths = {lane.key: lane.deaths for lane in view.lanes}
    assert deaths == {"1001": ((0.3125, "crashed"),), "1002": ((2.0, "killed"),),
                      "1003": ((4.5, "killed"),)}


def test_tasks_match_the_run_result_including_those_that_never_ran(retries):
    result, _, view = retries
    assert list(view.tasks) == ["a", "b", "e", "c", "d"]  # the order the log names them
    for tid, task in view.tasks.items():
        r = result[tid]
        assert (task.status, task.attempts, task.busy_time, task.duration, task.error) == (
            r.status.value, r.attempts, r.busy_time, r.duration, r.error), tid
    d = view.tasks["d"]
    assert (d.status, d.attempts, d.deps, d.started_at, d.queued) == ("skipped", 0, ("b",), None,
                                                                        0.0)
    assert d.error is not None and d.error.upstream == "b"
    assert view.tasks["c"].deps == ("a",)


def test_queued_time_runs_from_ready_to_started(retries):
    _, _, view = retries
    e = next(a for a in view.attempts if a.task == "e")
    assert (e.ready, e.start, e.queued) == (0.0, 0.25, 0.25)  # waited for a's worker
    a2 = next(a for a in view.attempts if (a.task, a.attempt) == ("a", 2))
    assert a2.ready == 0.75  # the retry became ready when its delay passed
    assert view.tasks["e"].queued == 0.25


def test_header_carries_the_runs_metrics_and_facts(retries):
    result, events, view = retries
    h = view.header
    assert h.metrics == metrics_from_events(events) == result.metrics
    assert h.counts == result.metrics.counts
    assert (h.status, h.timeouts, h.crashes, h.kills, h.reused, h.worker_deaths) == (
        "failed", 2, 1, 2, 0, 3)
    assert (h.run_id, h.end, h.max_concurrency) == (result.run_id, 4.5, 2)
    assert h.started.endswith("Z")


def test_running_count_over_time_never_passes_the_limit(retries):
    _, _, view = retries
    assert view.running == ((0.0, 2.0), (0.3125, 1.0), (0.75, 2.0), (1.125, 1.0), (2.0, 0.0),
                            (2.5, 1.0), (4.5, 0.0))
    assert peak(view.running) == 2 == view.header.max_concurrency
    assert view.resources == {} and view.capacity == {}


def test_gates_with_verdicts_and_reasons(retries):
    _, events, _ = retries
    gate = Event("gate.failed", 99, events[-1].ts, events[0].run_id, 4.5, reason="too slow",
                 data={"name": "min_speedup", "passed": False, "message": "too slow",
                       "error": "Traceback ...", "in_worker": True, "attempts": 2})
    passed = gate._replace(type="gate.passed", seq=100, reason=None,
                           data={"name": "ok", "passed": True, "message": "fine"})
    view = build_view([*events[:-1], gate, passed, events[-1]])
    assert [(g.name, g.passed, g.message, g.error, g.attempts) for g in view.gates] == [
        ("min_speedup", False, "too slow", "Traceback ...", 2), ("ok", True, "fine", None, None)]


def test_a_cascade_shows_the_killed_attempt_as_cancelled():
    _, events = SCENARIOS["cascade_cancels_the_rest"]()
    view = build_view(events)
    assert [(a.task, a.outcome, a.kill) for a in view.attempts] == [
        ("a", "failed", None), ("b", "cancelled", "cascade")]
    assert {t.id: t.status for t in view.tasks.values()} == {
        "a": "failed", "b": "cancelled", "c": "cancelled", "d": "cancelled"}


def test_an_interrupted_run_says_so():
    _, events = SCENARIOS["interrupted_during_retry_wait"]()
    view = build_view(events)
    assert view.header.status == "interrupted"
    assert view.tasks["a"].status == "cancelled" and view.tasks["a"].attempts == 1


def test_a_log_cut_short_shows_what_ran_as_unfinished(retries):
    _, events, _ = retries
    cut = next(i for i, e in enumerate(events) if e.type == "task.succeeded")
    view = build_view(events[:cut])  # a#2 and b#1... still running
    assert view.header.status == "unfinished" and view.header.metrics is None
    open_ = [(a.task, a.attempt) for a in view.attempts if a.end is None]
    assert open_ and all(a.outcome == "unfinished" for a in view.attempts if a.end is None)
    assert {view.tasks[t].status for t, _ in open_} == {"unfinished"}
    assert view.header.counts.get("unfinished", 0) >= len(open_)
    assert view.running[-1][0] == view.header.end  # open attempts hold until the log ends


def test_several_runs_need_a_run_id():
    _, first = SCENARIOS["cascade_cancels_the_rest"]()
    _, second = SCENARIOS["interrupted_during_retry_wait"]()
    with pytest.raises(EventLogError, match=r"hold 2 runs .*pass run_id="):
        build_view(first + second)
    assert build_view(first + second, second[0].run_id).header.status == "interrupted"
    with pytest.raises(EventLogError, match=r"^no events to report$"):
        build_view([])


def test_unknown_event_types_and_data_keys_are_ignored(retries):
    _, events, view = retries
    extra = [e._replace(data={**(e.data or {}), "later_key": [1, 2]}) for e in events]
    odd = events[3]._replace(type="task.something_new", data={"x": 1})
    again = build_view([*extra[:3], odd, *extra[3:]])
    assert again.attempts == view.attempts and again.tasks == view.tasks
    assert again.header == view.header


def test_step_series_counts_back_to_back_spans_once():
    assert step_series([(0.0, 1.0, 1), (1.0, 2.0, 1), (0.5, 1.5, 2)]) == (
        (0.0, 1.0), (0.5, 3.0), (1.5, 1.0), (2.0, 0.0))
    assert step_series([(0.0, 0.0, 1)]) == () and peak(()) == 0
    assert step_series([(0.0, 1.0, 0.1)] * 3)[-1] == (1.0, 0.0)  # float sums return to zero
