"""read_events: parse + validate a JSON Lines log, with errors that name the file and line;
metrics recomputed from the log equal the run's own."""

from __future__ import annotations

import io
import json

import pytest

from orchestrator import (
    EventLogError,
    FakeClock,
    InlineExecutor,
    JsonLinesSink,
    MemorySink,
    OrchestrationPolicy,
    Ref,
    RetryPolicy,
    TaskSpec,
    execute_graph,
    execute_parallel,
)
from orchestrator.telemetry.costs import CpuTimeCost, ReportedCost
from orchestrator.telemetry.reader import (
    metrics_from_events,
    read_events,
    split_runs,
    summarize,
    task_results_from_events,
)
from orchestrator.telemetry.sinks import format_event

from .scenarios import SCENARIOS


def write_log(path, events):
    path.write_text("".join(format_event(e) + "\n" for e in events), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_log_reads_back_to_the_same_events(tmp_path, name):
    _, events = SCENARIOS[name]()
    back = read_events(write_log(tmp_path / "log.jsonl", events))
    assert [e.to_dict() for e in back] == [e.to_dict() for e in events]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_metrics_recomputed_from_the_log_equal_the_runs(tmp_path, name):
    result, events = SCENARIOS[name]()
    back = read_events(write_log(tmp_path / "log.jsonl", events))
    assert metrics_from_events(back) == result.metrics
    rebuilt = task_results_from_events(back)
    assert set(rebuilt) == set(result.tasks)
    for tid, r in result.tasks.items():
        b = rebuilt[tid]
        assert (b.status, b.attempts, b.busy_time, b.retry_delays, b.cpu_time, b.peak_rss,
                dict(b.reports)) == (r.status, r.attempts, r.busy_time, r.retry_delays,
                                     r.cpu_time, r.peak_rss, dict(r.reports)), tid


def test_the_scenario_metrics_are_not_trivial():
    # Guards the equality tests above: they compare real figures, not zeros.
    result, _ = SCENARIOS["retries_timeouts_and_skips"]()
    m = result.metrics
    assert (m.serial_time, m.wall_time, m.retries, m.attempts, m.critical_path) == (
        4.6875, 4.5, 2, 6, 4.0)
    assert m.cpu_time == 0.375
    assert m.cost_estimate == pytest.approx(0.375 / 3600 * 36 + 0.75)


def test_metrics_from_a_real_jsonl_log_equal_result_metrics(tmp_path):
    """Through the whole path: api -> JsonLinesSink (writer process) -> file -> read_events."""
    clock = FakeClock()

    def work(seconds):
        clock.advance(seconds)
        return seconds

    tasks = [TaskSpec("a", work, args=(0.5,)), TaskSpec("b", work, args=(0.25,)),
             TaskSpec("c", work, args=(Ref("a"),)), TaskSpec("d", "workers.agents:fail"),
             TaskSpec("e", work, args=(0.125,), deps=("d",))]
    path = tmp_path / "run.jsonl"
    with JsonLinesSink(path) as sink:
        result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=1), on_event=sink,
                               executor=InlineExecutor(), clock=clock,
                               cost=CpuTimeCost(per_cpu_hour=1.0) + ReportedCost())
        # flushed by execute_graph: readable before the sink is closed
        events = read_events(path)
    assert events[-1].type == "run.finished"
    assert metrics_from_events(events) == result.metrics
    assert result.metrics.serial_time == 1.25 and result.metrics.critical_path == 1.0


@pytest.mark.process
def test_metrics_from_a_process_run_log_equal_result_metrics(tmp_path):
    retry = RetryPolicy(max_attempts=2)
    tasks = [TaskSpec(f"t{i}", "workers.agents:burn_cpu", args=(0.002,)) for i in range(20)]
    tasks += [TaskSpec("flaky", "workers.agents:flaky", args=(1,), retry=retry),
              TaskSpec("boom", "workers.agents:fail")]
    path = tmp_path / "run.jsonl"
    with JsonLinesSink(path, writer="process") as sink:
        result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=2, task_timeout=30),
                                  on_event=sink, cost=CpuTimeCost(per_cpu_hour=10.0))
    events = read_events(path)
    assert metrics_from_events(events) == result.metrics
    assert result.metrics.retries == 1 and result.metrics.cpu_time > 0


