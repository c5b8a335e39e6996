"""`orchestrator validate` (and the same checks before `run`): every problem with file and place.

Bad input exits 2 with `Error: FILE[:LINE]: PLACE: message` lines on stderr and no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import REPO, invoke, write

GOOD_YAML = """\
name: demo
policy:
  max_concurrency: 2
  retry: {max_attempts: 2, backoff: exponential}
tasks:
  - id: a
    fn: workers.agents:echo
    args: [1]
  - id: b
    fn: workers.agents:add
    args: [{$ref: a}, 2]
"""


def errors(result) -> list[str]:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("Error: ") for line in lines), result.stderr
    return [line[len("Error: "):] for line in lines]


def test_valid_file_reports_its_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", GOOD_YAML)
    result = invoke("validate", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{path}: valid: 2 tasks, 1 dependency, max concurrency 2\n"


@pytest.mark.parametrize("name", ["analysis.yaml", "flaky-batch.toml", "fan-out-fan-in.json"])
def test_every_example_is_valid(name: str) -> None:
    result = invoke("validate", f"examples/{name}")
    assert result.exit_code == 0, result.stderr
    assert ": valid: " in result.stdout


def test_yaml_problems_carry_line_and_place_and_all_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", """\
policy:
  max_concurency: 2
  retry:
    backoff: linear
tasks:
  - id: a
    fn: workers.agents:echo
    timeout: ten
  - fn: workers.agents:echo
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:2: policy.max_concurency: unknown field 'max_concurency' (did you mean "
        f"'max_concurrency'?); known fields: max_concurrency, task_timeout, global_timeout, "
        f"retry, cancellation, on_failure, max_pending, kill_grace, max_task_memory_mb, "
        f"max_tasks_per_worker, critical_path_first, memory_check_interval, resources, "
        f"rate_limits, cluster",
        f"{path}:4: policy.retry.backoff: must be one of 'fixed', 'exponential', got 'linear'",
        f"{path}:8: tasks[0].timeout: expected a number or null, got 'ten'",
        f"{path}:9: tasks[1]: missing required field 'id'",
    ]


def test_json_problems_carry_the_json_path(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.json", json.dumps(
        {"tasks": [{"id": "a", "fn": "workers.agents:echo", "deps": "b"}], "gates": "x:y"}))
    assert errors(invoke("validate", path)) == [  # in the document's order
        f"{path}: tasks[0].deps: expected a list, got 'b'",
        f"{path}: gates: expected a list, got 'x:y'",
    ]


def test_toml_problems_carry_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.toml", '[[tasks]]\nid = "a"\nfn = "workers.agents:echo"\n'
                                        'priority = "high"\n')
    assert errors(invoke("validate", path)) == [
        f"{path}: tasks[0].priority: expected an integer, got 'high'"]


