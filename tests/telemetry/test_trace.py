"""Chrome trace export: lanes per worker, one slice per attempt, retries and kills marked."""

from __future__ import annotations

import json

import pytest

from orchestrator.telemetry.reader import read_events
from orchestrator.telemetry.trace import chrome_trace, write_chrome_trace

from .scenarios import SCENARIOS


@pytest.fixture(scope="module")
def trace():
    _, events = SCENARIOS["retries_timeouts_and_skips"]()
    return chrome_trace(events), events


def slices(tr):
    return [e for e in tr["traceEvents"] if e["ph"] == "X"]


def test_one_slice_per_attempt_with_its_outcome(trace):
    tr, events = trace
    got = sorted((s["args"]["task_id"], s["args"]["attempt"], s["args"]["outcome"])
                 for s in slices(tr))
    assert got == [("a", 1, "retry"), ("a", 2, "succeeded"), ("b", 1, "retry"),
                   ("b", 2, "timed_out"), ("c", 1, "succeeded"), ("e", 1, "failed")]
    started = {(e.task_id, e.attempt): e for e in events if e.type == "task.started"}
    for s in slices(tr):
        start = started[(s["args"]["task_id"], s["args"]["attempt"])]
        assert s["tid"] == start.pid and s["ts"] == start.elapsed * 1e6
    b2 = next(s for s in slices(tr) if s["name"] == "b #2")
    assert (b2["ts"], b2["dur"], b2["cname"]) == (2.5e6, 2.0e6, "terrible")


def test_one_named_lane_per_worker_pid(trace):
    tr, events = trace
    names = {e["tid"]: e["args"]["name"] for e in tr["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    pids = {e.pid for e in events if e.type == "task.started"}
    assert names == {0: "scheduler", **{p: f"worker {p}" for p in pids}}
    # attempts on one lane never overlap
    for pid in pids:
        lane = sorted((s["ts"], s["ts"] + s["dur"]) for s in slices(tr) if s["tid"] == pid)
        pairs = zip(lane, lane[1:], strict=False)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairs)


def test_retries_and_kills_are_marked(trace):
    tr, _ = trace
    marks = [(e["name"], e["args"].get("reason")) for e in tr["traceEvents"] if e["ph"] == "i"
             and e["cat"] in ("task.retry_scheduled", "task.kill")]
    assert marks == [("retry a", "exception"), ("kill b", "timeout"), ("retry b", "timeout"),
                     ("kill b", "timeout")]


def test_written_file_is_json_and_reads_from_a_log(tmp_path, trace):
    _, events = trace
    from orchestrator.telemetry.sinks import format_event

    log = tmp_path / "run.jsonl"
    log.write_text("".join(format_event(e) + "\n" for e in events))
    out = tmp_path / "run.trace.json"
    write_chrome_trace(read_events(log), out)
    loaded = json.loads(out.read_text())
    assert loaded["displayTimeUnit"] == "ms"
    assert len(slices(loaded)) == 6
    for e in loaded["traceEvents"]:
        assert {"name", "ph", "pid"} <= set(e)
        if e["ph"] in ("X", "i"):
            assert isinstance(e["ts"], float) and e["ts"] >= 0


def test_an_attempt_the_log_never_ends_is_shown_unfinished():
    _, events = SCENARIOS["retries_timeouts_and_skips"]()
    first_end = next(i for i, e in enumerate(events) if e.type == "task.retry_scheduled")
    tr = chrome_trace(events[:first_end])  # a and b started; nothing ended yet
    assert sorted((s["name"], s["args"]["outcome"]) for s in slices(tr)) == [
        ("a #1", "unfinished"), ("b #1", "unfinished")]


def test_bad_input():
    with pytest.raises(ValueError, match=r"^no events to export$"):
        chrome_trace([])
    _, events = SCENARIOS["cascade_cancels_the_rest"]()
    with pytest.raises(ValueError, match=r"^no events of run 'nope'"):
        chrome_trace(events, "nope")
