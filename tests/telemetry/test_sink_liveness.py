"""No sink, callback or pipe delays the scheduler's loop: a deadline is enforced on time while
the event log's reader reads nothing and while a callback is stuck, and the run still returns
only once every event was delivered and written.

Each test holds a reader (or a callback) back until the test's own inline sink sees the
deadline enforced; a guard releases it after ``GUARD`` seconds, which only a loop that waited
on the reader (or the callback) reaches, and the test then fails naming that."""

from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any

import pytest

from orchestrator import JsonLinesSink, MemorySink, OrchestrationPolicy, TaskSpec, execute_graph
from orchestrator.telemetry.events import Event
from orchestrator.telemetry.reader import validate_event
from orchestrator.telemetry.sinks import SinkWarning

pytestmark = pytest.mark.process

GUARD = 60.0  # seconds; reached only when the loop waited on the held-back reader or callback
QUICK = 3000  # their ~9,000 events (~2 MB) fill a 64 KiB pipe many times over


class Cue:
    """An inline sink (it never blocks) that sets ``seen`` once an event of ``type_`` passes."""

    nonblocking = True

    def __init__(self, type_: str) -> None:
        self.type = type_
        self.seen = threading.Event()

    def __call__(self, event: Event) -> None:
        if event.type == self.type:
            self.seen.set()


class HeldReader:
    """Reads a pipe only once ``cue`` is set (or the guard passed), then to its end."""

    def __init__(self, cue: threading.Event) -> None:
        self._r, w = os.pipe()
        self.stream = os.fdopen(w, "w", encoding="utf-8")
        self.cue = cue
        self.by_guard = False
        self.data = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        self.by_guard = not self.cue.wait(GUARD)
        chunks = []
        while chunk := os.read(self._r, 1 << 16):
            chunks.append(chunk)
        os.close(self._r)
        self.data = b"".join(chunks)

    def finish(self) -> list[dict[str, Any]]:
        """Close the write end, wait for the reader, return the lines it read as JSON."""
        self.stream.close()
        self._thread.join(GUARD)
        return [json.loads(line) for line in self.data.decode("utf-8").splitlines()]


def flood_then_hang() -> list[TaskSpec]:
    """Quick tasks first; the hanging one (1 s timeout) starts only after all of them ended,
    when the log's ~2 MB of events surely filled the pipe."""
    quick = [TaskSpec(f"q{i}", "workers.agents:noop") for i in range(QUICK)]
    return quick + [TaskSpec("hang", "workers.agents:hang", deps=[q.id for q in quick],
                             timeout=1.0)]


def test_a_log_on_a_pipe_nobody_reads_does_not_hold_a_deadline():
    cue = Cue("task.timed_out")
    reader = HeldReader(cue.seen)
    memory = MemorySink()
    with JsonLinesSink(reader.stream) as log:
        result = execute_graph(flood_then_hang(), OrchestrationPolicy(max_concurrency=2),
                               on_event=[log, memory, cue])
    lines = reader.finish()
    assert not reader.by_guard, "the loop waited for the log's reader: the deadline was late"
    assert result["hang"].status.value == "timed_out"
    assert result["hang"].duration < GUARD / 2
    assert [line["seq"] for line in lines] == [e.seq for e in memory.events]  # nothing lost


def test_a_stuck_callback_does_not_hold_a_deadline_and_still_gets_every_event():
    cue = Cue("task.timed_out")
    got: list[Event] = []
    held_back = []

    def stuck(event: Event) -> None:  # user code: blocks on its first event
        if not got:
            held_back.append(not cue.seen.wait(GUARD))
        got.append(event)

    memory = MemorySink()
    tasks = [TaskSpec("hang", "workers.agents:hang", timeout=1.0),
             TaskSpec("q", "workers.agents:noop")]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2),
                           on_event=[stuck, memory, cue])
    assert held_back == [False], "the loop waited for the callback: the deadline was late"
    assert result["hang"].status.value == "timed_out"
    # The run returned only after the callback had every event, in order.
    assert got == memory.events


def test_a_backlog_past_its_bound_is_reported_in_an_event_and_a_warning_and_kept():
    cue = Cue("run.finished")
    reader = HeldReader(cue.seen)
    memory = MemorySink()
    tasks = [TaskSpec(f"q{i}", "workers.agents:noop") for i in range(300)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with JsonLinesSink(reader.stream, batch_size=64, warn_backlog=20_000) as log:
            execute_graph(tasks, OrchestrationPolicy(max_concurrency=2),
                          on_event=[log, memory, cue])
    lines = reader.finish()
    assert not reader.by_guard
    # Reported when the backlog passed the bound, then each time it doubled.
    lagging = memory.of_type("sink.lagging")
    assert lagging, "no sink.lagging event"
    backlogs = []
    for e in lagging:
        validate_event(e.to_dict())
        assert e.data is not None and e.data["sink"] == repr(log)
        assert e.data["limit_bytes"] == 20_000 and e.data["backlog_events"] > 0
        backlogs.append(e.data["backlog_bytes"])
    assert backlogs[0] > 20_000
    assert all(later > 2 * earlier for earlier, later in zip(backlogs, backlogs[1:], strict=False))
    sink_warnings = [str(w.message) for w in caught if w.category is SinkWarning]
    assert len(sink_warnings) == len(lagging)
    assert sink_warnings[0].startswith(f"event sink {log!r} is behind its reader by ")
    # Nothing was dropped: the log has every event, the sink.lagging one included.
    assert [line["seq"] for line in lines] == [e.seq for e in memory.events]


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_calls_return_at_once_while_the_reader_reads_nothing(writer):
    # ~4 MB of events: more than the pipe to the reader and the writer process's 1 MiB pipe.
    go = threading.Event()
    reader = HeldReader(go)
    events = [Event("task.ready", i + 1, 1.7e9, "r", 0.0, f"task-{i:06d}-" + "x" * 100)
              for i in range(20_000)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SinkWarning)
        with JsonLinesSink(reader.stream, writer=writer, warn_backlog=1 << 20) as log:
            for e in events:
                log(e)  # a call that waited on the reader would wait for the guard
            go.set()
    lines = reader.finish()
    assert not reader.by_guard, "a call waited for the reader"
    assert [line["seq"] for line in lines] == [e.seq for e in events]
