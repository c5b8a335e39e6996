"""A damaged or hostile event log is an ``EventLogError`` naming the line, never a crash
(issue 11, item 7): ``events summarize`` exits 2 with ``Error: <file>:<line>: ...``, and
``--lenient`` skips the bad lines with a count. ``read_events(..., run_id=)`` picks one run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from orchestrator import EventLogError
from orchestrator.telemetry.reader import read_events, summarize
from orchestrator.telemetry.sinks import format_event
from tests.cli.helpers import invoke

from .scenarios import SCENARIOS

Mutation = Callable[[list[dict[str, Any]]], str]


def _objects() -> list[dict[str, Any]]:
    _, events = SCENARIOS["retries_timeouts_and_skips"]()
    return [json.loads(format_event(e)) for e in events]


def _lines(objs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def _set(pick: Callable[[dict[str, Any]], bool], change: Callable[[dict[str, Any]], None],
         ) -> Mutation:
    def mutate(objs: list[dict[str, Any]]) -> str:
        objs = copy.deepcopy(objs)
        for o in objs:
            if pick(o):
                change(o)
        return _lines(objs)
    return mutate


def _terminal(o: dict[str, Any]) -> bool:
    return o["type"] in ("task.succeeded", "task.failed", "task.timed_out")


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    # name: (the damage, what the error says)
    "huge int duration": (_set(lambda o: o.get("duration") is not None,
                               lambda o: o.update(duration=10**400)), "an integer of 401 digits"),
    "5000-digit seq": (lambda objs: _lines(objs).replace('"seq": 2,', '"seq": ' + "9" * 5000
                                                           + ",", 1), "an integer of 5,000 digits"),
    "deep nesting": (lambda objs: _lines(objs[:1]).replace(
        "}\n", ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n") + _lines(objs[1:]),
        "nested too deeply"),
    "NaN": (lambda objs: _lines(objs).replace('"elapsed": 0.0', '"elapsed": NaN', 1),
            "NaN is not a JSON number"),
    "1e400": (lambda objs: _lines(objs).replace('"elapsed": 0.0', '"elapsed": 1e400', 1),
              "the number 1e400 is out of range"),
    "busy_time past a float sum": (
        _set(_terminal, lambda o: o["data"].update(busy_time=1.7e308)),
        "its figures cannot be summarised"),
    "deps name each other": (
        _set(lambda o: _terminal(o) and o["task_id"] in ("a", "c"),
             lambda o: o["data"].update(deps=["c"] if o["task_id"] == "a" else ["a"])),
        "the deps of its tasks form a cycle"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_damaged_log_is_an_event_log_error(tmp_path: Path, name: str) -> None:
    mutate, words = MUTATIONS[name]
    path = tmp_path / "log.jsonl"
    path.write_text(mutate(_objects()), encoding="utf-8")
    with pytest.raises(EventLogError, match=words):
        summarize(path)
    result = invoke("events", "summarize", str(path))
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.startswith("Error: ") and words in result.stderr
    assert "Error: unexpected" not in result.stderr


def test_bytes_that_are_not_utf8_on_stdin_name_the_line() -> None:
    text = _lines(_objects()).encode("utf-8")
    damaged = text.replace(b'"task_id": "a"', b'"task_id": "\xff"', 1)
    line = damaged[:damaged.index(b"\xff")].count(b"\n") + 1
    result = invoke("events", "summarize", "-", input=damaged)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: <stdin>:{line}: not UTF-8 text")
    result = invoke("events", "summarize", "-", "--lenient", input=damaged)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"Warning: skipped 1 bad line (the first: <stdin>:{line}: ")


def test_a_glued_line_after_a_full_disk_is_skipped_with_lenient(tmp_path: Path) -> None:
    # A run cut mid-line (a full disk), then a complete run appended on a fresh line.
    objs = _objects()
    first = _lines(objs)
    cut = first[:len(first) - 40]  # the last line cut short
    second = _lines([{**o, "run_id": "second"} for o in objs])
    path = tmp_path / "log.jsonl"
    path.write_text(cut + "\n" + second, encoding="utf-8")
    bad = cut.count("\n") + 1
    with pytest.raises(EventLogError, match=f"log.jsonl:{bad}: not valid JSON"):
        read_events(path)
    skipped: list[EventLogError] = []
    runs = summarize(path, on_bad_line=skipped.append)
    assert [e.line for e in skipped] == [bad]
    assert [r.run_id for r in runs] == [objs[0]["run_id"], "second"]
    assert not runs[0].finished and runs[1].finished  # the cut run lost its run.finished
    result = invoke("events", "summarize", str(path), "--lenient")
    assert result.exit_code == 0
    assert f"skipped 1 bad line (the first: {path}:{bad}: not valid JSON" in result.stderr


def test_read_events_picks_one_run_of_several(tmp_path: Path) -> None:
    objs = _objects()
    path = tmp_path / "log.jsonl"
    path.write_text(_lines(objs) + _lines([{**o, "run_id": "again"} for o in objs]),
                    encoding="utf-8")
    assert len(read_events(path)) == 2 * len(objs)
    again = read_events(path, run_id="again")
    assert [e.run_id for e in again] == ["again"] * len(objs)
    with pytest.raises(EventLogError, match="no events of run 'nope'"):
        read_events(path, run_id="nope")
