"""What a task returns or raises comes back as it was (issue 11 items 12-14).

Exceptions go through the same serialisation as values (cloudpickle when the C pickler cannot
or names ``__main__``), rebuilt without ``__init__``/``__setattr__``; every (un)pickling step in
the parent catches ``BaseException`` (but ``KeyboardInterrupt``) and fails only its task, as
``pickling``; a ``report()`` figure the parent cannot unpickle is dropped with a note on the
result.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator import (
    OrchestrationPolicy,
    TaskFailedError,
    TaskSpec,
    TaskStatus,
    execute_parallel,
)

from . import hygiene_tasks as t

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, sys
    from dataclasses import dataclass
    from orchestrator import TaskFailedError, TaskSpec, execute_parallel

    class Fatal(Exception):
        pass

    @dataclass(frozen=True)
    class FrozenFatal(Exception):
        code: int

    def fatal():
        raise Fatal("from __main__")

    def frozen():
        raise FrozenFatal(9)

    if __name__ == "__main__":
        result = execute_parallel([TaskSpec("fatal", fatal), TaskSpec("frozen", frozen)])
        seen = {}
        try:
            result.raise_for_failures()
        except TaskFailedError as err:
            seen["cause_is_main_class"] = type(err.__cause__) in (Fatal, FrozenFatal)
        for name, cls in (("fatal", Fatal), ("frozen", FrozenFatal)):
            try:
                raise result[name].error.exception()
            except cls as exc:  # `except Fatal:` must match
                seen[name] = [type(exc).__name__, str(exc), getattr(exc, "code", None)]
            except BaseException as exc:
                seen[name] = ["not matched", type(exc).__name__, None]
        print(json.dumps(seen))
''')


def test_exceptions_defined_in_main_come_back_as_themselves(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["fatal"] == ["Fatal", "from __main__", None]
    assert seen["frozen"] == ["FrozenFatal", "9", 9]
    assert seen["cause_is_main_class"] is True


def test_a_frozen_dataclass_exception_comes_back_as_itself(pool):
    result = execute_parallel([TaskSpec("frozen", t.raise_frozen)],
                              OrchestrationPolicy(max_concurrency=1), executor=pool)
    err = result["frozen"].error
    assert (err.kind, err.type) == ("exception", "FrozenError")
    exc = err.exception()
    assert type(exc) is t.FrozenError
    assert (exc.code, exc.detail) == (7, "a frozen dataclass exception")
    assert "raise_frozen" in str(exc.__cause__)  # the worker's traceback, set despite frozen
    with pytest.raises(TaskFailedError) as caught:
        result.raise_for_failures()
    assert type(caught.value.__cause__) is t.FrozenError


def test_sys_exit_in_an_arguments_reduce_fails_only_that_task(pool):
    result = execute_parallel(
        [TaskSpec("bad-arg", t.echo, args=(t.ExitOnPickle(),)),
         TaskSpec("bad-fn", t.ExitOnPickleCallable()),
         TaskSpec("fine", t.echo, args=(1,))],
        OrchestrationPolicy(max_concurrency=1), executor=pool)
    for name in ("bad-arg", "bad-fn"):
        r = result[name]
        assert r.status is TaskStatus.FAILED and r.error.kind == "pickling", (name, r.error)
        assert "SystemExit" in r.error.message
    assert result["fine"].value == 1


def test_sys_exit_while_unpickling_a_result_in_the_parent_fails_only_that_task(pool):
    result = execute_parallel(
        [TaskSpec("exit-value", t.return_exit_on_unpickle),
         TaskSpec("exit-error", t.raise_exit_on_unpickle),
         TaskSpec("fine", t.echo, args=(2,))],
        OrchestrationPolicy(max_concurrency=1), executor=pool)
    r = result["exit-value"]
    assert (r.status, r.error.kind, r.error.type) == (TaskStatus.FAILED, "pickling", "SystemExit")
    assert "could not be unpickled in the parent" in r.error.message
    # Its own __reduce__ would exit wherever it is unpickled: the worker's round trip sees that
    # and sends it rebuilt field by field instead, so it still comes back as itself.
    err = result["exit-error"].error
    assert (err.kind, err.type) == ("exception", "ExitOnUnpickleError")
    rebuilt = err.exception()
    assert type(rebuilt) is t.ExitOnUnpickleError and str(rebuilt) == "unpickling me exits"
    assert result["fine"].value == 2


def test_an_error_whose_unpickling_exits_is_rebuilt_as_its_words():
    from orchestrator import TaskError

    err = TaskError("exception", "ExitOnUnpickle", "m",
                    exception_bytes=pickle.dumps(t.ExitOnUnpickle()))
    rebuilt = err.exception()  # would be SystemExit(3) raised out of here on main
    assert isinstance(rebuilt, TaskFailedError) and str(rebuilt) == "ExitOnUnpickle: m"


def test_several_unpicklable_tasks_at_concurrency_one_all_fail_and_the_run_returns(pool):
    # Each ended at dispatch; with nothing running no event came to pull the next (issue 10
    # defect 9): the run hung on a warm pool.
    execute_parallel([TaskSpec("warm", t.pid)], OrchestrationPolicy(max_concurrency=1),
                     executor=pool)
    specs = [TaskSpec(f"bad{i}", t.echo, args=(t.ExitOnPickle(),)) for i in range(4)]
    result = execute_parallel(specs + [TaskSpec("fine", t.echo, args=(3,))],
                              OrchestrationPolicy(max_concurrency=1), executor=pool)
    assert [r.error.kind for r in result if r.id != "fine"] == ["pickling"] * 4
    assert result["fine"].value == 3


def test_a_report_the_parent_cannot_unpickle_is_dropped_with_a_note(pool):
    result = execute_parallel(
        [TaskSpec("alien", t.report_worker_only), TaskSpec("locked", t.report_unpicklable)],
        OrchestrationPolicy(max_concurrency=1), executor=pool)
    for name, where in (("alien", "unpickled in the parent"), ("locked", "pickled in the worker")):
        r = result[name]
        assert r.status is TaskStatus.SUCCEEDED and r.value == "done", r.error
        assert r.reports["cost"] == 0.5  # the other figures stay
        assert where in r.reports["reports_error"]
    assert "'thing'" in result["alien"].reports["reports_error"]
    assert "thing" not in result["alien"].reports
    assert "'lock'" in result["locked"].reports["reports_error"]
