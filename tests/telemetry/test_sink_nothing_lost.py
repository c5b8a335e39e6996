"""JsonLinesSink loses nothing silently: every line valid JSON on any stream, a full disk or a
failing stream reported with the exact count of missing events, a log cut mid-line appended to
on a fresh line, and ``mode="w"`` giving one log per sink."""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
import warnings

import pytest

from orchestrator import (
    InlineExecutor,
    JsonLinesSink,
    MemorySink,
    OrchestrationPolicy,
    SinkError,
    TaskSpec,
    execute_graph,
    execute_parallel,
)
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.reader import metrics_from_events, read_events
from orchestrator.telemetry.sinks import SinkWarning, format_event

WRITERS = ["inline", "process"]


def raise_with(message: str) -> None:
    raise ValueError(message)


def inline_run(tasks: list[TaskSpec], *sinks) -> None:
    execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), on_event=list(sinks),
                     executor=InlineExecutor())


def strict(encoding: str) -> tuple[io.TextIOWrapper, io.BytesIO]:
    raw = io.BytesIO()
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", write_through=True), raw


def test_a_lone_surrogate_is_written_escaped_on_a_strict_stream():
    # An error message holding undecodable bytes (surrogateescape) used to raise
    # UnicodeEncodeError in the sink, which dropped whole batches without a word.
    stream, raw = strict("utf-8")
    memory = MemorySink()
    tasks = [TaskSpec("bad", raise_with, args=("bytes \udc80\udcff here",))] + [
        TaskSpec(f"t{i}", "workers.agents:noop") for i in range(5)]
    with JsonLinesSink(stream, batch_size=4) as log:
        inline_run(tasks, log, memory)
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [e.seq for e in memory.events]
    [failed] = [json.loads(line) for line in lines if '"task.failed"' in line]
    assert failed["error"]["message"] == "bytes \udc80\udcff here"


@pytest.mark.parametrize("task_id", ["café", "emoji-\U0001f600", "bad-\udc80"])
def test_what_an_ascii_stream_cannot_hold_is_written_as_json_escapes(task_id):
    stream, raw = strict("ascii")
    with JsonLinesSink(stream) as log:
        log(Event("task.ready", 1, 1.7e9, "r", 0.0, task_id))
    [line] = raw.getvalue().decode("ascii").splitlines()
    assert json.loads(line)["task_id"] == task_id


