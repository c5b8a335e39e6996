"""What tasks print, seen from a real `orchestrator run` process (issue 10 defect 13): never on
stdout (so `--json | jq .ok` works), on stderr line by line with the task's id, live while the
task runs, or in a file per task with `--task-output DIR`; and the tail in the JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .helpers import REPO, cli_env, start, tasks_json, wait_for

PRINT = {"id": "p", "fn": "builtins:print", "args": ["hi"]}


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", "run", *args], cwd=cwd,
                          env=cli_env(), capture_output=True, text=True, timeout=300)


def test_json_stays_parseable_when_a_task_prints(tmp_path):
    proc = _run("--tasks", tasks_json([PRINT]), "--json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)  # on main: "hi\n{...}" did not parse (`jq .ok` failed)
    assert document["ok"] is True
    (task,) = document["tasks"]
    assert task["stdout_tail"] == "hi\n"
    assert "[p] hi" in proc.stderr.splitlines()


def test_json_through_jq(tmp_path):
    # The issue's own command line, through a shell and jq when jq is installed.
    jq = next((p for p in ("/usr/bin/jq", "/usr/local/bin/jq") if os.path.exists(p)), None)
    filt = [jq, ".ok"] if jq else [sys.executable, "-c",
                                   "import json,sys; print(json.dumps(json.load(sys.stdin)['ok']))"]
    cli = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--tasks",
                            tasks_json([PRINT]), "--json"], cwd=REPO, env=cli_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = subprocess.run(filt, stdin=cli.stdout, capture_output=True, text=True, timeout=300)
    assert cli.stdout is not None
    cli.stdout.close()
    assert cli.wait(300) == 0
    assert out.stdout.strip() == "true", out.stderr


def test_output_is_forwarded_while_the_task_runs(tmp_path):
    # The task prints, then waits until the test has seen the line on the CLI's stderr: the
    # line came through while the task was still running (the worker's pump), not at its end.
    ready, seen = tmp_path / "ready", tmp_path / "seen"
    task = {"id": "slow", "fn": "tests.cli.output_tasks:print_then_wait",
            "args": [str(ready), str(seen)]}
    proc = start(["run", "--tasks", tasks_json([task]), "-q"])
    try:
        assert proc.stderr is not None
        wait_for("the task to print", ready.exists)
        line = proc.stderr.readline()  # blocks until a line arrives (the deadline is the test's)
        assert line == "[slow] before the wait\n"
        seen.touch()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "[slow stderr] after the wait" in err.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)


def test_task_output_dir_gets_a_file_per_task_and_nothing_on_stderr(tmp_path):
    out = tmp_path / "logs"
    chatty = {"id": "c", "fn": "tests.cli.output_tasks:both", "args": []}
    proc = _run("--tasks", tasks_json([PRINT, chatty]), "--task-output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    assert (out / "p.stdout").read_text() == "hi\n"
    assert (out / "c.stdout").read_text() == "one\ntwo\n"
    assert (out / "c.stderr").read_text() == "three\n"
    assert "[p]" not in proc.stderr and "[c" not in proc.stderr


def test_task_output_that_cannot_be_written_is_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = _run("--tasks", tasks_json([PRINT]), "--task-output", str(blocker / "sub"))
    assert proc.returncode == 2
    assert "--task-output" in proc.stderr and "cannot write task output" in proc.stderr
    assert "[p]" not in proc.stderr  # nothing ran
