"""``ProcessPool(executor=DaskExecutor(...))``: the concurrent.futures interface on a real Dask
cluster, with its timeouts killing on the worker host."""

from __future__ import annotations

import pytest

from orchestrator import ProcessPool, TaskTimeout, WorkerCrashed
from workers import agents

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]


def test_submit_map_and_a_timeout_on_the_cluster(dask_executor):
    with ProcessPool(2, executor=dask_executor) as pool:
        assert pool.submit(agents.add, 2, 3).result(timeout=120) == 5
        assert list(pool.map(agents.echo, range(10), chunksize=3)) == list(range(10))
        slow = pool.options(timeout=1.0).submit(agents.hang)
        with pytest.raises(TaskTimeout, match="timed out after 1.0s"):
            slow.result(timeout=120)
        crash = pool.submit(agents.crash, "exit", 5)
        with pytest.raises(WorkerCrashed):
            crash.result(timeout=120)
        assert pool.submit(agents.echo, "after").result(timeout=120) == "after"
