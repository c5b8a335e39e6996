"""`orchestrator run` in process (click's CliRunner): options, outputs, errors and exit codes.

The tasks run for real on the library's warm worker pool; they are short.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import orchestrator.cli.run as run_module
from orchestrator import OrchestrationPolicy, RateLimit
from orchestrator.cli.policy_options import POLICY_OPTIONS
from orchestrator.interrupts import RunTerminated
from orchestrator.model.resources import usable_cores

from .helpers import SGR, invoke, tasks_json, write

ECHO = {"id": "a", "fn": "workers.agents:echo", "args": [41]}
ADD = {"id": "b", "fn": "workers.agents:add", "args": [{"$ref": "a"}, 1]}
FAIL = {"id": "boom", "fn": "workers.agents:fail", "args": ["kaput"]}


def run_json(*args: str) -> tuple[int, dict[str, Any], str]:
    result = invoke("run", "--json", *args)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_success_prints_table_and_metrics(tmp_path: Path) -> None:
    result = invoke("run", "--tasks", tasks_json([ECHO, ADD]), "-j", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "running --tasks: 2 tasks, max concurrency 2"
    assert lines[1].split() == ["task", "status", "attempts", "duration", "worker"]
    assert [line.split()[:3] for line in lines[2:4]] == [["a", "succeeded", "1"],
                                                         ["b", "succeeded", "1"]]
    assert lines[4].startswith("wall ") and " busy " in lines[4] \
        and " parallelism " in lines[4] and "(busy/wall)" in lines[4]
    assert "cost n/a" in lines[4] and "(2 workers; 2 tasks: 2 succeeded)" in lines[4]
    assert len(lines) == 5
    assert result.stderr == ""
    assert "\x1b" not in result.stdout and "\r" not in result.stdout


def test_json_output_has_every_result(tmp_path: Path) -> None:
    code, doc, stderr = run_json("--tasks", tasks_json([ECHO, ADD]))
    assert code == 0 and stderr == ""
    assert doc["ok"] is True and doc["exit_code"] == 0 and doc["interrupted"] is False
    assert [(t["id"], t["status"], t["value"]) for t in doc["tasks"]] == [
        ("a", "succeeded", 41), ("b", "succeeded", 42)]
    assert doc["metrics"]["tasks"] == 2 and doc["metrics"]["counts"] == {"succeeded": 2}
    assert doc["workflow"] == "--tasks"


def test_output_file_and_events_file(tmp_path: Path) -> None:
    out, events = tmp_path / "result.json", tmp_path / "events.jsonl"
    result = invoke("run", "--tasks", tasks_json([ECHO, ADD]), "--output", str(out),
                    "--events", str(events), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("wall ") and len(result.stdout.splitlines()) == 1
    doc = json.loads(out.read_text())
    assert {t["id"]: t["value"] for t in doc["tasks"]} == {"a": 41, "b": 42}
    types = [json.loads(line)["type"] for line in events.read_text().splitlines()]
    assert types[0] == "run.started" and types[-1] == "run.finished"
    assert types.count("task.succeeded") == 2


def test_events_to_stdout_moves_the_table_to_stderr() -> None:
    result = invoke("run", "--tasks", tasks_json([ECHO]), "--events", "-")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.finished"
    assert "succeeded" in result.stderr and "wall " in result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "give either a WORKFLOW file or --tasks JSON"),
    (["flow.yaml", "--tasks", "[]"], "give either a WORKFLOW file or --tasks JSON"),
    (["--tasks", "[]", "--json", "--events", "-"],
     "--json and --events - both write to stdout; send the events to a file"),
    (["--tasks", "[]", "--backoff", "linear"], "Invalid value for '--backoff'"),
    (["--tasks", "[]", "--retries", "-1"], "Invalid value for '--retries'"),
    (["--tasks", "[]", "--max-concurrency", "many"],
     "Invalid value for '-j' / '--max-concurrency'"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = invoke("run", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, expected", [
    (["--tasks", "{"], "Error: --tasks:1: invalid JSON: Expecting property name enclosed in "
                       "double quotes (column 2)"),
    (["--tasks", '{"id": "a"}'], "Error: --tasks: expected a JSON list of tasks, got an object"),
    (["--tasks", json.dumps([ECHO]), "-j", "0"],
     "Error: --max-concurrency: OrchestrationPolicy.max_concurrency must be an integer >= 1, "
     "got 0"),
    (["--tasks", json.dumps([ECHO]), "--jitter", "1.5"],
     "Error: --jitter: RetryPolicy.jitter must be a number between 0 and 1, got 1.5"),
    (["--tasks", json.dumps([ECHO]), "--timeout", "nan"],
     "Error: --timeout: OrchestrationPolicy.global_timeout must be a number of seconds > 0 "
     "and <= 1e+09, or None, got nan"),
    (["--tasks", json.dumps([{"id": "a", "fn": "workers.agents:missing"}])],
     "Error: --tasks: tasks[0].fn: 'workers.agents:missing': module 'workers.agents' has no "
     "attribute 'missing'"),
    (["--tasks", json.dumps([ECHO]), "--output", "/nonexistent-dir/out.json"],
     "Error: --output: cannot open '/nonexistent-dir/out.json': No such file or directory"),
    (["--tasks", json.dumps([ECHO]), "--events", "/nonexistent-dir/ev.jsonl"],
     "Error: --events: cannot open '/nonexistent-dir/ev.jsonl': No such file or directory"),
])
def test_bad_input_exits_2_and_runs_nothing(args: list[str], expected: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(run_module, "execute_graph", lambda *a, **k: calls.append(a))
    result = invoke("run", *args)
    assert (result.exit_code, result.stderr.strip()) == (2, expected)
    assert calls == [] and result.stdout == ""


def test_the_options_override_the_files_policy(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every policy option reaches the library; fields no option names keep the file's value."""
    seen: list[OrchestrationPolicy] = []
    real = run_module.execute_graph

    def spy(graph: Any, policy: OrchestrationPolicy, **kwargs: Any) -> Any:
        seen.append(policy)
        return real(graph, policy, **kwargs)

    monkeypatch.setattr(run_module, "execute_graph", spy)
    path = write(tmp_path, "flow.toml", """\
[policy]
max_concurrency = 1
task_timeout = 5
cancellation = "cascading"
[policy.retry]
max_attempts = 5
base_delay = 0.5
[[tasks]]
id = "a"
fn = "workers.agents:echo"
args = [1]
""")
    given = {
        "--max-concurrency": ("2", ("max_concurrency",), 2),
        "--timeout": ("60", ("global_timeout",), 60.0),
        "--task-timeout": ("30", ("task_timeout",), 30.0),
        "--retries": ("2", ("retry", "max_attempts"), 3),
        "--backoff": ("exponential", ("retry", "backoff"), "exponential"),
        "--base-delay": ("0.25", ("retry", "base_delay"), 0.25),
        "--multiplier": ("3", ("retry", "multiplier"), 3.0),
        "--max-delay": ("4", ("retry", "max_delay"), 4.0),
        "--jitter": ("0.1", ("retry", "jitter"), 0.1),
        "--seed": ("9", ("retry", "seed"), 9),
        "--retry-on": ("ValueError", ("retry", "retry_on"), ("ValueError",)),
        "--no-retry-on-timeout": (None, ("retry", "retry_on_timeout"), False),
        "--no-retry-on-crash": (None, ("retry", "retry_on_crash"), False),
        "--cancellation": ("isolated", ("cancellation",), "isolated"),
        "--on-failure": ("continue", ("on_failure",), "continue"),
        "--max-task-memory": ("512", ("max_task_memory_mb",), 512.0),
        "--max-pending": ("0", ("max_pending",), 0),
        "--kill-grace": ("0.5", ("kill_grace",), 0.5),
        "--max-tasks-per-worker": ("100", ("max_tasks_per_worker",), 100),
        "--fifo": (None, ("critical_path_first",), False),
        "--memory-check-interval": ("0.5", ("memory_check_interval",), 0.5),
        "--resource": ("api=3", ("resources",), {"api": 3.0, "cpu": usable_cores()}),
        "--rate-limit": ("api=5/2", ("rate_limits",), {"api": RateLimit(5.0, per=2.0)}),
    }
    assert {o.field for o in POLICY_OPTIONS} == {f for _, f, _ in given.values()}
    args = [path, "--quiet"]
    for flag, (value, _, _) in given.items():
        args += [flag] if value is None else [flag, value]
    result = invoke("run", *args)
    assert result.exit_code == 0, result.stderr
    policy = seen[-1]
    for flag, (_, field, expected) in given.items():
        obj: Any = policy
        for part in field:
            obj = getattr(obj, part)
        assert obj == expected, flag

    seen.clear()
    assert invoke("run", path, "--quiet", "--seed", "3").exit_code == 0
    policy = seen[-1]
    assert (policy.max_concurrency, policy.task_timeout, policy.cancellation) == (1, 5, "cascading")
    assert (policy.retry.max_attempts, policy.retry.base_delay, policy.retry.seed) == (5, 0.5, 3)


