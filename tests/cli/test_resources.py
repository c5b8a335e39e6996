"""Resources and rate limits from the command line and workflow files: a request above its
capacity is bad input (exit 2, the place named, nothing runs); the summary shows the usage."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import invoke, tasks_json, write
from .test_validate import errors


def test_request_above_capacity_exits_2_with_its_place_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write(tmp_path, "flow.yaml", f"""\
policy:
  resources: {{gpu: 1}}
tasks:
  - id: touch
    fn: pathlib:Path.touch
    args: ["{marker}"]
  - id: train
    fn: workers.agents:noop
    resources: {{gpu: 2}}
""")
    expected = [f"{path}:9: tasks[1].resources: task 'train': requests 2 of resource 'gpu', "
                f"but its capacity is 1; it could never start"]
    assert errors(invoke("validate", path)) == expected
    assert errors(invoke("run", path)) == expected
    assert not marker.exists()
    # The capacity from the command line makes it fit.
    result = invoke("run", path, "--resource", "gpu=2", "--json")
    assert result.exit_code == 0, result.stderr
    assert marker.exists()


def test_unknown_resource_and_bad_options_exit_2(tmp_path: Path) -> None:
    tasks = tasks_json([{"id": "a", "fn": "workers.agents:noop", "resources": {"db": 1}}])
    [line] = errors(invoke("run", "--tasks", tasks))
    assert "task 'a': resource 'db' has no capacity in the policy" in line
    result = invoke("run", "--tasks", tasks, "--resource", "db")
    assert result.exit_code == 2 and "expected NAME=N, e.g. api=3, got 'db'" in result.stderr
    result = invoke("run", "--tasks", tasks, "--rate-limit", "db=fast")
    assert result.exit_code == 2 and "expected NAME=RATE[/PER]" in result.stderr
    [line] = errors(invoke("run", "--tasks", tasks, "--resource", "db=0"))
    assert line.startswith("--resource: OrchestrationPolicy.resources['db'] must be a number > 0")
    [line] = errors(invoke("run", "--tasks", tasks, "--rate-limit", "db=5/0"))
    assert line.startswith("--rate-limit: RateLimit.per must be a number > 0, got 0.0")


def test_summary_shows_each_resource_used(tmp_path: Path) -> None:
    tasks = tasks_json([{"id": f"t{i}", "fn": "workers.agents:noop", "resources": {"api": 1}}
                        for i in range(4)])
    result = invoke("run", "--tasks", tasks, "-j", "2", "--resource", "api=1",
                    "--rate-limit", "api=200/1")
    assert result.exit_code == 0, result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("resource ")]
    assert line.startswith("resource api: capacity 1, peak 1, mean ")
    out = tmp_path / "out.json"
    assert invoke("run", "--tasks", tasks, "--resource", "api=2", "--output",
                  str(out)).exit_code == 0
    figures = json.loads(out.read_text())["metrics"]["resources"]["api"]
    assert figures["capacity"] == 2 and figures["peak"] <= 2


def test_rate_limits_in_a_workflow_file(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", """\
policy:
  rate_limits: {api: {rate: 100, per: 1, burst: 0.5}}
tasks:
  - {id: a, fn: workers.agents:noop, resources: {api: 1}}
""")
    assert errors(invoke("validate", path)) == [
        f"{path}:2: policy.rate_limits.api: RateLimit.burst must be a number >= 1, got 0.5"]
    ok = write(tmp_path, "ok.yaml", """\
policy:
  rate_limits: {api: 100, model: {rate: 3, per: 60}}
tasks:
  - {id: a, fn: workers.agents:noop, resources: {api: 1, model: 1}}
""")
    assert invoke("validate", ok).exit_code == 0


def test_events_summarize_shows_the_resources_from_the_log(tmp_path: Path) -> None:
    tasks = tasks_json([{"id": f"t{i}", "fn": "workers.agents:noop", "resources": {"api": 1}}
                        for i in range(3)])
    log = tmp_path / "events.jsonl"
    assert invoke("run", "--tasks", tasks, "--resource", "api=1", "--events", str(log),
                  "--quiet").exit_code == 0
    result = invoke("events", "summarize", str(log))
    assert result.exit_code == 0, result.stderr
    [line] = [x for x in result.stdout.splitlines() if "resource api" in x]
    assert line.startswith("  resource api: capacity 1, peak 1, mean ")
    summary = json.loads(invoke("events", "summarize", str(log), "--json").stdout)
    [run] = summary if isinstance(summary, list) else summary["runs"]
    assert run["metrics"]["resources"]["api"]["peak"] == 1
