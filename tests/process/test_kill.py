"""Stopping a task stops its whole process tree: the kill ladder, children, grandchildren and
daemons that left the tree, and descendants that ignore SIGTERM."""

from __future__ import annotations

import pytest

from orchestrator import TaskSpec, TaskStatus

from .conftest import prove_full_pool, run_with_bystanders
from .sync import JumpClock, alive, on_ready, wait_gone

pytestmark = pytest.mark.process

FAR = 60.0  # a timeout only a deadlock reaches; the test jumps the clock past it


def _timeout_when_ready(pool, beacon, clock, *, count=1):
    """Once the agent reported (its pids), jump past its deadline and wake the loop."""
    seen: list[list[int]] = []

    def fire(lines: list[str]) -> None:
        seen.extend([int(x) for x in line.split()] for line in lines)
        clock.jump(FAR)
        pool.wakeup()

    on_ready(beacon, fire, count=count)
    return seen


def test_child_ignoring_sigterm_is_killed_when_its_worker_dies_of_the_sigterm(
        pool, tmp_path, beacon):
    # The worker dies of the SIGTERM, so the SIGKILL step is never taken for it; its child,
    # which ignores SIGTERM, must still not survive as an orphan. kill_grace is long so that
    # only the pool's clean-up of the dead worker's group can explain the child's death.
    clock = JumpClock()
    fault = TaskSpec("stubborn-child", "workers.agents:spawn_children", timeout=FAR,
                     kwargs={"count": 1, "ignore_sigterm": True, "ready": beacon.path})
    seen = _timeout_when_ready(pool, beacon, clock)
    run = run_with_bystanders(pool, tmp_path, fault, clock=clock, kill_grace=30.0)
    (child,) = seen[0]
    assert run.fault.status is TaskStatus.TIMED_OUT
    assert run.fault.error.kind == "timeout"
    assert run.fault.error.message == (
        f"task 'stubborn-child' attempt 1 timed out after {FAR}s; killed worker pid "
        f"{run.fault.worker_pid} (SIGTERM)")
    assert run.kills("stubborn-child") == [("timeout", "SIGTERM")]
    assert wait_gone([child, run.fault.worker_pid], timeout=10) == []
    prove_full_pool(pool, 3, tmp_path)


@pytest.mark.parametrize("how", ["subprocess", "multiprocessing"])
def test_children_left_running_by_a_task_that_returned_are_gone_with_its_result(pool, how):
    from orchestrator import OrchestrationPolicy, execute_parallel

    spec = TaskSpec("leaves-children", "workers.agents:spawn_children",
                    kwargs={"count": 2, "depth": 2, "hang_after": False, "how": how})
    result = execute_parallel([spec], OrchestrationPolicy(max_concurrency=1), executor=pool)
    assert result.ok, result.failed
    pids = result["leaves-children"].value
    assert len(pids) == 4  # 2 children, each with a child of its own
    assert alive(pids) == []  # killed before the result was sent: no patience needed
    assert alive([result["leaves-children"].worker_pid])  # the worker itself stays