def test_task_failure_exits_1_with_the_reason(tmp_path: Path) -> None:
    result = invoke("run", "--tasks", tasks_json([FAIL, {"id": "after", "fn": "workers.agents:echo",
                                                         "args": [{"$ref": "boom"}]}]),
                    "--retries", "1")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[2].split()[:3] == ["boom", "failed", "2"]
    assert "  boom: failed after 2 attempts: RuntimeError: kaput" in result.stdout
    assert "  after: task 'after' skipped: upstream task 'boom' failed" in result.stdout
    assert result.stderr.startswith("traceback of task 'boom' (attempt 2, RuntimeError):\n")
    assert result.stderr.endswith("  RuntimeError: kaput\n"
                                  "Error: 2 of 2 tasks did not succeed (1 failed, 1 skipped)\n")


def test_timeout_and_cascading_cancel_exit_1() -> None:
    tasks = [{"id": "slow", "fn": "workers.agents:hang", "timeout": 0.5},
             {"id": "waits", "fn": "workers.agents:echo", "args": [1], "deps": ["slow"]}]
    code, doc, stderr = run_json("--tasks", tasks_json(tasks), "--kill-grace", "0")
    assert code == 1
    assert [(t["id"], t["status"]) for t in doc["tasks"]] == [("slow", "timed_out"),
                                                            ("waits", "skipped")]
    assert stderr == "Error: 2 of 2 tasks did not succeed (1 timed_out, 1 skipped)\n"

    tasks = [FAIL, {"id": "hangs", "fn": "workers.agents:hang"}]
    code, doc, _ = run_json("--tasks", tasks_json(tasks), "--cancellation", "cascading",
                            "-j", "2", "--kill-grace", "0")
    assert code == 1
    assert {t["id"]: t["status"] for t in doc["tasks"]} == {"boom": "failed",
                                                           "hangs": "cancelled"}


