"""JsonLinesSink: every event written, identical to format_event, visible without a flush,
flushed at the end of a run (Ctrl-C too), surviving the parent's death, errors reported."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import types

import pytest

from orchestrator import (
    InlineExecutor,
    JsonLinesSink,
    MemorySink,
    OrchestrationPolicy,
    SinkError,
    TaskSpec,
    execute_parallel,
)
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.reader import read_events
from orchestrator.telemetry.sinks import format_event

from .scenarios import SCENARIOS


def synthetic(n: int, run_id: str = "r") -> list[Event]:
    return [Event("task.ready", i + 1, 1.7e9 + i / 1000, run_id, i / 1000, f"t{i}")
            for i in range(n)]


def wait_for(predicate, what: str, patience: float = 10.0) -> None:
    """Wait for another process to do something; the patience is reached only if it is stuck."""
    deadline = time.monotonic() + patience
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


WRITERS = ["inline", "process"]


@pytest.mark.parametrize("writer", WRITERS)
def test_every_event_is_written_exactly_as_format_event_gives(tmp_path, writer):
    _, events = SCENARIOS["retries_timeouts_and_skips"]()  # errors, data, reports included
    path = tmp_path / "log.jsonl"
    with JsonLinesSink(path, batch_size=7, writer=writer) as sink:
        assert sink.backend == writer
        for e in events:
            sink(e)
        sink.flush()
        assert path.read_text(encoding="utf-8") == "".join(format_event(e) + "\n"
                                                           for e in events)
        assert sink.written == len(events)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_reader_sees_events_without_a_flush(tmp_path, writer):
    path = tmp_path / "tail.jsonl"
    with JsonLinesSink(path, batch_size=1000, flush_interval=0.05, writer=writer) as sink:
        for e in synthetic(3):
            sink(e)  # far from a full batch: the timer thread hands them over
        wait_for(lambda: path.read_text().count("\n") == 3, "the timer to ship 3 events")


@pytest.mark.parametrize("writer", WRITERS)
def test_appends_to_an_existing_log(tmp_path, writer):
    path = tmp_path / "log.jsonl"
    path.write_text(format_event(synthetic(1, "old")[0]) + "\n")
    with JsonLinesSink(path, mode="a", writer=writer) as sink:
        for e in synthetic(2, "new"):
            sink(e)
    assert [e.run_id for e in read_events(path)] == ["old", "new", "new"]


def test_a_stream_without_a_file_descriptor_is_written_inline():
    out = io.StringIO()
    events = synthetic(5)
    with JsonLinesSink(out, batch_size=2, writer="process") as sink:
        assert sink.backend == "inline"
        for e in events:
            sink(e)
        sink.flush()
        assert out.getvalue() == "".join(format_event(e) + "\n" for e in events)


@pytest.mark.parametrize("writer", WRITERS)
def test_dash_writes_to_standard_output(capfd, writer):
    with JsonLinesSink("-", writer=writer) as sink:
        for e in synthetic(4):
            sink(e)
    lines = capfd.readouterr().out.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4]


def test_a_class_the_writer_cannot_import_is_still_written(tmp_path):
    module = types.ModuleType("only_in_the_parent")
    sys.modules[module.__name__] = module

    class Odd:
        pass

    Odd.__module__, Odd.__qualname__ = module.__name__, "Odd"
    module.Odd = Odd  # type: ignore[attr-defined]
    try:
        event = Event("task.succeeded", 1, 1.7e9, "r", 0.5, "a", 1, 7, 0.5, None, None,
                      {"busy_time": 0.5, "reports": {"thing": Odd()}})
        path = tmp_path / "odd.jsonl"
        with JsonLinesSink(path, writer="process") as sink:
            sink(event)
        [line] = path.read_text().splitlines()
        assert json.loads(line)["data"]["reports"] == {"thing": "<Odd>"}
    finally:
        del sys.modules[module.__name__]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_write_error_is_reported_at_flush(tmp_path, writer):
    sink = JsonLinesSink("/dev/full", writer=writer)
    try:
        for e in synthetic(3):
            sink(e)
        with pytest.raises(SinkError, match=r"^JSON Lines sink for '/dev/full': cannot write the "
                                            r"event log: \[Errno 28\] No space left on device"):
            sink.flush()
    finally:
        with pytest.raises(SinkError):
            sink.close()


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"^JsonLinesSink.batch_size must be an integer >= 1, "
                                         r"got 0$"):
        JsonLinesSink(io.StringIO(), batch_size=0)
    with pytest.raises(ValueError, match=r"^JsonLinesSink.flush_interval must be > 0 seconds"):
        JsonLinesSink(io.StringIO(), flush_interval=0)
    with pytest.raises(ValueError, match=r"^JsonLinesSink.writer must be 'inline' or 'process', "
                                         r"got 'thread'$"):
        JsonLinesSink(io.StringIO(), writer="thread")
    with pytest.raises(FileNotFoundError):
        JsonLinesSink("/no/such/dir/log.jsonl")


def test_an_inline_sink_closes_the_file_it_opened(tmp_path):
    sink = JsonLinesSink(tmp_path / "x.jsonl")
    assert sink.backend == "inline"
    stream = sink._drain.target.file
    sink.close()
    assert stream is not None and stream.closed


def test_close_stops_the_writer_and_is_idempotent(tmp_path):
    sink = JsonLinesSink(tmp_path / "x.jsonl", writer="process")
    proc = sink._proc
    assert proc is not None and proc.poll() is None
    sink.close()
    sink.close()
    assert proc.poll() == 0
    sink(synthetic(1)[0])
    with pytest.raises(SinkError, match=r"is closed: 1 event\(s\) given to it after close\(\) "
                                        r"were not written$"):
        sink.flush()


def test_events_already_handed_over_survive_the_parent_being_killed(tmp_path):
    path = tmp_path / "killed.jsonl"
    script = (
        "import os, signal, sys\n"
        "from orchestrator.telemetry.events import Event\n"
        "from orchestrator.telemetry.sinks import JsonLinesSink\n"
        f"sink = JsonLinesSink({str(path)!r}, batch_size=100, writer='process')\n"
        "for i in range(1000):\n"
        "    sink(Event('task.ready', i + 1, 1.7e9, 'r', 0.0, f't{i}'))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    # The orphaned writer (re-parented to this test process, a subreaper) drains the pipe.
    wait_for(lambda: path.read_text().count("\n") == 1000, "the orphaned writer to finish")
    assert [e.seq for e in read_events(path)] == list(range(1, 1001))


@pytest.mark.parametrize("writer", WRITERS)
def test_ctrl_c_in_a_run_still_flushes_the_log(tmp_path, writer):
    def interrupt():
        raise KeyboardInterrupt

    tasks = [TaskSpec("a", "workers.agents:noop"), TaskSpec("b", interrupt),
             TaskSpec("c", "workers.agents:noop")]
    memory = MemorySink()
    path = tmp_path / "ctrl-c.jsonl"
    with JsonLinesSink(path, batch_size=10_000, writer=writer) as sink:
        with pytest.raises(KeyboardInterrupt):
            execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1),
                             on_event=[sink, memory], executor=InlineExecutor())
        events = read_events(path)  # before close: the run's own flush wrote them
    assert [e.to_dict() for e in events] == [e.to_dict() for e in memory.events]
    assert events[-1].type == "run.finished" and events[-1].reason == "interrupted"



@pytest.mark.parametrize("data", [
    {"busy_time": 0.1 + 0.2, "cpu_time": 5e-324, "peak_rss": 2**40},
    {"a": True, "b": None}, {"a": float("nan")}, {"a": {"x": [1, "y"]}}, {1: 2.0},
    {"é\n": -0.0, "b": 1e300},
])
def test_event_data_is_written_as_json_dumps_would(data):
    event = Event("task.succeeded", 1, 1.7e9, "r", 0.5, "a", 1, 7, 0.5, None, None, data)
    line = format_event(event)
    assert line.endswith(',"data":' + json.dumps(data, separators=(",", ":"), ensure_ascii=False)
                         + "}")


@pytest.mark.parametrize("writer", WRITERS)
def test_a_lone_surrogate_in_a_task_id_still_gives_valid_json(tmp_path, writer):
    path = tmp_path / "s.jsonl"
    with JsonLinesSink(path, writer=writer) as sink:
        sink(Event("task.ready", 1, 1.7e9, "r", 0.0, "bad\udc80id"))
    assert json.loads(path.read_text(encoding="utf-8"))["task_id"] == "bad\udc80id"
