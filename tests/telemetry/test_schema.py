"""The event schema: package data, every emitted event valid, malformed events rejected with the
place named, and docs/events.md documenting every type (its examples valid too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from orchestrator import (
    AllSucceeded,
    EventLogError,
    InlineExecutor,
    MemorySink,
    OrchestrationPolicy,
    TaskSpec,
    execute_graph,
)
from orchestrator.telemetry.events import SCHEMA_VERSION, EventType
from orchestrator.telemetry.reader import event_schema, validate_event
from orchestrator.telemetry.sinks import format_event

from .scenarios import SCENARIOS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_as_package_data():
    schema = event_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"] == {"const": SCHEMA_VERSION}
    typed = {rule["if"]["properties"]["type"]["const"] for rule in schema["allOf"]}
    # Every type the engine emits has its own rules.
    assert typed == set(EventType.ALL)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_event_of_a_scripted_run_is_valid(name):
    _, events = SCENARIOS[name]()
    types = set()
    for e in events:
        validate_event(json.loads(format_event(e)), f"{name} seq {e.seq}")
        validate_event(e.to_dict(), f"{name} seq {e.seq}")
        types.add(e.type)
    assert types <= set(EventType.ALL)


def test_the_scenarios_cover_every_task_and_worker_event_type():
    seen = {e.type for sc in SCENARIOS.values() for e in sc()[1]}
    expected = set(EventType.ALL) - {EventType.GATE_PASSED, EventType.GATE_FAILED,
                                     EventType.SINK_LAGGING,  # test_sink_liveness has it
                                     # tests/store/test_durable_runs.py has these
                                     EventType.TASK_REUSED, EventType.TASK_UNCACHEABLE,
                                     EventType.STORE_STOPPED}
    assert expected <= seen, expected - seen


def test_gate_events_are_valid():
    sink = MemorySink()
    execute_graph([TaskSpec("a", "workers.agents:fail")], OrchestrationPolicy(max_concurrency=1),
                  executor=InlineExecutor(), on_event=sink,
                  gates=[AllSucceeded(), lambda r: None])
    gates = sink.of_type(EventType.GATE_PASSED, EventType.GATE_FAILED)
    assert [e.type for e in gates] == ["gate.failed", "gate.passed"]
    for e in sink.events:
        validate_event(json.loads(format_event(e)))


def _event(**over):
    base = {"schema": 1, "type": "task.started", "ts": "2026-01-02T03:04:05.000006Z", "seq": 3,
            "run_id": "r1", "elapsed": 0.5, "task_id": "a", "attempt": 1, "pid": 42}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("over, message", [
    ({"seq": 0}, r"^x: 'task.started' event, field seq: 0 is less than the minimum of 1$"),
    ({"ts": "2026-01-02 03:04:05"}, r"^x: 'task.started' event, field ts: .* does not match"),
    ({"attempt": None}, r"^x: 'task.started' event: 'attempt' is a required"),
    ({"extra": 1}, r"Additional properties are not allowed \('extra' was unexpected\)"),
    ({"type": "Task Started"}, r"field type: 'Task Started' does not match"),
    ({"type": "task.succeeded", "duration": 0.5, "data": {}},
     r"field data: 'busy_time' is a required property"),
    ({"type": "task.failed", "reason": "x", "data": {"busy_time": 0},
      "error": {"kind": "oops", "type": "E", "message": ""}},
     r"field error.kind: 'oops' is not one of"),
])
def test_a_malformed_event_is_rejected_naming_the_place(over, message):
    with pytest.raises(EventLogError, match=message):
        validate_event(_event(**over), "x")


def test_a_newer_schema_version_is_named_as_such():
    with pytest.raises(EventLogError, match=r"^x: schema version 2 is newer than this reader"):
        validate_event(_event(schema=2), "x")


def test_unknown_event_types_and_data_keys_are_allowed():
    validate_event(_event(type="task.paused"))
    validate_event(_event(type="worker.started", data={"slot": 0, "startup": 0.1, "new": 1}))


# -- docs/events.md ------------------------------------------------------------------------


def test_the_docs_document_every_event_type():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z_]+\.[a-z_]+)`", text, re.M))
    assert documented == set(EventType.ALL)


def test_every_example_in_the_docs_is_a_valid_event():
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(lines) >= 14
    for line in lines:
        obj = json.loads(line)
        validate_event(obj, f"docs example {obj.get('type')}")
