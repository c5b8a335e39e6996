"""Where a workflow and its code come from (issue 11, "What a user expects from the CLI"):
imports from the workflow file's directory, ``python_path:`` and ``--path``; ``run -``;
``--tasks @FILE``; the traceback of a failed task below the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .helpers import invoke, write


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workflow beside its agents and a lib/ directory, run from somewhere else."""
    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    write(root, "proj_agents_11.py", "def triple(x):\n    return 3 * x\n")
    write(root / "lib", "proj_lib_11.py", "def plus_one(x):\n    return x + 1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    yield root
    for name in ("proj_agents_11", "proj_lib_11"):
        sys.modules.pop(name, None)


def test_a_workflow_imports_from_its_own_directory_and_python_path(project: Path) -> None:
    path = write(project, "flow.yaml", """\
python_path: [lib]
tasks:
  - {id: a, fn: "proj_agents_11:triple", args: [2]}
  - {id: b, fn: "proj_lib_11:plus_one", args: [{$ref: a}]}
""")
    before = list(sys.path)
    assert invoke("validate", path).exit_code == 0
    result = invoke("run", path, "--json", "-j", "2")
    assert result.exit_code == 0, result.stderr
    values = {t["id"]: t["value"] for t in json.loads(result.stdout)["tasks"]}
    assert values == {"a": 6, "b": 7}  # computed in the workers, which imported both modules
    assert sys.path == before  # taken off again after the run


def test_without_python_path_the_error_names_where_it_looked(project: Path) -> None:
    path = write(project, "flow.yaml", 'tasks:\n  - {id: b, fn: "proj_lib_11:plus_one"}\n')
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert f"No module named 'proj_lib_11' (searched {project}, " in result.stderr
    assert "'python_path:', the --path option or PYTHONPATH" in result.stderr
    assert invoke("validate", path, "--path", str(project / "lib")).exit_code == 0


def test_a_missing_python_path_directory_is_bad_input(project: Path) -> None:
    path = write(project, "flow.yaml", "python_path: [nowhere]\n"
                                       'tasks:\n  - {id: a, fn: "proj_agents_11:triple"}\n')
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path}:1: python_path[0]: no such directory: "
                             f"{project / 'nowhere'}\n")
    result = invoke("validate", path.replace("flow", "none"), "--path", "/no/such/dir")
    assert result.exit_code == 2


def test_run_dash_reads_the_workflow_from_stdin(tmp_path: Path) -> None:
    text = json.dumps({"tasks": [{"id": "a", "fn": "workers.agents:echo", "args": [5]}]})
    result = invoke("run", "-", "--json", input=text)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["workflow"] == "<stdin>" and document["tasks"][0]["value"] == 5
    yaml_text = "tasks:\n  - {id: a, fn: workers.agents:echo, args: [1], agrs: 2}\n"
    result = invoke("validate", "-", input=yaml_text)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: <stdin>:2: tasks[0].agrs: unknown field 'agrs' "
                                    "(did you mean 'args'?)")
    result = invoke("validate", "-", input=b"tasks: [\xff]\n")
    assert result.exit_code == 2 and "not UTF-8 text" in result.stderr


def test_tasks_from_a_file_beyond_a_command_line_s_length(tmp_path: Path) -> None:
    tasks = [{"id": f"t{i}", "fn": "workers.agents:echo", "args": ["x" * 1000]}
             for i in range(3000)]  # ~3 MB: more than ARG_MAX allows inline
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    result = invoke("run", "--tasks", f"@{path}", "-j", "2", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "3000 tasks: 3000 succeeded" in result.stdout
    result = invoke("run", "--tasks", f"@{tmp_path / 'none.json'}")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --tasks: cannot read")


FAILING = [{"id": f"f{i}", "fn": "workers.agents:fail", "args": [f"kaput {i}"]}
           for i in range(3)]


def test_the_first_failure_s_traceback_is_printed_below_the_summary() -> None:
    result = invoke("run", "--tasks", json.dumps(FAILING), "-j", "1")
    assert result.exit_code == 1
    err = result.stderr.splitlines()
    assert err[0] == "traceback of task 'f0' (attempt 1, RuntimeError):"
    assert err[1] == "  Traceback (most recent call last):"
    assert "  RuntimeError: kaput 0" in err
    assert "kaput 1" not in result.stderr
    assert err[-2] == "(2 more failed tasks with a traceback: --tracebacks shows them all)"
    assert err[-1].startswith("Error: 3 of 3 tasks did not succeed")


def test_tracebacks_prints_every_one() -> None:
    result = invoke("run", "--tasks", json.dumps(FAILING), "-j", "1", "--tracebacks", "-q")
    assert result.exit_code == 1
    heads = [line for line in result.stderr.splitlines() if line.startswith("traceback of")]
    assert heads == [f"traceback of task 'f{i}' (attempt 1, RuntimeError):" for i in range(3)]
    assert "more failed task" not in result.stderr
