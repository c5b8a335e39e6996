"""Chrome trace export: lanes per worker named by metadata events, one slice per attempt,
retries and kills marked; every pid, tid and time an integer (what Perfetto draws well)."""

from __future__ import annotations

import json

import pytest

from orchestrator.telemetry.reader import read_events
from orchestrator.telemetry.trace import RUN_PID, SCHEDULER_TID, chrome_trace, write_chrome_trace

from ..report.runs import Log, finished, ran
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
        assert s["tid"] == start.pid and s["ts"] == round(start.elapsed * 1e6)
        assert s["pid"] == RUN_PID
    b2 = next(s for s in slices(tr) if s["name"] == "b #2")
    assert (b2["ts"], b2["dur"], b2["cname"]) == (2.5e6, 2.0e6, "terrible")
    assert isinstance(b2["ts"], int) and isinstance(b2["dur"], int)


def test_one_named_lane_per_worker_pid(trace):
    tr, events = trace
    names = {e["tid"]: e["args"]["name"] for e in tr["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    pids = {e.pid for e in events if e.type == "task.started"}
    assert names == {SCHEDULER_TID: "scheduler", **{p: f"worker {p}" for p in pids}}
    processes = [(e["pid"], e["args"]["name"]) for e in tr["traceEvents"]
                 if e["ph"] == "M" and e["name"] == "process_name"]
    assert processes == [(RUN_PID, f"run {events[0].run_id}")]
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
        assert {"name", "ph", "pid", "ts"} <= set(e)
        assert isinstance(e["ts"], int) and e["ts"] >= 0


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


def test_the_shape_perfetto_and_chrome_tracing_draw_well(trace):
    """Integer pid, tid, ts and dur; no lane on pid or tid 0 (Perfetto's idle thread); every
    lane that holds an event is named by a metadata event, and sorted by one."""
    tr, _ = trace
    named, sorted_ = set(), set()
    for e in tr["traceEvents"]:
        for key in ("pid", "tid", "ts", "dur"):
            if key in e:
                assert type(e[key]) is int, (key, e)
        assert e["pid"] > 0 and e.get("tid", 1) > 0, e
        if e["ph"] == "M" and e["name"] == "thread_name":
            named.add((e["pid"], e["tid"]))
        if e["ph"] == "M" and e["name"] == "thread_sort_index":
            sorted_.add((e["pid"], e["tid"]))
    used = {(e["pid"], e["tid"]) for e in tr["traceEvents"] if e["ph"] != "M"}
    assert used <= named == sorted_
    # one lane's slices never overlap, even after rounding to whole microseconds
    ends: dict[tuple[int, int], int] = {}
    for s in sorted(slices(tr), key=lambda s: s["ts"]):
        lane = (s["pid"], s["tid"])
        assert s["ts"] >= ends.get(lane, 0)
        ends[lane] = s["ts"] + s["dur"]


def test_rounding_keeps_back_to_back_attempts_apart():
    log = Log()
    ran(log, "a", 0.0000004, 1.0000006, 7)  # ends at 1.0000006 s: rounds up
    ran(log, "b", 1.0000006, 2.0, 7)  # starts there
    finished(log, 2.0)
    a, b = slices(chrome_trace(log.events))
    assert (a["ts"], a["dur"], b["ts"], b["dur"]) == (0, 1_000_001, 1_000_001, 999_999)


def test_cluster_workers_are_processes_named_by_their_address():
    log = Log()
    ran(log, "a", 0.0, 1.0, 7, data={"worker": "tcp://10.0.0.2:8786"})
    ran(log, "b", 0.0, 1.0, 7, data={"worker": "tcp://10.0.0.3:8786"})  # same pid, other host
    ran(log, "c", 1.0, 2.0, 8, data={"worker": "tcp://10.0.0.2:8786"})
    log.add("worker.died", 2.5, pid=7, reason="crashed", data={"worker": "tcp://10.0.0.3:8786"})
    finished(log, 3.0)
    tr = chrome_trace(log.events)
    meta = tr["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert processes == {RUN_PID: "run r1", 2: "tcp://10.0.0.2:8786", 3: "tcp://10.0.0.3:8786"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta
               if e["name"] == "thread_name"}
    assert threads == {(RUN_PID, SCHEDULER_TID): "scheduler", (2, 7): "worker 7",
                       (2, 8): "worker 8", (3, 7): "worker 7"}
    assert {s["name"]: (s["pid"], s["tid"]) for s in slices(tr)} == {
        "a #1": (2, 7), "b #1": (3, 7), "c #1": (2, 8)}
    (died,) = [e for e in meta if e["ph"] == "i" and e["cat"] == "worker.died"]
    assert (died["pid"], died["tid"], died["args"]["worker"]) == (3, 7, "tcp://10.0.0.3:8786")
