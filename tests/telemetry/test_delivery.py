"""Event delivery: non-blocking sinks on the loop, every other callable on the run's delivery
thread, in order; the run returns once each had every event, then flushes; a callback that
raises (even SystemExit) is dropped once with a warning and costs the others nothing."""

from __future__ import annotations

import collections
import io
import threading
import warnings

from orchestrator import (
    CallbackSink,
    FakeClock,
    InlineExecutor,
    JsonLinesSink,
    MemorySink,
    OrchestrationPolicy,
    TaskSpec,
    execute_graph,
)
from orchestrator.telemetry.delivery import delivers_inline
from orchestrator.telemetry.events import Event

GUARD = 60.0  # seconds; reached only when a callback ran on the loop


def run(on_event, n: int = 5) -> None:
    execute_graph([TaskSpec(f"t{i}", "workers.agents:noop") for i in range(n)],
                  OrchestrationPolicy(max_concurrency=1), on_event=on_event,
                  executor=InlineExecutor(), clock=FakeClock())


class RunFinished:
    """An inline sink that says when ``run.finished`` passed (the loop is done)."""

    nonblocking = True

    def __init__(self) -> None:
        self.seen = threading.Event()

    def __call__(self, event: Event) -> None:
        if event.type == "run.finished":
            self.seen.set()


def test_a_callback_runs_off_the_loop_and_the_run_returns_after_it_had_everything():
    done = RunFinished()
    got: list[Event] = []
    threads = set()
    held = []

    def slow(event: Event) -> None:
        threads.add(threading.current_thread())
        if not got:  # hold the first event until the whole run went by
            held.append(done.seen.wait(GUARD))
        got.append(event)

    memory = MemorySink()
    run([slow, memory, done])
    assert held == [True], "the callback ran on the loop: the run waited for it"
    assert got == memory.events  # every event, in order, before the run returned
    assert [t.name[:7] for t in threads] == ["events-"]


def test_what_declares_itself_nonblocking_is_called_on_the_loop():
    assert delivers_inline(MemorySink())
    assert delivers_inline(JsonLinesSink(io.StringIO()))
    assert delivers_inline([].append) and delivers_inline(collections.deque().append)
    assert not delivers_inline(print)
    assert not delivers_inline(CallbackSink(lambda e: None))
    assert not delivers_inline(lambda e: None)
    assert not delivers_inline(type("Liar", (), {"nonblocking": "yes"})())  # True, no less

    class OnTheLoop:
        nonblocking = True

        def __call__(self, event: Event) -> None:
            inline.add(threading.current_thread().name)

    inline: set[str] = set()
    off: set[str] = set()
    run([OnTheLoop(), lambda e: off.add(threading.current_thread().name)])
    # Inline: on the thread that emits (the loop's during the run; the caller's for the gates
    # and run.finished, which execute() judges and finishes once the loop is done).
    assert "orchestrator-loop" in inline and inline <= {"orchestrator-loop", "MainThread"}
    assert len(off) == 1 and not inline & off
    assert next(iter(off)).startswith("events-")  # the run's delivery thread


def test_a_raising_callback_off_the_loop_is_dropped_once_and_the_others_get_everything():
    calls = []

    def exits(event: Event) -> None:
        calls.append(event.type)
        raise SystemExit(3)  # user code: even this must not end the run or its delivery

    def fine(event: Event) -> None:
        got.append(event)

    got: list[Event] = []
    memory = MemorySink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run([exits, fine, memory])
    assert calls == ["run.started"]
    assert got == memory.events and memory.types()[-1] == "run.finished"
    [warning] = [str(w.message) for w in caught]
    assert warning.startswith("on_event callback raised SystemExit: 3 (on a 'run.started' "
                              "event); it will not be called again in run ")


def test_a_sink_is_flushed_after_it_had_every_event():
    log: list[str] = []

    class Buffered:  # user code (no nonblocking): called on the delivery thread
        def __call__(self, event: Event) -> None:
            log.append(event.type)

        def flush(self) -> None:
            log.append("flush")

    run(Buffered(), n=2)
    assert log[-2:] == ["run.finished", "flush"] and log.count("flush") == 1