@pytest.mark.parametrize("name, text, expected", [
    ("bad.json", '{"tasks": [\n  {"id": "a",}\n]}',
     "{path}:2: invalid JSON: Expecting property name enclosed in double quotes (column 14)"),
    ("bad.yaml", "tasks:\n  - id: a\n    fn: [unclosed\n",
     "{path}:4: invalid YAML: while parsing a flow sequence expected ',' or ']', but got "
     "'<stream end>'"),
    ("bad.toml", '[[tasks]]\nid = "a"\nfn = \n',
     "{path}:3: invalid TOML: Invalid value (column 6)"),
    ("dup.yaml", "tasks: []\ntasks: []\n", "{path}:2: tasks: key given twice"),
    ("dup.json", '{"tasks": [], "tasks": []}',
     "{path}: invalid JSON: key 'tasks' appears twice in one object"),
    ("flow.txt", "tasks: []",
     "{path}: unknown workflow format '.txt': name the file .json, .yaml, .yml or .toml"),
    ("list.yaml", "- id: a\n", "{path}:1: expected a mapping, got [{'id': 'a'}]"),
    ("empty.yaml", "tasks: []\n", "{path}:1: tasks: needs at least 1 item(s)"),
])
def test_syntax_and_shape_errors(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    assert errors(invoke("validate", path)) == [expected.replace("{path}", path)]


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    assert errors(invoke("validate", path)) == [f"{path}: cannot read: No such file or directory"]


def test_library_rejections_keep_their_words_and_gain_a_place(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", """\
policy:
  kill_grace: -1
tasks:
  - {id: a, fn: workers.agents:echo}
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:2: policy.kill_grace: OrchestrationPolicy.kill_grace must be a number of "
        f"seconds >= 0 and <= 1e+09, got -1"]
    path = write(tmp_path, "flow2.yaml", """\
tasks:
  - {id: a, fn: workers.agents:echo}
  - id: b
    fn: not an import path
  - id: c
    fn: workers.agents:echo
    retry: {jitter: 2}
  - {id: d, fn: workers.agents:echo, retries: 1, retry: {seed: 1}}
  - {id: e, fn: workers.agents:echo, timeout: 0}
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:4: tasks[1].fn: task 'b': fn must be a callable or an import path "
        f"'pkg.module:function', got 'not an import path'",
        f"{path}:7: tasks[2].retry.jitter: RetryPolicy.jitter must be a number between 0 and "
        f"1, got 2",
        f"{path}:8: tasks[3].retries: give either 'retries' or 'retry', not both",
        f"{path}:9: tasks[4].timeout: task 'e': timeout must be a number of seconds > 0 and "
        f"<= 1e+09, or None, got 0",
    ]


def test_graph_errors_duplicate_missing_and_cycle(tmp_path: Path) -> None:
    dup = write(tmp_path, "dup.yaml", """\
tasks:
  - {id: a, fn: workers.agents:echo}
  - {id: a, fn: workers.agents:echo}
""")
    assert errors(invoke("validate", dup)) == [f"{dup}:3: tasks[1].id: duplicate task id 'a'"]
    missing = write(tmp_path, "missing.yaml", """\
tasks:
  - {id: a, fn: workers.agents:echo}
  - id: b
    fn: workers.agents:add
    args:
      - {$ref: a}
      - {$ref: ghost}
  - {id: c, fn: workers.agents:echo, deps: [a, phantom]}
""")
    assert errors(invoke("validate", missing)) == [
        f"{missing}:7: tasks[1].args[1]: task 'b' depends on 'ghost', which is not defined",
        f"{missing}:8: tasks[2].deps[1]: task 'c' depends on 'phantom', which is not defined"]
    deps = write(tmp_path, "deps.yaml", """\
tasks:
  - {id: a, fn: workers.agents:echo}
  - {id: c, fn: workers.agents:echo, deps: [a, phantom]}
""")
    assert errors(invoke("validate", deps)) == [
        f"{deps}:3: tasks[1].deps[1]: task 'c' depends on 'phantom', which is not defined"]
    cycle = write(tmp_path, "cycle.json", json.dumps({"tasks": [
        {"id": "a", "fn": "workers.agents:echo", "args": [{"$ref": "b"}]},
        {"id": "b", "fn": "workers.agents:echo", "deps": ["a"]},
        {"id": "c", "fn": "workers.agents:echo"},
    ]}))
    assert errors(invoke("validate", cycle)) == [
        f"{cycle}: tasks[0]: dependency cycle: a -> b -> a"]


def test_bad_ref_objects(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", """\
tasks:
  - {id: a, fn: workers.agents:echo}
  - {id: b, fn: workers.agents:echo, kwargs: {value: {$ref: a, extra: 1}}}
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:3: tasks[1].kwargs.value: a {{\"$ref\": ...}} object takes exactly one key, "
        f"\"$ref\", whose value is a task id; got {{'$ref': 'a', 'extra': 1}}"]


def test_unresolvable_import_paths_are_found_without_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "ran"
    write(tmp_path, "side_effects_mod.py", f"def touch():\n    open({str(marker)!r}, 'w')\n")
    path = write(tmp_path, "flow.yaml", """\
merge: workers.agents:no_such_merge
gates: [workers.agents:echo, missing_gate_mod:check]
tasks:
  - {id: a, fn: workers.agents:no_such_agent}
  - {id: b, fn: side_effects_mod:touch}
  - {id: c, fn: workers.agents:no_such_agent}
""")
    result = invoke("validate", path)
    assert errors(result) == [
        f"{path}:4: tasks[0].fn: 'workers.agents:no_such_agent': module 'workers.agents' has "
        f"no attribute 'no_such_agent'",
        f"{path}:1: merge: 'workers.agents:no_such_merge': module 'workers.agents' has no "
        f"attribute 'no_such_merge'",
        f"{path}:2: gates[1]: cannot import module 'missing_gate_mod' for "
        f"'missing_gate_mod:check': No module named 'missing_gate_mod' (searched {tmp_path}, "
        f"{REPO}; add a directory with the workflow's 'python_path:', the --path option or "
        f"PYTHONPATH)",
    ]
    assert not marker.exists()


def test_modules_in_the_current_directory_are_importable(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "local_agents_for_validate.py", "def agent():\n    return 1\n")
    path = write(tmp_path, "flow.yaml",
                 "tasks:\n  - {id: a, fn: local_agents_for_validate:agent}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # undone after the test, unlike the CLI's own
    assert invoke("validate", path).exit_code == 0


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", "tasks: []\n")
    result = invoke("validate", path, "--debug")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith(f"Error: {path}:1: tasks: needs at least 1 item(s)")


def test_a_whole_float_is_not_an_integer_and_a_wrong_type_hides_the_enum(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.json", json.dumps({"version": 1.0, "policy": {
        "max_concurrency": 2.0, "cancellation": 5}, "tasks": [{"id": "a", "fn": "m:f"}]}))
    assert errors(invoke("validate", path)) == [
        f"{path}: version: expected an integer, got 1.0",
        f"{path}: policy.max_concurrency: expected an integer, got 2.0",
        f"{path}: policy.cancellation: expected a string, got 5",
    ]
