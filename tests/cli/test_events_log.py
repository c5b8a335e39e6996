"""`orchestrator run --events`: a reader that reads nothing cannot hold a deadline, and a log
that cannot be written in full does not cost the run its summary: the log is named incomplete,
with the count missing, and the exit code is 4 (or the run's own code, with a warning)."""

from __future__ import annotations

import json
import re
import resource
import signal
from pathlib import Path

import pytest

from .helpers import DEADLINE, invoke, start, tasks_json, wait_for, write

pytestmark = pytest.mark.process

NOOPS = [{"id": f"t{i}", "fn": "workers.agents:noop"} for i in range(200)]


def test_a_reader_that_reads_nothing_does_not_hold_a_timeout(tmp_path: Path) -> None:
    # `--events - | (sleep 9; cat)`: the 3,000 quick tasks' events fill the pipe long before
    # the hanging task starts; its 1 s timeout must fire anyway. The task after it writes a
    # marker: only then does this test start reading the CLI's stdout.
    marker = tmp_path / "after-the-timeout"
    quick = [{"id": f"q{i}", "fn": "workers.agents:noop"} for i in range(3000)]
    hang = {"id": "hang", "fn": "workers.agents:hang", "timeout": 1,
            "deps": [q["id"] for q in quick]}
    after = {"id": "after", "fn": "workers.agents:hang", "kwargs": {"seconds": 0,
                                                                     "ready": str(marker)},
             "deps": ["hang"]}
    wf = write(tmp_path, "wf.json", json.dumps({"policy": {"max_concurrency": 2,
                                                           "on_failure": "continue"},
                                                "tasks": [*quick, hang, after]}))
    proc = start(["run", wf, "--events", "-", "--quiet"])
    try:
        wait_for("the task after the timed-out one (the loop waited for the reader?)",
                 marker.exists)
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run.finished"
    [timed_out] = [e for e in events if e["type"] == "task.timed_out"]
    assert timed_out["task_id"] == "hang" and timed_out["duration"] < DEADLINE / 3
    assert len(events) == events[-1]["seq"]  # every event, none lost


def test_a_full_device_still_gives_the_summary_and_exit_4() -> None:
    result = invoke("run", "--tasks", tasks_json(NOOPS), "-j", "2", "--events", "/dev/full")
    assert result.exit_code == 4
    assert "200 succeeded" in result.stdout  # the summary, as after any run
    [error] = result.stderr.splitlines()
    # Three events a task, the run's two, and one per worker started (if any was).
    match = re.fullmatch(r"Error: the event log is incomplete: JSON Lines sink for '/dev/full': "
                         r"cannot write the event log: \[Errno 28\] No space left on device; "
                         r"([\d,]+) of \1 events were not written", error)
    assert match and int(match[1].replace(",", "")) >= 200 * 3 + 2, error


def test_a_failed_run_keeps_its_code_and_says_the_log_is_incomplete_too() -> None:
    tasks = [{"id": "boom", "fn": "workers.agents:fail"}, *NOOPS[:3]]
    result = invoke("run", "--tasks", tasks_json(tasks), "--events", "/dev/full", "--quiet")
    assert result.exit_code == 1
    warning, error = result.stderr.splitlines()
    assert warning.startswith("Warning: the event log is incomplete: JSON Lines sink for "
                              "'/dev/full': cannot write the event log: [Errno 28]")
    assert error == "Error: 1 of 4 tasks did not succeed (1 failed, 3 succeeded)"


def _small_disk() -> None:
    """In the CLI's process: files may not grow past 20 kB, as on a disk that fills up."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))


def test_a_disk_that_fills_up_mid_run_still_gives_the_summary(tmp_path: Path) -> None:
    # What used to end in "unexpected SinkError", exit 1, and no summary.
    log = tmp_path / "events.jsonl"
    proc = start(["run", "--tasks", tasks_json(NOOPS), "-j", "2", "--events", str(log)],
                 preexec_fn=_small_disk)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 4, err
    assert "200 succeeded" in out
    lines = log.read_bytes().split(b"\n")
    complete = len(lines) - 1  # the last one was cut by the limit
    assert log.stat().st_size == 20_000
    [error] = err.splitlines()
    match = re.fullmatch(r"Error: the event log is incomplete: JSON Lines sink for '.*': cannot "
                         r"write the event log: \[Errno 27\] File too large; (\d+) of (\d+) "
                         r"events were not written", error)
    assert match, error
    missing, total = int(match[1]), int(match[2])
    assert missing == total - complete > 0  # exactly the events not in the file


def test_the_log_is_appended_to_on_a_fresh_line(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text('{"schema":1,"type":"run.st')  # a run killed mid-line
    assert invoke("run", "--tasks", tasks_json(NOOPS[:1]), "--events", str(log),
                  "--quiet").exit_code == 0
    first, *rest = log.read_text().splitlines()
    assert first == '{"schema":1,"type":"run.st'
    assert [json.loads(line)["type"] for line in rest][0] == "run.started"


def test_stdout_closed_early_is_an_incomplete_log(tmp_path: Path) -> None:
    proc = start(["run", "--tasks", tasks_json(NOOPS), "--events", "-", "--quiet"])
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 4, err
    assert "[Errno 32] Broken pipe" in err.splitlines()[-1]
    assert "Traceback" not in err and "Exception ignored" not in err
