"""Every task starts in a clean worker (issue 18 items 2-3): what one task changes in its worker's
interpreter (signal dispositions, timers, the wakeup fd, the signal mask, cwd, ``sys.path``,
``os.environ``) is put back before the next task, in the same run and across runs of a warm
pool; a thread left running makes the worker retire, uncharged. Every test runs its tasks on a
one-worker pool, and checks that the probing task ran in the same worker as the one that
changed things (else the test would prove nothing)."""

from __future__ import annotations

import signal
from typing import Any, Iterator

import pytest

from orchestrator import (
    Event,
    LocalPool,
    OrchestrationPolicy,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
)

from . import hygiene_tasks as t
from .sync import alive, wait_gone


@pytest.fixture
def one() -> Iterator[LocalPool]:
    with LocalPool(1, spare_workers=0) as pool:
        yield pool


def _chain(*specs: TaskSpec) -> list[TaskSpec]:
    """Run ``specs`` one after the other (each depends on the previous)."""
    out: list[TaskSpec] = []
    for spec in specs:
        deps = (out[-1].id,) if out else ()
        out.append(TaskSpec(spec.id, spec.fn, args=spec.args, kwargs=spec.kwargs,
                            timeout=spec.timeout, deps=deps))
    return out


def _run(pool: LocalPool, *specs: TaskSpec, **policy: Any) -> Any:
    policy.setdefault("on_failure", "continue")
    return execute_graph(_chain(*specs), OrchestrationPolicy(max_concurrency=1, **policy),
                         executor=pool)


def test_a_sigterm_handler_left_by_a_task_does_not_turn_the_next_timeout_into_a_failure(one):
    # On main the handler stayed: the next task's timeout SIGTERM raised SystemExit in it and
    # it reported `failed` SystemExit. Three rounds, each on the same (replaced) worker slot.
    specs: list[TaskSpec] = []
    for i in range(3):
        specs += [TaskSpec(f"install-{i}", t.install_handlers),
                  TaskSpec(f"hang-{i}", "workers.agents:busy_hang", timeout=0.5)]
    result = _run(one, *specs)
    for i in range(3):
        hang = result[f"hang-{i}"]
        assert hang.status is TaskStatus.TIMED_OUT, (hang.status, hang.error)
        assert hang.error.kind == "timeout"
        assert result[f"install-{i}"].value == hang.worker_pid  # the same worker


def test_signal_dispositions_timers_wakeup_fd_and_mask_are_put_back(one):
    result = _run(one, TaskSpec("handlers", t.install_handlers), TaskSpec("timers", t.set_timers),
                  TaskSpec("wakeup", t.set_wakeup_fd), TaskSpec("mask", t.block_sigterm),
                  TaskSpec("probe", t.probe))
    assert result.ok, [r.error for r in result.failed]
    seen = result["probe"].value
    assert {result[n].value for n in ("handlers", "timers", "wakeup", "mask")} == {seen["pid"]}
    assert seen["sigterm"] and seen["sigusr1"]  # SIG_DFL again
    assert seen["sigint"]  # the worker's own SIG_IGN, not the task's handler
    assert seen["timers"] == [0.0, 0.0]  # a left alarm would have killed the idle worker
    assert seen["wakeup_fd"] == -1
    assert int(signal.SIGTERM) not in seen["blocked"]


def test_cwd_sys_path_and_environ_are_put_back_within_a_run_and_across_runs(one, tmp_path,
                                                                            monkeypatch):
    before = _run(one, TaskSpec("probe", t.probe))["probe"].value
    changed = _run(one, TaskSpec("move", t.move_things, args=(str(tmp_path),)),
                   TaskSpec("probe", t.probe))
    later = _run(one, TaskSpec("probe", t.probe))["probe"].value  # the next run, same worker
    now = changed["probe"].value
    assert changed["move"].value == now["pid"] == later["pid"] == before["pid"]
    for seen in (now, later):
        assert seen["cwd"] == before["cwd"] != str(tmp_path)
        assert not seen["left_on_path"]
        assert seen["env_left"] is None
        assert seen["env_kept"] == before["env_kept"]
    replaced = _run(one, TaskSpec("replace", t.replace_sys_path), TaskSpec("probe", t.probe))
    assert not replaced["probe"].value["path_only"]  # the list object itself is put back


@pytest.fixture
def kept_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set before the pool starts: the worker inherits it, a task removes it, it must return.
    monkeypatch.setenv("ORCHESTRATOR_KEEP_ME", "kept")


def test_an_environment_variable_a_task_removed_comes_back(kept_env, tmp_path):
    with LocalPool(1, spare_workers=0) as pool:
        result = _run(pool, TaskSpec("probe0", t.probe),
                      TaskSpec("move", t.move_things, args=(str(tmp_path),)),
                      TaskSpec("probe", t.probe))
    assert result["probe0"].value["env_kept"] == "kept"
    assert result["probe"].value["env_kept"] == "kept"
    assert result["probe"].value["pid"] == result["move"].value


def test_a_thread_left_running_retires_the_worker_uncharged(one):
    events: list[Event] = []
    result = execute_graph(_chain(TaskSpec("sticky", t.leave_thread),
                                  TaskSpec("next", t.pid)),
                           OrchestrationPolicy(max_concurrency=1), executor=one,
                           on_event=events.append)
    assert result.ok
    sticky, nxt = result["sticky"], result["next"]
    assert sticky.attempts == 1 and sticky.status is TaskStatus.SUCCEEDED
    assert nxt.value != sticky.value  # a fresh worker ran the next task
    assert wait_gone([sticky.value]) == []  # the dirty worker is gone, its thread with it
    exits = [e for e in events if e.type == "worker.died" and e.pid == sticky.value]
    assert [e.reason for e in exits] == ["retired"], exits  # not "crashed"


def test_a_thread_that_ended_keeps_the_worker(one):
    result = _run(one, TaskSpec("joined", t.join_thread), TaskSpec("next", t.pid))
    assert result.ok
    assert result["joined"].value == result["next"].value


def test_a_thread_left_running_with_an_attempt_queued_behind_it(tmp_path):
    # Two workers, queueing on: whatever was sent behind the dirty worker is requeued, never
    # run twice, never charged.
    with LocalPool(2, spare_workers=0) as pool:
        specs = [TaskSpec("sticky", t.leave_thread)] + [
            TaskSpec(f"q{i}", t.pid) for i in range(8)]
        result = execute_parallel(specs, OrchestrationPolicy(max_concurrency=2, max_pending=4),
                                  executor=pool)
        assert result.ok, [r.error for r in result.failed]
        assert all(r.attempts == 1 for r in result)
        assert alive([result["sticky"].value]) == [] or wait_gone([result["sticky"].value]) == []
        assert result["sticky"].value not in pool.worker_pids


def test_the_next_run_starts_clean_on_the_warm_shared_pool(pool, tmp_path):
    # The library's default pool, as a user meets it: two runs, the first leaves things behind.
    policy = OrchestrationPolicy(max_concurrency=1)
    first = execute_parallel([TaskSpec("move", t.move_things, args=(str(tmp_path),))], policy,
                             executor=pool)
    second = execute_parallel([TaskSpec("probe", t.probe)], policy, executor=pool)
    seen = second["probe"].value
    assert seen["pid"] == first["move"].value  # one worker at concurrency 1: the same one
    assert seen["cwd"] != str(tmp_path)
    assert not seen["left_on_path"] and seen["env_left"] is None