GATES = """\
def reject(result):
    return False, f"{len(result.tasks)} task(s) is not enough"

def approve(result):
    return True

def merge_sum(values):
    return sum(values.values())

def merge_raises(values):
    raise ValueError("cannot merge")

def merged_is_42(result):
    return result.merged == 42, f"merged {result.merged}"
"""


@pytest.fixture
def gate_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    write(tmp_path, "cli_test_gates.py", GATES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_test_gates"


def test_gate_rejection_exits_3(tmp_path: Path, gate_module: str) -> None:
    path = write(tmp_path, "flow.yaml", f"""\
gates: [{gate_module}:approve, {gate_module}:reject]
tasks:
  - {{id: a, fn: workers.agents:echo, args: [1]}}
""")
    result = invoke("run", path)
    assert result.exit_code == 3
    assert "gate approve: passed" in result.stdout
    assert "gate reject: REJECTED: 1 task(s) is not enough" in result.stdout
    assert result.stderr == "Error: the run was rejected by 'reject'\n"


def test_merge_feeds_the_gates_and_a_failing_merge_rejects(tmp_path: Path,
                                                           gate_module: str) -> None:
    flow = """\
merge: {mod}:{merge}
gates: [{mod}:merged_is_42]
tasks:
  - {{id: a, fn: workers.agents:echo, args: [40]}}
  - {{id: b, fn: workers.agents:echo, args: [2]}}
"""
    good = write(tmp_path, "good.yaml", flow.format(mod=gate_module, merge="merge_sum"))
    code, doc, _ = run_json(good)
    assert code == 0 and doc["merged"] == 42
    assert doc["gates"] == [{"name": "merged_is_42", "passed": True, "message": "merged 42"}]
    bad = write(tmp_path, "bad.yaml", flow.format(mod=gate_module, merge="merge_raises"))
    code, doc, stderr = run_json(bad)
    assert code == 3
    assert doc["gates"][0]["name"] == "merge" and not doc["gates"][0]["passed"]
    assert "merge raised ValueError: cannot merge" in doc["gates"][0]["message"]
    assert stderr == "Error: the run was rejected by 'merge', 'merged_is_42'\n"


def test_a_task_failure_outranks_a_gate_rejection(tmp_path: Path, gate_module: str) -> None:
    path = write(tmp_path, "flow.yaml", f"gates: [{gate_module}:reject]\ntasks:\n"
                                        f"  - {{id: boom, fn: workers.agents:fail}}\n")
    assert invoke("run", path).exit_code == 1


def test_interrupt_outside_a_run_exits_130_or_143(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "load_input", interrupted)
    result = invoke("run", "--tasks", "[]")
    assert (result.exit_code, result.stderr) == (130, "Error: interrupted\n")

    def terminated(*args: Any, **kwargs: Any) -> Any:
        raise RunTerminated()

    monkeypatch.setattr(run_module, "load_input", terminated)
    result = invoke("run", "--tasks", "[]")
    assert (result.exit_code, result.stderr) == (143, "Error: interrupted\n")


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something broke")

    monkeypatch.setattr(run_module, "execute_graph", broken)
    result = invoke("run", "--tasks", tasks_json([ECHO]))
    assert result.exit_code == 1
    assert result.stderr == ("Error: unexpected RuntimeError: something broke "
                             "(--debug shows the traceback)\n")
    result = invoke("run", "--tasks", tasks_json([ECHO]), "--debug")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("Error: unexpected RuntimeError: something broke")


def test_no_colour_when_not_a_terminal() -> None:
    result = invoke("run", "--tasks", tasks_json([FAIL]))
    assert result.exit_code == 1
    assert not SGR.search(result.stdout + result.stderr)


def test_help_everywhere() -> None:
    for args in (["--help"], ["run", "--help"], ["validate", "-h"], ["graph", "--help"],
                 ["schema", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "Usage:" in result.stdout, args
    run_help = invoke("run", "--help").stdout
    for opt in POLICY_OPTIONS:
        for decl in opt.decls:
            assert decl.split("/")[0] in run_help, decl
    for flag in ("--tasks", "--events", "--output", "--json", "--quiet", "--debug"):
        assert flag in run_help
    top = invoke("--help").stdout
    assert "130 interrupted (Ctrl-C); 143 terminated (SIGTERM)" in top
