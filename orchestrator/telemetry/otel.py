"""OpenTelemetry adapter (optional extra ``otel``: ``pip install orchestrator-engine[otel]``).

``OtelSink`` is an event sink that turns a run into spans: one ``orchestrator.run`` span per
run, and under it one span per task *attempt*, named after the task, with its outcome as the
span status (``OK`` when the task succeeded, ``ERROR`` with the error otherwise, unset for an
attempt that was cancelled) and attributes ``orchestrator.*`` (task id, attempt, outcome,
worker pid, run time, CPU time, peak RSS, retry delay) plus ``error.type``. Kills and retries
are span events; gates and worker deaths are events on the run span. Span times are the events'
wall-clock times, so a log replayed later (``export_events``) gives the same spans::

    from opentelemetry.sdk.trace import TracerProvider
    execute_graph(tasks, on_event=OtelSink(provider))

The sink works live, but building spans costs the loop several microseconds an event: for runs
of many tiny tasks, write a JSON Lines log and replay it with ``export_events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from .events import STATUS_OF_EVENT, TERMINAL_EVENT_TYPES, Event, EventType

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["OtelSink", "export_events"]

_NS = 1_000_000_000


def _ns(ts: float) -> int:
    return int(round(ts * _NS))


class OtelSink:
    """An event handler that records each run and each task attempt as OpenTelemetry spans.

    ``tracer_provider``: where spans go (default: the global provider).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("OtelSink needs OpenTelemetry: pip install "
                              "'orchestrator-engine[otel]'") from exc
        self._trace = trace
        self.tracer: Tracer = trace.get_tracer("orchestrator", tracer_provider=tracer_provider)
        self._runs: dict[str, Span] = {}
        self._attempts: dict[tuple[str, str], Span] = {}

    def __call__(self, e: Event) -> None:
        t = e.type
        if t == EventType.RUN_STARTED:
            data = dict(e.data or {})
            self._runs[e.run_id] = self.tracer.start_span(
                "orchestrator.run", start_time=_ns(e.ts),
                attributes=_clean({"orchestrator.run_id": e.run_id,
                                   "orchestrator.tasks": data.get("tasks"),
                                   "orchestrator.max_concurrency": data.get("max_concurrency")}))
            return
        run = self._runs.get(e.run_id)
        if run is None:
            return  # events of a run whose start we did not see
        if t == EventType.TASK_STARTED and e.task_id is not None:
            ctx = self._trace.set_span_in_context(run)
            self._attempts[(e.run_id, e.task_id)] = self.tracer.start_span(
                e.task_id, context=ctx, start_time=_ns(e.ts),
                attributes=_clean({"orchestrator.run_id": e.run_id,
                                   "orchestrator.task_id": e.task_id,
                                   "orchestrator.attempt": e.attempt,
                                   "orchestrator.worker_pid": e.pid}))
        elif t == EventType.TASK_KILL and e.task_id is not None:
            span = self._attempts.get((e.run_id, e.task_id))
            if span is not None:
                data = dict(e.data or {})
                span.add_event("kill", timestamp=_ns(e.ts), attributes=_clean({
                    "orchestrator.reason": e.reason, "orchestrator.signal": data.get("signal")}))
        elif t == EventType.TASK_RETRY_SCHEDULED or t in TERMINAL_EVENT_TYPES:
            span = self._attempts.pop((e.run_id, e.task_id or ""), None)
            if span is not None:
                self._end_attempt(span, e)
            elif t in TERMINAL_EVENT_TYPES:  # never ran (skipped, cancelled while waiting)
                run.add_event(t, timestamp=_ns(e.ts), attributes=_clean({
                    "orchestrator.task_id": e.task_id,
                    "orchestrator.reason": e.reason}))
        elif t in (EventType.GATE_PASSED, EventType.GATE_FAILED, EventType.WORKER_DIED):
            data = dict(e.data or {})
            run.add_event(t, timestamp=_ns(e.ts), attributes=_clean({
                "orchestrator.gate": data.get("name"), "orchestrator.message": data.get("message"),
                "orchestrator.worker_pid": e.pid, "orchestrator.reason": e.reason}))
        elif t == EventType.RUN_FINISHED:
            self._end_run(run, e)

    def _end_attempt(self, span: Span, e: Event) -> None:
        from opentelemetry.trace import Status, StatusCode

        status = STATUS_OF_EVENT.get(e.type)  # None: a task.retry_scheduled
        outcome = "retry" if status is None else status.value
        data = dict(e.data or {})
        span.set_attributes(_clean({
            "orchestrator.outcome": outcome,
            "orchestrator.run_time_s": e.duration,
            "orchestrator.cpu_time_s": data.get("cpu_time"),
            "orchestrator.peak_rss_bytes": data.get("peak_rss"),
            "orchestrator.retry_delay_s": data.get("delay"),
            "orchestrator.worker_pid": e.pid,
            "error.type": e.error.type if e.error is not None else None,
            "orchestrator.error_kind": e.error.kind if e.error is not None else None,
        }))
        if e.type == EventType.TASK_SUCCEEDED:
            span.set_status(Status(StatusCode.OK))
        elif e.type != EventType.TASK_CANCELLED and e.error is not None:
            span.set_status(Status(StatusCode.ERROR, str(e.error)))
        span.end(end_time=_ns(e.ts))

    def _end_run(self, run: Span, e: Event) -> None:
        from opentelemetry.trace import Status, StatusCode

        data = dict(e.data or {})
        for key in [k for k in self._attempts if k[0] == e.run_id]:  # left open: end them
            self._attempts.pop(key).end(end_time=_ns(e.ts))
        counts = data.get("counts") or {}
        run.set_attributes(_clean({
            "orchestrator.ok": data.get("ok"), "orchestrator.interrupted": data.get("interrupted"),
            "orchestrator.retries": data.get("retries"),
            "orchestrator.cost_estimate": data.get("cost_estimate"),
            **{f"orchestrator.tasks.{k}": v for k, v in counts.items()},
        }))
        run.set_status(Status(StatusCode.OK) if data.get("ok")
                       else Status(StatusCode.ERROR, "the run did not succeed"))
        run.end(end_time=_ns(e.ts))
        del self._runs[e.run_id]


def export_events(events: Iterable[Event], tracer_provider: TracerProvider | None = None) -> None:
    """Replay events (e.g. ``read_events(path)``) as spans, as ``OtelSink`` would have live."""
    sink = OtelSink(tracer_provider)
    for e in events:
        sink(e)


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attributes cannot be None."""
    return {k: v for k, v in attrs.items() if v is not None}
