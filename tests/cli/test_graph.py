"""`orchestrator graph` in its three formats, and `orchestrator schema`."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.workflow import load_schema

from .helpers import invoke, write

FLOW = """\
tasks:
  - {id: plan, fn: workers.agents:echo, args: [1]}
  - {id: 'left "L"', fn: workers.agents:echo, args: [{$ref: plan}]}
  - {id: right, fn: workers.agents:echo, deps: [plan]}
  - {id: join, fn: workers.agents:add, args: [{$ref: right}, {$ref: 'left "L"'}]}
"""


def test_text(tmp_path: Path) -> None:
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ('plan\n'
                             'left "L"  <- plan\n'
                             'right     <- plan\n'
                             'join      <- left "L", right\n')


def test_mermaid(tmp_path: Path) -> None:
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW), "--format", "mermaid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "flowchart TD",
        '    t0["plan"]',
        '    t1["left #quot;L#quot;"]',
        '    t2["right"]',
        '    t3["join"]',
        "    t0 --> t1",
        "    t0 --> t2",
        "    t1 --> t3",
        "    t2 --> t3",
    ]


def test_dot(tmp_path: Path) -> None:
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW), "--format", "dot")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "digraph workflow {",
        "    rankdir=LR;",
        "    node [shape=box];",
        '    "plan";',
        '    "left \\"L\\"";',
        '    "right";',
        '    "join";',
        '    "plan" -> "left \\"L\\"";',
        '    "plan" -> "right";',
        '    "left \\"L\\"" -> "join";',
        '    "right" -> "join";',
        "}",
    ]


def test_graph_of_a_bad_workflow_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", "tasks:\n  - {id: a, fn: workers.agents:echo, "
                                        "deps: [a]}\n")
    result = invoke("graph", path)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:2: tasks[0].deps[0]: dependency cycle: a -> a\n"


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("graph", write(tmp_path, "flow.yaml", FLOW), "--format", "svg")
    assert result.exit_code == 2 and "Invalid value for '--format'" in result.stderr


def test_schema_command_prints_the_shipped_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == load_schema()
