"""The examples run end to end, and so does the analysis pipeline's audit gate both ways.

`flaky-batch.toml` and `fan-out-fan-in.json` run as shipped in a real `python -m orchestrator`
process. `analysis.yaml` is run on a small source tree instead of the whole standard library
(same tasks, merge and gate; only the index's `root` differs) to keep the suite quick.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.agents.analysis import measure_source

from .helpers import DEADLINE, REPO, cli_env, invoke, read_events, start, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.timeout(180)


def _terminal_events(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        if e["type"] in ("task.succeeded", "task.failed", "task.timed_out", "task.cancelled",
                         "task.skipped"):
            out.setdefault(e["task_id"], []).append(e["type"])
    return out


@pytest.mark.process
def test_flaky_batch_retries_each_task_as_planned(tmp_path: Path) -> None:
    out, log = tmp_path / "result.json", tmp_path / "events.jsonl"
    proc = start(["run", "examples/flaky-batch.toml", "--output", str(out), "--events", str(log)])
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    planned = {t["id"]: t.get("kwargs", {}).get("failures", 0)
               for t in tomllib.loads(Path(REPO, "examples/flaky-batch.toml").read_text())["tasks"]}
    doc = json.loads(out.read_text())
    assert {t["id"]: t["attempts"] for t in doc["tasks"]} == {k: v + 1 for k, v in planned.items()}
    assert doc["tasks"][1]["value"]["label"] == "billing"
    rows = {line.split()[0]: line.split() for line in stdout.splitlines()[2:14]}
    assert {tid: int(row[2]) for tid, row in rows.items()} == {k: v + 1 for k, v in planned.items()}
    assert stdout.splitlines()[-1].endswith(f"12 succeeded; {sum(planned.values())} retries)")
    events = read_events(log)
    assert events[-1]["type"] == "run.finished" and events[-1]["data"]["ok"] is True
    assert _terminal_events(events) == {tid: ["task.succeeded"] for tid in planned}
    assert "\x1b" not in stdout + stderr and "\r" not in stdout + stderr


@pytest.mark.process
def test_fan_out_fan_in_estimates_pi() -> None:
    proc = start(["run", "examples/fan-out-fan-in.json", "--json"])
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    doc = json.loads(stdout)
    values = {t["id"]: t["value"] for t in doc["tasks"]}
    assert list(values)[0] == "plan" and list(values)[-2:] == ["combine", "check"]
    estimate = values["combine"]
    assert estimate["samples"] == 16_000_000 and estimate["chunks"] == 8
    assert abs(estimate["pi"] - math.pi) < 4 * estimate["stderr"]
    assert values["check"].startswith("pi ~ 3.14")
    assert doc["tasks"][1]["tags"] == {"stage": "fan-out"}


def _analysis_workflow(tmp_path: Path, root: Path, shards: int) -> str:
    flow = yaml.safe_load(Path(REPO, "examples/analysis.yaml").read_text())
    index = flow["tasks"][0]
    assert index["id"] == "index" and index["kwargs"]["root"] == "stdlib"
    index["kwargs"] = {"root": str(root), "shards": shards}
    flow["tasks"] = flow["tasks"][: shards + 1]
    return write(tmp_path, "analysis.yaml", yaml.safe_dump(flow, sort_keys=False))


def test_analysis_pipeline_passes_its_audit(tmp_path: Path) -> None:
    root = REPO / "orchestrator"
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    result = invoke("run", _analysis_workflow(tmp_path, root, 3), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    merged = doc["merged"]
    assert merged["kind"] == "analysis-report" and merged["shards"] == 3
    assert merged["files"] == merged["files_indexed"] == len(files)
    assert merged["lines"] == sum(len(p.read_text().splitlines()) for p in files)
    assert doc["gates"][0]["name"] == "audit_report" and doc["gates"][0]["passed"] is True
    assert doc["gates"][0]["message"].startswith(f"{len(files)} files, ")


def test_analysis_audit_rejects_unparsable_sources(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "good.py").write_text("def f(x):\n    return x\n")
    (root / "also_good.py").write_text("class C:\n    '''Doc.'''\n")
    (root / "broken.py").write_text("def f(:\n")
    result = invoke("run", _analysis_workflow(tmp_path, root, 2))
    assert result.exit_code == 3, result.stderr
    assert ("gate audit_report: REJECTED: 1 of 3 files do not parse (limit 1%); first: "
            "broken.py: SyntaxError: ") in result.stdout
    assert result.stderr == "Error: the run was rejected by 'audit_report'\n"


def test_complexity_counts_decisions_not_nested_functions() -> None:
    source = '''
def f(x, items):
    """Doc."""
    if x and items or not x:
        for i in items:
            while i:
                i -= 1
    try:
        pass
    except ValueError:
        pass
    def inner(y):
        if y:
            return 1
    return [i for i in items if i if i > 1]
'''
    m = measure_source(source)
    # f: 1 + if + and/or (2) + for + while + except + comprehension (1 + 2 ifs) = 10
    assert sorted(m["functions"]) == [(2, "f.inner", 12), (10, "f", 2)]
    assert (m["documented"], m["classes"]) == (1, 0)


@pytest.mark.process
def test_console_script_imports_from_the_current_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("orchestrator")
    if not script.exists():
        script_path = shutil.which("orchestrator")
        if script_path is None:
            pytest.skip("the orchestrator console script is not installed")
        script = Path(script_path)
    write(tmp_path, "my_local_agents.py", "def double(x):\n    return 2 * x\n")
    write(tmp_path, "flow.yaml", "tasks:\n  - {id: a, fn: 'my_local_agents:double', "
                                 "args: [21]}\n")
    env = cli_env()
    env.pop("PYTHONPATH")
    proc = subprocess.run([str(script), "run", "flow.yaml", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tasks"][0]["value"] == 42
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=DEADLINE)
    assert version.stdout.strip() == "orchestrator, version 0.1.0"
