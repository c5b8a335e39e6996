"""The page as a file: the data embedded safely, nothing loaded from anywhere, the size kept
small (errors written once, tracebacks within a budget)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from orchestrator.model.results import TaskError
from orchestrator.report import render_report, write_report
from orchestrator.report.dag import build_graph
from orchestrator.report.html import embed_json
from orchestrator.report.model import build_view
from orchestrator.report.payload import TRACEBACK_BUDGET, TRACEBACK_CHARS, payload

from ..telemetry.scenarios import SCENARIOS, settle, start, t
from .runs import HOSTILE_ID, HOSTILE_MESSAGE, scripted_run


def failing_run(n: int, error_of) -> list:
    """``n`` independent tasks on 4 workers, each failing with ``error_of(task id)``."""
    sched, ex, clock, events = start([t(f"t{i}") for i in range(n)], workers=4)
    while not sched.done:
        for tid in ex.running():
            clock.advance(0.001)
            ex.fail(tid, error_of(tid))
        settle(sched)
    sched.result()
    return events


def hostile_run() -> list:
    sched, ex, clock, events = start([t(HOSTILE_ID), t("after", HOSTILE_ID)])
    clock.advance(0.5)
    ex.fail(HOSTILE_ID, HOSTILE_MESSAGE)
    settle(sched)
    sched.result()
    return events


def data_of(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_embedded_json_cannot_close_the_script_element():
    value = {"id": "</script><script>alert(1)</script>", "m": "<!-- & \u2028 \u2029 -->"}
    text = embed_json(value)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == value


def test_hostile_ids_and_messages_stay_data():
    page = render_report(hostile_run(), title="<b>title</b> & more")
    assert page.lower().count("</script") == 2  # the data's and the script's own end tags
    assert HOSTILE_ID not in page and HOSTILE_MESSAGE not in page
    assert "<title>&lt;b&gt;title&lt;/b&gt; &amp; more</title>" in page
    data = data_of(page)
    assert data["title"] == "<b>title</b> & more"
    assert data["tasks"]["rows"][0][0] == HOSTILE_ID
    assert data["errors"]["rows"][0][2] == HOSTILE_MESSAGE


def test_the_page_loads_nothing_and_allows_only_its_own_code():
    page = render_report(SCENARIOS["retries_timeouts_and_skips"]()[1])
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"\b(src|href)\s*=|@import|url\((?!#)", page)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert policy.startswith("default-src 'none';")
    assert f"style-src {sha(style)};" in policy and f"script-src {sha(script)};" in policy
    assert "unsafe" not in policy


def test_write_report_writes_the_page(tmp_path):
    events = SCENARIOS["cascade_cancels_the_rest"]()[1]
    out = write_report(events, tmp_path / "r.html", title="cascade")
    assert out == tmp_path / "r.html"
    assert out.read_text(encoding="utf-8") == render_report(events, title="cascade")
    assert data_of(out.read_text())["title"] == "cascade"
    assert data_of(render_report(events))["title"] == f"Run {events[0].run_id}"


def test_payload_refers_to_tasks_and_lanes_by_index():
    events = SCENARIOS["retries_timeouts_and_skips"]()[1]
    data = data_of(render_report(events))
    tasks = [dict(zip(data["tasks"]["fields"], r, strict=True)) for r in data["tasks"]["rows"]]
    attempts = [dict(zip(data["attempts"]["fields"], r, strict=True))
                for r in data["attempts"]["rows"]]
    got = [(tasks[a["task"]]["id"], a["attempt"], data["lanes"][a["lane"]]["key"], a["outcome"])
           for a in attempts]
    view = build_view(events)
    assert got == [(a.task, a.attempt, a.lane, a.outcome) for a in view.attempts]
    assert [tasks[i]["id"] for i in data["graph"]["critical"]] == ["b"]
    assert data["run"]["metrics"] == view.header.metrics.to_dict()


def test_each_distinct_error_is_written_once():
    events = failing_run(200, lambda tid: "the same failure")
    data = data_of(render_report(events))
    assert len(data["errors"]["rows"]) == 1
    assert {r[data["tasks"]["fields"].index("error")] for r in data["tasks"]["rows"]} == {0}


def test_tracebacks_are_trimmed_and_kept_within_a_budget():
    def error(tid: str) -> TaskError:
        tb = "Traceback (most recent call last):\n" + f"  frame of {tid}\n" * 600 + "E: x\n"
        return TaskError("exception", "E", f"{tid} broke", traceback=tb)

    events = failing_run(1000, error)
    view = build_view(events)
    graph = build_graph(list(view.tasks), {}, {})
    data = payload(view, graph, "big")
    kept = [r[3] for r in data["errors"]["rows"] if r[3] is not None]
    assert kept and all(len(tb) <= TRACEBACK_CHARS + 4 and tb.endswith("E: x\n") for tb in kept)
    assert sum(map(len, kept)) <= TRACEBACK_BUDGET
    assert data["tracebacks_omitted"] == 1000 - len(kept) > 0
    assert len(render_report(events).encode()) < 1_000_000


@pytest.mark.parametrize("n, limit", [(1_000, 1_000_000), (10_000, 4_000_000)])
def test_report_size(n, limit):
    page = render_report(scripted_run(n))
    size = len(page.encode())
    assert size < limit, f"{n} tasks: {size:,} bytes"


def test_every_outcome_and_status_has_its_colour():
    from importlib import resources

    from orchestrator.model.results import TaskStatus
    from orchestrator.report.views import OUTCOMES, UNFINISHED

    css = resources.files("orchestrator.report").joinpath("assets").joinpath(
        "report.css").read_text()
    for outcome in OUTCOMES:
        assert f".o-{outcome}" in css, outcome
    for status in [*(s.value for s in TaskStatus), UNFINISHED]:
        assert f".s-{status}" in css, status
    attempts = build_view(SCENARIOS["retries_timeouts_and_skips"]()[1]).attempts
    assert {a.outcome for a in attempts} <= set(OUTCOMES)
