"""The report from the command line: ``orchestrator report EVENTS -o PATH`` (with ``--run-id``
for a log of several runs) and ``orchestrator run WORKFLOW --report PATH``; bad input is exit 2
with the place named, and ``write_report`` is part of the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

import orchestrator
from orchestrator.report import render_report
from orchestrator.telemetry.reader import read_events
from orchestrator.telemetry.sinks import format_event

from ..cli.helpers import invoke, tasks_json
from ..telemetry.scenarios import SCENARIOS
from ..telemetry.test_critical_path import cyclic_log
from .test_page import data_of

FLAKY = [{"id": "a", "fn": "workers.agents:echo", "args": [1]},
         {"id": "b", "fn": "workers.agents:fail", "args": ["kaput"]},
         {"id": "c", "fn": "workers.agents:echo", "args": [{"$ref": "b"}]}]


def write_log(path: Path, *scenarios: str) -> list:
    events = [e for name in scenarios for e in SCENARIOS[name]()[1]]
    path.write_text("".join(format_event(e) + "\n" for e in events), encoding="utf-8")
    return events


def test_write_report_is_public():
    assert orchestrator.write_report is orchestrator.report.write_report
    assert "write_report" in orchestrator.__all__


@pytest.mark.process
def test_run_writes_the_report_of_the_run(tmp_path):
    page, events = tmp_path / "report.html", tmp_path / "events.jsonl"
    result = invoke("run", "--tasks", tasks_json(FLAKY), "--report", str(page),
                    "--events", str(events))
    assert result.exit_code == 1, result.stderr
    data = data_of(page.read_text(encoding="utf-8"))
    tasks = dict(row[:2] for row in data["tasks"]["rows"])
    assert tasks == {"a": "succeeded", "b": "failed", "c": "skipped"}
    (run_id,) = {e.run_id for e in read_events(events)}
    assert data["run"]["id"] == run_id and data["title"] == f"Run {run_id}"
    assert data["run"]["status"] == "failed"
    # the page made afterwards from the run's log tells the same (its times are whole µs)
    later = data_of(render_report(read_events(events)))
    assert data["run"]["metrics"] == later["run"]["metrics"]
    assert data["lanes"] == later["lanes"]

    def attempts(d):
        fields = d["attempts"]["fields"]
        return [{k: v for k, v in zip(fields, row, strict=True) if k in ("task", "attempt",
                 "lane", "outcome", "error")} for row in d["attempts"]["rows"]]

    assert attempts(data) == attempts(later) and len(attempts(data)) == 2


def test_a_report_path_that_cannot_be_written_is_bad_input_and_nothing_runs(tmp_path,
                                                                             monkeypatch):
    from orchestrator.cli import run as run_module

    monkeypatch.setattr(run_module, "execute_graph", lambda *a, **k: pytest.fail("it ran"))
    result = invoke("run", "--tasks", tasks_json(FLAKY), "--report",
                    str(tmp_path / "missing" / "report.html"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --report: cannot open ")
    assert "No such file or directory" in result.stderr


def test_report_from_a_log(tmp_path):
    log, page = tmp_path / "run.jsonl", tmp_path / "out.html"
    events = write_log(log, "retries_timeouts_and_skips")
    result = invoke("report", str(log), "-o", str(page), "--title", "nightly")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{page}: the report of run {events[0].run_id} (")
    text = page.read_text(encoding="utf-8")
    assert text == render_report(read_events(log), title="nightly")
    assert "<title>nightly</title>" in text


def test_report_reads_standard_input(tmp_path):
    log, page = tmp_path / "run.jsonl", tmp_path / "out.html"
    write_log(log, "cascade_cancels_the_rest")
    result = invoke("report", "-", "-o", str(page), input=log.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.stderr
    assert page.read_text(encoding="utf-8") == render_report(read_events(log))


def test_a_log_of_several_runs_needs_run_id(tmp_path):
    log, page = tmp_path / "runs.jsonl", tmp_path / "out.html"
    events = write_log(log, "retries_timeouts_and_skips", "cascade_cancels_the_rest")
    first, second = dict.fromkeys(e.run_id for e in events)
    result = invoke("report", str(log), "-o", str(page))
    assert result.exit_code == 2 and not page.exists()
    assert result.stderr == (f"Error: {log}: the log holds 2 runs ({first}, {second}); pick one "
                             f"with --run-id\n")
    result = invoke("report", str(log), "-o", str(page), "--run-id", second)
    assert result.exit_code == 0, result.stderr
    assert data_of(page.read_text(encoding="utf-8"))["run"]["id"] == second
    result = invoke("report", str(log), "-o", str(page), "--run-id", "nope")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {log}: the log holds no run 'nope' (its runs: {first}, "
                             f"{second})\n")


@pytest.mark.parametrize("content, message", [
    ("", "the log holds no events"),
    ('{"schema": 1}\n', ":1: event: 'type' is a required property"),
    ("not json\n", "1: not valid JSON: "),
])
def test_a_bad_log_is_bad_input_with_its_place(tmp_path, content, message):
    log, page = tmp_path / "bad.jsonl", tmp_path / "out.html"
    log.write_text(content, encoding="utf-8")
    result = invoke("report", str(log), "-o", str(page))
    assert result.exit_code == 2 and not page.exists()
    assert result.stderr.startswith(f"Error: {log}"), result.stderr
    assert message in result.stderr


def test_a_log_whose_deps_form_a_cycle_is_bad_input(tmp_path):
    page = tmp_path / "out.html"
    result = invoke("report", str(cyclic_log(tmp_path)), "-o", str(page))
    assert result.exit_code == 2 and not page.exists()
    assert result.stderr == ("Error: run 'cyc': the deps of its tasks form a cycle, which no run "
                             "can have: a -> b -> a\n")


def test_a_missing_log_and_an_unwritable_output(tmp_path):
    result = invoke("report", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "out.html"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'none.jsonl'}: no such event log\n"
    log = tmp_path / "run.jsonl"
    write_log(log, "cascade_cancels_the_rest")
    result = invoke("report", str(log), "-o", str(tmp_path / "no" / "out.html"))
    assert result.exit_code == 2
    assert "Invalid value for '-o' / '--output': cannot write" in result.stderr
    assert "No such file or directory" in result.stderr


def test_help_names_the_command():
    result = invoke("--help")
    assert "report" in result.stdout
    help_text = invoke("report", "--help").stdout
    assert "--run-id" in help_text and "-o, --output PATH" in help_text
    assert "--report PATH" in invoke("run", "--help").stdout