class FillsUp(io.BufferedIOBase):
    """A device that takes ``limit`` bytes, then fails every write as a full disk would."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = b""

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        if len(self.data) + len(b) > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.data += bytes(b)
        return len(b)


def test_a_stream_that_fills_up_mid_run_is_reported_with_the_count_missing():
    device = FillsUp(4000)
    memory = MemorySink()
    stream = io.TextIOWrapper(device, encoding="utf-8", write_through=True)
    log = JsonLinesSink(stream, batch_size=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inline_run([TaskSpec(f"t{i}", "workers.agents:noop") for i in range(30)], log, memory)
    written = device.data.decode("utf-8").splitlines()
    missing = len(memory.events) - len(written)
    assert 0 < len(written) < len(memory.events)
    assert [json.loads(line)["seq"] for line in written] == \
        [e.seq for e in memory.events[:len(written)]]
    expected = (rf"^JSON Lines sink for .*: cannot write the event log: \[Errno 28\] No space "
                rf"left on device; {missing} of {len(memory.events)} events were not written$")
    # The run said so at its end, and so does every flush and the close.
    assert [w.category for w in caught] == [SinkWarning]
    with pytest.raises(SinkError, match=expected):
        log.flush()
    with pytest.raises(SinkError, match=expected):
        log.close()
    log.close()  # once closed, closed


@pytest.mark.parametrize("writer", WRITERS)
def test_a_run_logging_to_a_full_disk_finishes_and_says_what_is_missing(writer):
    memory = MemorySink()
    log = JsonLinesSink("/dev/full", writer=writer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = execute_parallel([TaskSpec(f"t{i}", "workers.agents:noop") for i in range(50)],
                                  OrchestrationPolicy(max_concurrency=2), on_event=[log, memory])
    assert result.ok
    [warning] = [str(w.message) for w in caught if w.category is SinkWarning]
    n = len(memory.events)
    assert warning.startswith(f"event sink {log!r} failed to flush: JSON Lines sink for "
                              f"'/dev/full': cannot write the event log: [Errno 28]")
    assert warning.endswith(f"; {n} of {n} events were not written")
    with pytest.raises(SinkError, match=rf"; {n} of {n} events were not written$"):
        log.close()


def test_a_disk_full_in_the_middle_of_a_batch_counts_the_lines_that_made_it(tmp_path):
    # RLIMIT_FSIZE stands in for a disk that fills up: the write that crosses it is short,
    # the next one fails (EFBIG), as with ENOSPC. In a child: the limit is per process.
    path = tmp_path / "log.jsonl"
    script = (
        "import resource, signal\n"
        "from orchestrator.telemetry.events import Event\n"
        "from orchestrator.telemetry.sinks import JsonLinesSink, SinkError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.RLIM_INFINITY))\n"
        f"sink = JsonLinesSink({str(path)!r}, batch_size=100)\n"
        "for i in range(300):\n"
        "    sink(Event('task.ready', i + 1, 1.7e9, 'r', 0.0, f'task-{i}'))\n"
        "try:\n"
        "    sink.close()\n"
        "except SinkError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = path.read_bytes()
    assert len(text) == 10_000  # the limit cut a line short
    complete = text.count(b"\n")
    assert proc.stdout.strip().endswith(f"File too large; {300 - complete} of 300 events were "
                                        f"not written")


@pytest.mark.parametrize("writer", WRITERS)
def test_appending_to_a_log_cut_mid_line_starts_on_a_fresh_line(tmp_path, writer):
    path = tmp_path / "log.jsonl"
    old = format_event(Event("task.ready", 1, 1.7e9, "old", 0.0, "a"))
    path.write_text(old + "\n" + old[:25])  # a kill or a full disk cut the last line
    with JsonLinesSink(path, mode="a", writer=writer) as log:
        for i in range(3):
            log(Event("task.ready", i + 1, 1.7e9, "new", 0.0, f"t{i}"))
    lines = path.read_text().splitlines()
    assert lines[:2] == [old, old[:25]]
    assert [json.loads(line)["run_id"] for line in lines[2:]] == ["new"] * 3


@pytest.mark.parametrize("writer", WRITERS)
def test_a_new_sink_starts_a_new_log_by_default(tmp_path, writer):
    # The README's snippet: run twice, read back, recompute the metrics; each time one run.
    path = tmp_path / "run.jsonl"
    tasks = [TaskSpec("a", "workers.agents:noop"), TaskSpec("b", "workers.agents:noop", deps=["a"])]
    for _ in range(2):
        with JsonLinesSink(path, writer=writer) as log:
            result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=1), on_event=log,
                                   executor=InlineExecutor())
        assert metrics_from_events(read_events(path)) == result.metrics


def test_an_event_that_cannot_be_formatted_costs_only_itself_and_is_reported():
    out = io.StringIO()
    good = [Event("task.ready", i + 1, 1.7e9, "r", 0.0, f"t{i}") for i in range(4)]
    bad = Event("task.succeeded", 5, 1.7e9, "r", 0.0, "x", 1, None, 0.1, None, None,
                {"busy_time": 0.1, "reports": {("a", "tuple"): "as a key"}})
    log = JsonLinesSink(out, batch_size=10)
    for e in [*good[:2], bad, *good[2:]]:
        log(e)
    with pytest.raises(SinkError, match=r": cannot format event seq 5 \(task.succeeded\): "
                                        r"TypeError: .*; 1 of 5 events were not written$"):
        log.close()
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [1, 2, 3, 4]


def test_bad_settings_of_the_new_options_are_named():
    with pytest.raises(ValueError, match=r"^JsonLinesSink.mode must be 'w' \(a new file\) or "
                                         r"'a' \(append\), got 'x'$"):
        JsonLinesSink(io.StringIO(), mode="x")
    with pytest.raises(ValueError, match=r"^JsonLinesSink.warn_backlog must be an integer >= 1 "
                                         r"\(bytes\), got 0$"):
        JsonLinesSink(io.StringIO(), warn_backlog=0)
