"""Telemetry: the immutable events a run emits, the sinks that take them, the event-log reader,
metrics, costs, the Chrome trace and OpenTelemetry.

    from orchestrator.telemetry import read_events, metrics_from_events, summarize
"""

from .reader import (
    RunSummary,
    event_schema,
    metrics_from_events,
    one_run,
    parse_event,
    read_events,
    split_runs,
    summarize,
    task_results_from_events,
    validate_event,
)

__all__ = [
    "read_events", "parse_event", "event_schema", "validate_event", "split_runs",
    "one_run", "task_results_from_events", "metrics_from_events", "summarize", "RunSummary",
]
