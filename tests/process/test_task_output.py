"""What a task prints (issue 10 defect 13) and a task that uses multiprocessing (defect 14).

A task's stdout and stderr never reach the parent's stdout: they are forwarded to the parent's
stderr line by line with the task's id, or to a file per task (``task_output``), and the last
bytes of each come back on the ``TaskResult`` and in the terminal event. The forwarding itself
is checked through the CLI in tests/cli/test_task_output.py (it needs the process's real fd 2).
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import (
    Event,
    OrchestrationPolicy,
    TaskSpec,
    TaskStatus,
    execute_graph,
    execute_parallel,
)
from orchestrator.telemetry.events import TERMINAL_EVENT_TYPES
from workers.output import TAIL_LIMIT, output_path

from . import hygiene_tasks as t


def _terminal(events: list[Event], task_id: str) -> Event:
    (ev,) = [e for e in events if e.type in TERMINAL_EVENT_TYPES and e.task_id == task_id]
    return ev


def test_each_attempt_keeps_a_bounded_tail_of_its_stdout_and_stderr(pool):
    events: list[Event] = []
    result = execute_parallel(
        [TaskSpec("chatty", t.chatter, args=(2000,)), TaskSpec("quiet", t.pid),
         TaskSpec("p", "builtins:print", args=("hi",))],
        OrchestrationPolicy(max_concurrency=2), executor=pool, on_event=events.append)
    assert result.ok, [r.error for r in result.failed]
    chatty = result["chatty"]
    assert chatty.stdout_tail is not None
    assert 0 < len(chatty.stdout_tail.encode()) <= TAIL_LIMIT
    assert chatty.stdout_tail.endswith("line 001999 xxxxxxxxxx\n")  # the end, not the start
    assert chatty.stderr_tail == "to stderr\n"
    assert result["p"].stdout_tail == "hi\n" and result["p"].stderr_tail is None
    assert result["quiet"].stdout_tail is None and result["quiet"].stderr_tail is None
    ev = _terminal(events, "chatty")
    assert ev.data["stdout_tail"] == chatty.stdout_tail
    assert ev.data["stderr_tail"] == "to stderr\n"
    assert "stdout_tail" not in _terminal(events, "quiet").data
    # An attempt starts from nothing: the next task on the same worker has its own tail only.
    again = execute_parallel([TaskSpec("p2", "builtins:print", args=("again",))],
                             OrchestrationPolicy(max_concurrency=1), executor=pool)
    assert again["p2"].stdout_tail == "again\n"


def test_the_output_of_processes_a_task_starts_is_captured_too(pool):
    result = execute_parallel([TaskSpec("shell", t.child_output)],
                              OrchestrationPolicy(max_concurrency=1), executor=pool)
    r = result["shell"]
    assert r.value == 0
    assert r.stdout_tail == "from a child\n" and r.stderr_tail == "child err\n"


def test_task_output_writes_a_file_per_task(pool, tmp_path):
    out = tmp_path / "out"
    result = execute_parallel(
        [TaskSpec("a/b", t.chatter, args=(3,)), TaskSpec("p", "builtins:print", args=("hi",)),
         TaskSpec("quiet", t.pid)],
        OrchestrationPolicy(max_concurrency=2, task_output=str(out)), executor=pool)
    assert result.ok
    assert (out / "a_b.stdout").read_text().splitlines() == [
        f"line {i:06d} xxxxxxxxxx" for i in range(3)]
    assert (out / "a_b.stderr").read_text() == "to stderr\n"
    assert (out / "p.stdout").read_text() == "hi\n"
    assert not (out / "quiet.stdout").exists()
    assert output_path(str(out), "a/b", "stdout") == str(out / "a_b.stdout")
    assert result["p"].stdout_tail == "hi\n"  # the tail is kept either way


@pytest.mark.parametrize("bad", ["", 3])
def test_task_output_must_be_a_path(bad: Any) -> None:
    from orchestrator import PolicyError

    with pytest.raises(PolicyError, match="task_output"):
        OrchestrationPolicy(task_output=bad)


# -- multiprocessing inside a task (defect 14) ----------------------------------------------


@pytest.mark.parametrize("method", [None, "spawn", "forkserver", "fork"])
def test_a_task_can_use_multiprocessing_as_outside_the_pool(pool, method):
    # On main the worker's default start method was loky's: a Pool() or spawn child looked up
    # the context 'loky' and failed ("cannot find context for 'loky'", in a flood) and hung.
    result = execute_parallel(
        [TaskSpec("pool", t.use_multiprocessing, args=(method,), timeout=120),
         TaskSpec("process", t.use_process, args=(method,), timeout=120)],
        OrchestrationPolicy(max_concurrency=2), executor=pool)
    assert result["pool"].status is TaskStatus.SUCCEEDED, result["pool"].error
    assert result["pool"].value == [0, 1, 4, 9, 16]
    assert result["process"].value == 0
    for r in result:
        assert "cannot find context" not in (r.stderr_tail or "")


def test_a_task_that_redirects_fd_1_or_closes_fd_2_does_not_blind_the_next(tmp_path):
    from orchestrator import LocalPool

    with LocalPool(1, spare_workers=0) as one:
        result = execute_graph(
            [TaskSpec("redirect", t.redirect_fds),
             TaskSpec("next", t.print_both, deps=("redirect",))],
            OrchestrationPolicy(max_concurrency=1), executor=one)
    assert result.ok, [r.error for r in result.failed]
    nxt = result["next"]
    assert nxt.value == result["redirect"].value  # the same worker
    assert (nxt.stdout_tail, nxt.stderr_tail) == ("out again\n", "err again\n")
