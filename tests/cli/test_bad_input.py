"""Bad input is always bad input (issue 11, items 1-6): exit 2 with the place, nothing runs.

Each case here escaped as "unexpected ..." (exit 1), ran out of memory or time, or was
refused or reported wrongly before; now each is one or more ``Error: FILE[:LINE]: ...`` lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import invoke, write

FN = "workers.agents:echo"


def errors(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Error: unexpected" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("Error: ") for line in lines), result.stderr
    return [line[len("Error: "):] for line in lines]


# -- 1: parsers and numbers ------------------------------------------------------------------

DEEP = 5000


NEST = "[" * DEEP + "]" * DEEP


@pytest.mark.parametrize("name, text", [
    ("deep.json", f'{{"tasks": [{{"id": "a", "fn": "{FN}", "args": {NEST}}}]}}'),
    ("deep.yaml", f"tasks:\n  - {{id: a, fn: {FN}, args: {NEST}}}\n"),
    ("deep.toml", f'[[tasks]]\nid = "a"\nfn = "{FN}"\nargs = {NEST}\n'),
])
def test_deep_nesting_is_bad_input_in_every_format(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}") and "nested more than" in line


def test_moderate_nesting_past_the_bound_names_the_task(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml",
                 f"tasks:\n  - {{id: a, fn: {FN}, args: {'[' * 150}{']' * 150}}}\n")
    assert errors(invoke("validate", path)) == [
        f"{path}:2: tasks[0].args: nested more than 100 levels deep"]


@pytest.mark.parametrize("ext", ["json", "yaml", "toml"])
def test_an_integer_of_5000_digits_is_bad_input(tmp_path: Path, ext: str) -> None:
    big = "9" * 5000
    text = {"json": f'{{"tasks": [{{"id": "a", "fn": "{FN}", "args": [{big}]}}]}}',
            "yaml": f"tasks:\n  - {{id: a, fn: {FN}, args: [{big}]}}\n",
            "toml": f'[[tasks]]\nid = "a"\nfn = "{FN}"\nargs = [{big}]\n'}[ext]
    path = write(tmp_path, f"flow.{ext}", text)
    (line,) = errors(invoke("validate", path))
    assert line.endswith("an integer has more than 4,300 digits"), line


@pytest.mark.parametrize("where, place", [
    ("policy: {task_timeout: %s}", "policy.task_timeout"),
    ("policy: {kill_grace: %s}", "policy.kill_grace"),
    ("policy: {retry: {base_delay: %s}}", "policy.retry.base_delay"),
])
def test_a_huge_integer_in_a_seconds_field_names_the_field(tmp_path: Path, where: str,
                                                           place: str) -> None:
    path = write(tmp_path, "flow.yaml", (where % ("1" + "0" * 400)) + f"\ntasks:\n"
                                        f"  - {{id: a, fn: {FN}}}\n")
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}:1: {place}: ") and "must be a number of seconds" in line


def test_a_huge_task_timeout_names_the_task(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.json", json.dumps(
        {"tasks": [{"id": "a", "fn": FN, "timeout": 10**400}]}))
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}: tasks[0].timeout: task 'a': timeout must be")


def test_a_control_character_in_a_yaml_comment_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"tasks:\n  # note \x07\n  - {{id: a, fn: {FN}}}\n")
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}:2: invalid YAML: character #x0007 is not allowed")


# -- 2: YAML aliases -------------------------------------------------------------------------


def test_a_recursive_alias_is_refused_with_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"tasks:\n  - id: a\n    fn: {FN}\n"
                                        f"    args: &x [1, *x]\n")
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}:4: tasks[0].args[1]: recursive alias")


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"x-{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    lines += ["tasks:", f"  - {{id: a, fn: {FN}, args: *i}}"]
    path = write(tmp_path, "flow.yaml", "\n".join(lines) + "\n")
    (line,) = errors(invoke("validate", path))
    assert "aliases expand this document to" in line and "billion laughs" in line


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"x-args: &args [1, 2]\ntasks:\n"
                                        f"  - {{id: a, fn: {FN}, args: *args}}\n"
                                        f"  - {{id: b, fn: {FN}, args: *args}}\n")
    result = invoke("validate", path)
    assert result.exit_code == 0, result.stderr


# -- 3: merge keys and x- keys ---------------------------------------------------------------


def test_merge_keys_with_an_override_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"""\
x-base: &base {{id: a, fn: {FN}, timeout: 5, tags: {{team: x}}}}
tasks:
  - *base
  - {{<<: *base, id: b}}
  - <<: *base
    id: c
    timeout: 7
