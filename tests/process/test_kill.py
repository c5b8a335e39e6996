"""Stopping a task stops its whole process tree: the kill ladder, children, grandchildren and
daemons that left the tree, and descendants that ignore SIGTERM."""

from __future__ import annotations

import os

import psutil
import pytest

from orchestrator import TaskSpec, TaskStatus

from . import liveness_agents as agents
from .conftest import JumpWhenReady, prove_full_pool, run_with_bystanders
from .sync import alive, wait_gone

pytestmark = pytest.mark.process

FAR = 60.0  # a timeout only a deadlock reaches; the test jumps the clock past it


def test_child_ignoring_sigterm_is_killed_when_its_worker_dies_of_the_sigterm(
        pool, tmp_path, beacon):
    # The worker dies of the SIGTERM, so the SIGKILL step is never taken for it; its child,
    # which ignores SIGTERM, must still not survive as an orphan. kill_grace is long so that
    # only the pool's clean-up of the dead worker's group can explain the child's death.
    fault = TaskSpec("stubborn-child", "workers.agents:spawn_children", timeout=FAR,
                     kwargs={"count": 1, "ignore_sigterm": True, "ready": beacon.path})
    cue = JumpWhenReady(pool, beacon, fault.id, FAR)
    run = run_with_bystanders(pool, tmp_path, fault, clock=cue.clock, also=cue.on_event,
                              kill_grace=30.0)
    (child,) = cue.seen[0]
    assert run.fault.status is TaskStatus.TIMED_OUT
    assert run.fault.error.kind == "timeout"
    assert run.fault.error.message == (
        f"task 'stubborn-child' attempt 1 timed out after {FAR}s; killed worker pid "
        f"{run.fault.worker_pid} (SIGTERM)")
    assert run.kills("stubborn-child") == [("timeout", "SIGTERM")]
    assert wait_gone([child, run.fault.worker_pid], timeout=10) == []
    prove_full_pool(pool, 3, tmp_path)


def test_a_child_forked_after_the_kill_listed_the_tree_is_killed(pool, tmp_path, beacon):
    # The SIGTERM step lists the tree first; this task forks a child that leaves the group only
    # on SIGTERM, then its worker exits (so no SIGKILL step). The pool finds the child by the
    # tag it inherited (seen in CI: the chaos test's fork tasks left such a child once).
    child_file = tmp_path / "child.pid"
    fault = TaskSpec("forks-late", agents.fork_on_sigterm, timeout=FAR,
                     args=(beacon.path, str(child_file)))
    cue = JumpWhenReady(pool, beacon, fault.id, FAR)
    run = run_with_bystanders(pool, tmp_path, fault, clock=cue.clock, also=cue.on_event,
                              kill_grace=30.0)
    assert run.fault.status is TaskStatus.TIMED_OUT
    child = int(child_file.read_text())
    first_kill = next(e for e in run.events if e.type == "task.kill")
    assert child not in first_kill.data["pids"]  # forked after the tree was listed
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


def test_ladder_sigterm_then_sigkill_for_a_task_that_ignores_sigterm(pool, tmp_path, beacon):
    fault = TaskSpec("deaf", "workers.agents:ignore_sigterm", timeout=FAR,
                     kwargs={"ready": beacon.path})
    cue = JumpWhenReady(pool, beacon, fault.id, FAR)
    run = run_with_bystanders(pool, tmp_path, fault, clock=cue.clock, also=cue.on_event,
                              kill_grace=0.2)
    assert run.fault.status is TaskStatus.TIMED_OUT
    assert run.fault.error.message == (
        f"task 'deaf' attempt 1 timed out after {FAR}s; killed worker pid "
        f"{run.fault.worker_pid} (SIGKILL)")
    assert run.kills("deaf") == [("timeout", "SIGTERM"), ("timeout", "SIGKILL")]
    term, kill = [e for e in run.events if e.type == "task.kill"]
    assert kill.elapsed - term.elapsed >= 0.2  # the grace was given
    assert [(e.pid, e.reason, e.data["signal"]) for e in run.died()] == [
        (run.fault.worker_pid, "killed", "SIGKILL")]
    assert wait_gone([run.fault.worker_pid]) == []
    prove_full_pool(pool, 3, tmp_path)


@pytest.mark.parametrize("how", ["subprocess", "multiprocessing"])
@pytest.mark.parametrize("deaf", [False, True], ids=["plain", "children-ignore-sigterm"])
def test_timeout_kills_the_whole_tree_grandchildren_included(pool, tmp_path, beacon, how, deaf):
    fault = TaskSpec("tree", "workers.agents:spawn_children", timeout=FAR,
                     kwargs={"count": 2, "depth": 2, "how": how, "ignore_sigterm": deaf,
                             "ready": beacon.path})
    cue = JumpWhenReady(pool, beacon, fault.id, FAR)
    run = run_with_bystanders(pool, tmp_path, fault, clock=cue.clock, also=cue.on_event)
    tree = cue.seen[0]
    assert len(tree) == 4  # two children, each with its own child
    assert run.fault.status is TaskStatus.TIMED_OUT
    assert run.fault.error.kind == "timeout"
    # SIGTERM went to the whole tree at once (the event lists every pid signalled).
    first_kill = next(e for e in run.events if e.type == "task.kill")
    assert set(tree) | {run.fault.worker_pid} <= set(first_kill.data["pids"])
    assert wait_gone(tree + [run.fault.worker_pid]) == []
    prove_full_pool(pool, 3, tmp_path)


def test_a_double_forked_daemon_that_left_the_tree_and_the_group_is_killed(
        pool, tmp_path, beacon):
    # fork, setsid, fork, the middle process exits: the daemon is in another session and
    # process group, and its parent is gone. The worker is a child subreaper, so the daemon is
    # re-parented to it and the kill still finds it.
    fault = TaskSpec("daemonizes", "workers.agents:double_fork", timeout=FAR,
                     kwargs={"ready": beacon.path})
    facts: dict[str, int] = {}

    def inspect(seen: list[list[int]]) -> None:
        daemon = seen[0][0]
        facts.update(pgid=os.getpgid(daemon), ppid=psutil.Process(daemon).ppid())

    cue = JumpWhenReady(pool, beacon, fault.id, FAR, inspect=inspect)
    run = run_with_bystanders(pool, tmp_path, fault, clock=cue.clock, also=cue.on_event)
    (daemon,) = cue.seen[0]
    worker = run.fault.worker_pid
    # Out of the worker's group and session, and adopted by the worker (the subreaper).
    assert facts["pgid"] not in (worker, os.getpgid(0)) and facts["ppid"] == worker
    assert run.fault.status is TaskStatus.TIMED_OUT
    kill_pids = next(e for e in run.events if e.type == "task.kill").data["pids"]
    assert daemon in kill_pids
    assert wait_gone([daemon, run.fault.worker_pid]) == []
