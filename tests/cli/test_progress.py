"""The live progress display: its arithmetic (no processes) and its rendering on a real pty.

On a terminal it draws done/total, running, failed, retries, elapsed, ETA and the names of the
running tasks, then erases itself before the summary; piped, there is no display and no
control character at all.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
from typing import Any

import pytest

from orchestrator.cli.progress import RunTracker, Snapshot, format_clock, render
from orchestrator.telemetry.events import Event

from .helpers import (
    DEADLINE,
    SGR,
    cli_env,
    drain_pty,
    read_pty_until,
    start,
    tasks_json,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ev(type_: str, task_id: str | None = None, **kw: Any) -> Event:
    return Event(type_, 0, 0.0, "run", 0.0, task_id, **kw)


def test_tracker_counts_from_events() -> None:
    clock = Clock()
    t = RunTracker(clock)
    t(ev("run.started", data={"tasks": 5}))
    for tid in ("a", "b", "c"):
        t(ev("task.ready", tid))
        t(ev("task.started", tid))
    clock.now += 10
    t(ev("task.succeeded", "a"))
    t(ev("task.retry_scheduled", "b"))
    t(ev("task.failed", "c"))
    t(ev("task.skipped", "d"))
    t(ev("task.started", "b"))
    t(ev("task.started", "e"))
    snap = t.snapshot()
    assert snap == Snapshot(total=5, done=3, failed=1, dropped=1, retries=1,
                            running=("b", "e"), elapsed=10.0, eta=10.0 / 3 * 2)


def test_render_fits_the_width_and_names_what_runs() -> None:
    snap = Snapshot(total=20, done=8, failed=1, dropped=0, retries=2,
                    running=("scan-3", "scan-4"), elapsed=12.4, eta=18.6)
    assert render(snap, 120) == [
        "[########------------]  8/20 done  2 running  1 failed  2 retries  00:12 elapsed  "
        "ETA ~00:18",
        "running: scan-3, scan-4",
    ]
    narrow = render(snap, 30)
    assert all(len(line) <= 29 for line in narrow) and narrow[0].endswith("...")
    idle = render(Snapshot(None, 0, 0, 0, 1, (), 3725.0, None), 120)
    assert idle == ["[--------------------]  0 done  0 running  1 retry  1:02:05 elapsed  "
                    "ETA --:--", "running: -"]
    assert format_clock(59.9) == "00:59"


def _start_on_pty(args: list[str], **env: str) -> tuple[subprocess.Popen[str], int]:
    master, slave = pty.openpty()
    try:
        proc = start(args, env=cli_env(COLUMNS="150", TERM="xterm", **env),
                     stdin=slave, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    return proc, master


@pytest.mark.process
@pytest.mark.timeout(180)
def test_live_display_on_a_terminal_then_summary_in_colour() -> None:
    tasks = [{"id": "warmup", "fn": "workers.agents:echo", "args": [1]},
             {"id": "slow-1", "fn": "workers.agents:hang"},
             {"id": "slow-2", "fn": "workers.agents:hang"}]
    proc, master = _start_on_pty(["run", "--tasks", tasks_json(tasks), "-j", "3"])
    seen = bytearray()
    try:
        frame = read_pty_until(master, r"1/3 done  2 running .*ETA[^\n]*\n\x1b\[2Krunning: "
                                       r"slow-[12], slow-[12]", seen)
        assert "0 retries" in frame and "elapsed" in frame
        proc.send_signal(signal.SIGINT)
        text = drain_pty(master, seen)
        assert proc.wait(DEADLINE) == 130
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = text[text.rindex("\x1b[J"):]  # the display erased itself; the summary follows
    assert "\x1b[2K" not in after
    assert re.search(r"slow-1\s+\x1b\[33mcancelled", after), after
    assert re.search(r"warmup\s+\x1b\[32msucceeded", after), after
    assert "Error: interrupted by SIGINT" in after


@pytest.mark.process
@pytest.mark.timeout(180)
def test_no_colour_with_no_color_but_still_a_display() -> None:
    proc, master = _start_on_pty(["run", "--tasks", tasks_json(
        [{"id": "boom", "fn": "workers.agents:fail"}])], NO_COLOR="1")
    seen = bytearray()
    try:
        text = drain_pty(master, seen)
        assert proc.wait(DEADLINE) == 1
    finally:
        os.close(master)
    assert "\x1b[2K" in text and "\x1b[J" in text  # the display was drawn and erased
    assert "boom: failed" in text
    assert not SGR.search(text), repr(text)


@pytest.mark.process
@pytest.mark.timeout(180)
def test_piped_output_has_no_display_and_no_control_characters() -> None:
    tasks = [{"id": "boom", "fn": "workers.agents:fail"},
             {"id": "ok", "fn": "workers.agents:echo", "args": [1]}]
    proc = start(["run", "--tasks", tasks_json(tasks)], env=cli_env(TERM="xterm"))
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 1
    assert "boom: failed" in stdout and "running:" not in stdout + stderr
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", stdout + stderr), repr(stdout + stderr)