def test_several_runs_in_one_log(tmp_path):
    path = tmp_path / "two.jsonl"
    results = []
    with JsonLinesSink(path) as sink:
        for n in (2, 3):
            tasks = [TaskSpec(f"t{i}", "workers.agents:noop") for i in range(n)]
            results.append(execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1),
                                            on_event=sink, executor=InlineExecutor()))
    events = read_events(path)
    assert list(split_runs(events)) == [r.run_id for r in results]
    with pytest.raises(EventLogError, match=r"^the events hold 2 runs \(\[.*\]\); pass run_id="):
        metrics_from_events(events)
    for r in results:
        assert metrics_from_events(events, r.run_id) == r.metrics
    summaries = summarize(path)
    assert [(s.run_id, s.ok, s.counts) for s in summaries] == [
        (r.run_id, True, {"succeeded": len(r)}) for r in results]


def test_summarize_names_failures_gates_and_slowest(tmp_path):
    clock = FakeClock()

    def work(seconds):
        clock.advance(seconds)

    sink = MemorySink()
    tasks = [TaskSpec("slow", work, args=(2.0,)), TaskSpec("fast", work, args=(0.5,)),
             TaskSpec("bad", "workers.agents:fail", args=("no luck",))]
    execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), on_event=sink,
                     executor=InlineExecutor(), clock=clock, gates=[lambda r: (False, "nope")])
    [s] = summarize(sink.events, top=2)
    assert s.finished and s.ok is False
    assert s.slowest == (("slow", 2.0), ("fast", 0.5))
    assert s.failures == (("bad", "failed", "RuntimeError: no luck"),)
    assert [g["message"] for g in s.gates] == ["nope"]
    text = s.render()
    assert "failed: bad (RuntimeError: no luck)" in text
    assert "<lambda> FAILED: nope" in text
    assert json.loads(json.dumps(s.to_dict()))["metrics"]["serial_time"] == 2.5


def test_a_run_without_run_finished_is_summarised_but_has_no_metrics(tmp_path):
    _, events = SCENARIOS["cascade_cancels_the_rest"]()
    cut = [e for e in events if e.type != "run.finished"]
    [s] = summarize(cut)
    assert not s.finished and s.metrics is None and s.ok is None
    assert "did not finish" in s.render()
    with pytest.raises(EventLogError, match=r"has no run.finished event"):
        metrics_from_events(cut)


# -- bad input ----------------------------------------------------------------------------


def _lines(tmp_path, *lines):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _good(seq, **over):
    obj = {"schema": 1, "type": "task.ready", "ts": "2026-01-02T03:04:05.000006Z", "seq": seq,
           "run_id": "r1", "elapsed": 0.1, "task_id": "a"}
    obj.update(over)
    return json.dumps(obj) + "\n"


def test_bad_json_names_the_file_and_line(tmp_path):
    path = _lines(tmp_path, _good(1), "{not json}\n")
    with pytest.raises(EventLogError, match=rf"^{path}:2: not valid JSON: Expecting property "
                                            r"name enclosed in double quotes at column 2$") as e:
        read_events(path)
    assert (e.value.path, e.value.line) == (str(path), 2)


def test_a_line_cut_short_says_so(tmp_path):
    path = _lines(tmp_path, _good(1), _good(2)[:30])
    with pytest.raises(EventLogError, match=r":2: not valid JSON: .* \(the last line is cut "
                                            r"short: was the writer stopped mid-line\?\)$"):
        read_events(path)


def test_a_schema_violation_names_the_line_and_field(tmp_path):
    path = _lines(tmp_path, _good(1), _good(2, attempt=0))
    with pytest.raises(EventLogError,
                       match=rf"^{path}:2: 'task.ready' event, field attempt: 0 is less than the "
                             r"minimum of 1$"):
        read_events(path)


def test_seq_must_increase_within_a_run(tmp_path):
    path = _lines(tmp_path, _good(1), _good(5, run_id="r2"), _good(3), _good(3))
    with pytest.raises(EventLogError, match=rf"^{path}:4: seq 3 does not follow seq 3 of run "
                                            r"'r1' \(seq must increase strictly within a run\)$"):
        read_events(path)


def test_not_an_object(tmp_path):
    with pytest.raises(EventLogError, match=r":1: expected a JSON object, got list$"):
        read_events(_lines(tmp_path, "[1, 2]\n"))


def test_missing_file(tmp_path):
    with pytest.raises(EventLogError, match=r"nope.jsonl: no such event log$"):
        read_events(tmp_path / "nope.jsonl")


def test_a_stream_and_blank_lines(tmp_path):
    events = read_events(io.StringIO(_good(1) + "\n   \n" + _good(2)))
    assert [e.seq for e in events] == [1, 2]


def test_validate_false_still_parses(tmp_path):
    path = _lines(tmp_path, _good(1, attempt=0))
    assert read_events(path, validate=False)[0].attempt == 0
    with pytest.raises(EventLogError, match=r":1: malformed event: KeyError: 'seq'$"):
        read_events(_lines(tmp_path, '{"schema": 1, "type": "x.y"}\n'), validate=False)
