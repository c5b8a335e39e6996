"""OpenTelemetry adapter against the SDK's in-memory exporter (skipped without the extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from orchestrator import InlineExecutor, OrchestrationPolicy, TaskSpec, execute_parallel  # noqa: E402
from orchestrator.telemetry.otel import OtelSink, export_events  # noqa: E402

from .scenarios import SCENARIOS  # noqa: E402


def provider():
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp, exporter


def test_one_span_per_attempt_under_a_run_span():
    tp, exporter = provider()
    _, events = SCENARIOS["retries_timeouts_and_skips"]()
    export_events(events, tp)
    spans = exporter.get_finished_spans()
    [run] = [s for s in spans if s.name == "orchestrator.run"]
    attempts = [s for s in spans if s is not run]
    assert sorted((s.name, s.attributes["orchestrator.attempt"],
                   s.attributes["orchestrator.outcome"]) for s in attempts) == [
        ("a", 1, "retry"), ("a", 2, "succeeded"), ("b", 1, "retry"), ("b", 2, "timed_out"),
        ("c", 1, "succeeded"), ("e", 1, "failed")]
    for s in attempts:
        assert s.parent is not None and s.parent.span_id == run.context.span_id
        assert s.context.trace_id == run.context.trace_id
    by = {(s.name, s.attributes["orchestrator.attempt"]): s for s in attempts}
    assert by[("a", 2)].status.status_code is StatusCode.OK
    assert by[("a", 2)].attributes["orchestrator.cpu_time_s"] == 0.25
    assert by[("b", 2)].status.status_code is StatusCode.ERROR
    assert by[("b", 2)].attributes["error.type"] == "TimeoutError"
    assert (by[("b", 2)].end_time - by[("b", 2)].start_time) == 2_000_000_000
    assert [ev.name for ev in by[("b", 1)].events] == ["kill"]
    assert by[("a", 1)].attributes["orchestrator.retry_delay_s"] == 0.5
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["orchestrator.tasks.skipped"] == 1
    assert [ev.name for ev in run.events].count("task.skipped") == 1


def test_live_sink_on_a_run():
    tp, exporter = provider()
    tasks = [TaskSpec("x", "workers.agents:echo", args=(1,)),
             TaskSpec("y", "workers.agents:fail")]
    execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), executor=InlineExecutor(),
                     on_event=OtelSink(tp))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"orchestrator.run", "x", "y"}
    assert spans["x"].status.status_code is StatusCode.OK
    assert spans["y"].status.status_code is StatusCode.ERROR
    assert spans["y"].status.description == "RuntimeError: agent failed"
