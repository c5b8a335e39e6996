"""``orchestrator run --cluster``: a workflow on a Dask cluster from the command line, and the
cluster field of a workflow file; bad values are refused with their place (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import invoke, write

from .cluster import TestCluster

pytestmark = pytest.mark.process

FLOW = """\
name: demo
policy:
  task_timeout: 30
tasks:
  - {id: a, fn: "workers.agents:echo", args: [20]}
  - {id: b, fn: "workers.agents:add", args: [{"$ref": a}, 22]}
  - {id: slow, fn: "workers.agents:hang", timeout: 0.5}
"""


def test_run_on_the_cluster_from_the_command_line(cluster: TestCluster, tmp_path: Path):
    path = write(tmp_path, "flow.yaml", FLOW)
    out = tmp_path / "out.json"
    result = invoke("run", path, "--cluster", cluster.address, "--output", str(out))
    assert result.exit_code == 1, result.stderr  # "slow" timed out
    assert result.stdout.startswith(f"running demo ({path}): 3 tasks, max concurrency 4 on the "
                                    f"Dask cluster {cluster.address}\n")
    doc = json.loads(out.read_text())
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert tasks["b"]["value"] == 42
    assert tasks["slow"]["status"] == "timed_out"
    workers = set(cluster.worker_pids())
    assert {t["worker"] for t in tasks.values()} <= workers


def test_the_file_can_name_the_cluster(cluster: TestCluster, tmp_path: Path):
    flow = FLOW.replace("  task_timeout: 30\n", f"  task_timeout: 30\n  cluster: "
                                                f"{cluster.address}\n  max_concurrency: 2\n")
    path = write(tmp_path, "flow.yaml", flow)
    result = invoke("run", path, "--quiet")
    assert result.exit_code == 1, result.stderr
    assert "(2 workers; 3 tasks: 2 succeeded, 1 timed_out)" in result.stdout


@pytest.mark.parametrize("where", ["option", "file"])
def test_a_bad_cluster_is_refused_with_its_place(where: str, tmp_path: Path):
    if where == "option":
        path = write(tmp_path, "flow.yaml", FLOW)
        result = invoke("run", path, "--cluster", "10.0.0.5")
        place = "--cluster"
    else:
        path = write(tmp_path, "flow.yaml", FLOW.replace("  task_timeout: 30\n",
                                                         "  task_timeout: 30\n  cluster: x\n"))
        result = invoke("run", path)
        place = f"{path}:4: policy.cluster"
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {place}: must be a Dask scheduler address such as 'tcp://10.0.0.5:8786', or "
        f"'local:N' for N Dask workers on this machine; got "
        f"{'10.0.0.5' if where == 'option' else 'x'!r}")
