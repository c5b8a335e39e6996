"""``DaskExecutor.local()`` (a LocalCluster on 127.0.0.1, closed with the executor), the lazy
``orchestrator.DaskExecutor`` and what is refused, before or at open, with a clear error."""

from __future__ import annotations

import subprocess
import sys

import pytest

import orchestrator
from orchestrator import (
    OrchestrationPolicy,
    PoolError,
    Ref,
    TaskSpec,
    TaskStatus,
    execute_graph,
)
from orchestrator.executors.dask import DaskExecutor
from orchestrator.testing import FakeClock

pytestmark = pytest.mark.process


def test_a_local_cluster_runs_a_graph_and_closes_with_the_executor():
    with DaskExecutor.local(n_workers=2, threads_per_worker=1) as executor:
        specs = [TaskSpec("a", "workers.agents:echo", args=(20,)),
                 TaskSpec("b", "workers.agents:add", args=(Ref("a"), 22)),
                 TaskSpec("slow", "workers.agents:hang", timeout=0.5)]
        result = execute_graph(specs, OrchestrationPolicy(max_concurrency=2),
                               executor=executor)
        assert executor.capacity == 2 and len(executor.workers) == 2
        assert executor.address.startswith("tcp://127.0.0.1:")
    assert executor.closed
    assert result["b"].value == 42
    assert result["slow"].status is TaskStatus.TIMED_OUT
    # the autouse leak check: the LocalCluster's processes and runners are gone


def test_dask_executor_is_importable_from_orchestrator_lazily():
    assert orchestrator.DaskExecutor is DaskExecutor
    assert "DaskExecutor" in dir(orchestrator)
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import orchestrator\n"
            "try:\n    orchestrator.DaskExecutor\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("DaskExecutor needs Dask distributed, which is not installed (")
    assert out.rstrip().endswith("pip install 'orchestrator-engine[dask]'")
    plain = subprocess.run([sys.executable, "-c", "import sys, orchestrator; "
                            "print('distributed' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout
    assert plain.strip() == "False"  # the core never imports Dask


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((42,), {}, TypeError, r"^DaskExecutor takes a scheduler address \('tcp://host:8786'\) or "
                           r"a distributed\.Client, got 42$"),
    (("tcp://h:1",), {"workers": "tcp://a:1"}, ValueError,
     r"^workers must be a non-empty list of worker addresses, got 'tcp://a:1'$"),
    (("tcp://h:1",), {"no_workers_timeout": 0}, ValueError,
     r"^no_workers_timeout must be a number of seconds > 0, got 0$"),
])
def test_bad_arguments_are_refused_at_construction(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        DaskExecutor(*args, **kwargs)


def test_local_needs_at_least_one_worker():
    with pytest.raises(ValueError, match=r"^n_workers must be an integer >= 1, got 0$"):
        DaskExecutor.local(0)


def test_an_unreachable_scheduler_is_refused_at_open():
    executor = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(PoolError, match=r"^cannot connect to the Dask scheduler at "
                                        r"tcp://127\.0\.0\.1:9: "):
        executor.open(FakeClock(), 2)
    executor.close()


UNCLOSED = """
from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel
from orchestrator.executors.dask import DaskExecutor
executor = DaskExecutor.local(n_workers=1)
result = execute_parallel([TaskSpec("a", "workers.agents:echo", args=(1,))],
                          OrchestrationPolicy(max_concurrency=1), executor=executor)
print(result["a"].value)
"""


def test_an_executor_left_open_is_closed_at_interpreter_exit():
    out = subprocess.run([sys.executable, "-c", UNCLOSED], capture_output=True, text=True,
                         timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "1"), out.stderr[-2000:]
    # the autouse leak check: no cluster process, runner or reaper outlived the program