""")
    from orchestrator.workflow import load_workflow

    wf = load_workflow(path)
    assert [(s.id, s.timeout, dict(s.tags)) for s in wf.graph.specs.values()] == [
        ("a", 5, {"team": "x"}), ("b", 5, {"team": "x"}), ("c", 7, {"team": "x"})]
    assert invoke("validate", path).exit_code == 0


def test_a_key_written_twice_is_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"tasks:\n  - {{id: a, fn: {FN}, id: b}}\n")
    assert errors(invoke("validate", path)) == [f"{path}:2: tasks[0].id: key given twice"]


def test_unknown_top_level_keys_still_need_the_x_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"y-base: 1\ntasks:\n  - {{id: a, fn: {FN}}}\n")
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}:1: y-base: unknown field 'y-base'")


# -- 4: an import that exits -----------------------------------------------------------------


@pytest.mark.parametrize("code", ["0", "3", "'bye'"])
def test_a_module_that_exits_on_import_is_bad_input(tmp_path: Path, code: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"exits_on_import_{abs(hash(code))}"
    write(tmp_path, f"{name}.py", f"import sys\nsys.exit({code})\ndef f():\n    pass\n")
    path = write(tmp_path, "flow.yaml", f"tasks:\n  - {{id: a, fn: '{name}:f'}}\n")
    (line,) = errors(invoke("validate", path))
    assert line.startswith(f"{path}:2: tasks[0].fn: importing for '{name}:f' raised SystemExit")


# -- 5: every problem of a stage -------------------------------------------------------------


def test_every_policy_and_task_problem_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"""\
policy:
  max_concurrency: 0
  task_timeout: -1
  retry: {{max_attempts: 0, jitter: 5}}
tasks:
  - {{id: a, fn: {FN}, timeout: 0}}
""")
    assert [line.split(": ", 2)[1] for line in errors(invoke("validate", path))] == [
        "policy.max_concurrency", "policy.task_timeout", "policy.retry.max_attempts",
        "policy.retry.jitter", "tasks[0].timeout"]


def test_every_graph_problem_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"""\
tasks:
  - {{id: a, fn: {FN}}}
  - {{id: a, fn: {FN}}}
  - {{id: b, fn: {FN}, deps: [ghost]}}
  - {{id: c, fn: {FN}, deps: [d]}}
  - {{id: d, fn: {FN}, deps: [c]}}
  - {{id: e, fn: {FN}, deps: [f]}}
  - {{id: f, fn: {FN}, deps: [e]}}
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:3: tasks[1].id: duplicate task id 'a'",
        f"{path}:4: tasks[2].deps[0]: task 'b' depends on 'ghost', which is not defined",
        f"{path}:5: tasks[3]: dependency cycle: c -> d -> c",
        f"{path}:7: tasks[5]: dependency cycle: e -> f -> e",
    ]


def test_an_option_s_problem_comes_with_the_file_s(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"policy: {{kill_grace: -1}}\ntasks:\n"
                                        f"  - {{id: a, fn: {FN}}}\n")
    lines = errors(invoke("run", path, "-j", "0"))
    assert lines[0].startswith("--max-concurrency: OrchestrationPolicy.max_concurrency"), lines
    assert lines[1].startswith(f"{path}:1: policy.kill_grace: ")


# -- 6: the typo hint ------------------------------------------------------------------------


@pytest.mark.parametrize("typo, meant", [("agrs", "args"), ("tiemout", "timeout"),
                                         ("dep", "deps"), ("priorty", "priority")])
def test_the_typo_hint_is_the_nearest_name(tmp_path: Path, typo: str, meant: str) -> None:
    path = write(tmp_path, "flow.yaml", f"tasks:\n  - {{id: a, fn: {FN}, {typo}: 1}}\n")
    (line,) = errors(invoke("validate", path))
    assert f"unknown field {typo!r} (did you mean {meant!r}?)" in line


def test_no_hint_for_a_word_far_from_every_name(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", f"tasks:\n  - {{id: a, fn: {FN}, zzzzzz: 1}}\n")
    (line,) = errors(invoke("validate", path))
    assert "did you mean" not in line
