"""The live progress display (rich): its counts (no processes), its frames on a stream, and its
rendering on a real pty.

On a terminal it draws done/total, running, failed, retries, elapsed, ETA and the names of the
running tasks, then erases itself before the summary; with NO_COLOR it writes no colour or
style code; piped, there is no display and no control character at all.
"""

from __future__ import annotations

import io
import os
import pty
import re
import signal
import subprocess
import sys
from typing import Any

import pytest
from rich.file_proxy import FileProxy

from orchestrator.cli.progress import (
    LiveDisplay,
    RunTracker,
    Snapshot,
    counts_text,
    running_text,
)
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

SHOW_CURSOR = "\x1b[?25h"  # rich's last word before it erases the display
ERASE_LINE_UP = "\x1b[1A\x1b[2K"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ev(type_: str, task_id: str | None = None, **kw: Any) -> Event:
    return Event(type_, 0, 0.0, "run", 0.0, task_id, **kw)


def test_tracker_counts_from_events() -> None:
    t = RunTracker()
    t(ev("run.started", data={"tasks": 5}))
    for tid in ("a", "b", "c"):
        t(ev("task.ready", tid))
        t(ev("task.started", tid))
    t(ev("task.succeeded", "a"))
    t(ev("task.retry_scheduled", "b"))
    t(ev("task.failed", "c"))
    t(ev("task.skipped", "d"))
    t(ev("task.started", "b"))
    t(ev("task.started", "e", data={"worker": "tcp://10.0.0.2:8786"}))
    assert t.snapshot() == Snapshot(total=5, done=3, failed=1, dropped=1, retries=1,
                                    running=("b", "e on tcp://10.0.0.2:8786"))


def test_the_counts_and_the_running_names() -> None:
    snap = Snapshot(total=20, done=8, failed=1, dropped=0, retries=2,
                    running=("scan-3", "scan-4"))
    assert counts_text(snap) == "8/20 done  2 running  1 failed  2 retries"
    assert running_text(snap, 100) == "running: scan-3, scan-4"
    idle = Snapshot(None, 0, 0, 2, 1, ())
    assert counts_text(idle) == "0 done  0 running  2 skipped/cancelled  1 retry"
    assert running_text(idle, 100) == "running: -"
    many = Snapshot(1000, 0, 0, 0, 0, tuple(f"t{i}" for i in range(1000)))
    text = running_text(many, 40)
    assert text == "running: t0, t1, t2, t3, t4 (+995 more)" and len(text) <= 40
    # one name is always shown, however narrow; the line itself is cut to the terminal
    assert running_text(Snapshot(1, 0, 0, 0, 0, ("a-very-long-name",)), 10).startswith(
        "running: a-very-long-name")


def draw(events: list[Event], *, color: bool, seconds: float = 12.0,
         during: Any = None) -> str:
    """What a ``LiveDisplay`` writes on a stream for ``events`` over ``seconds``."""
    out, clock = io.StringIO(), Clock()
    with LiveDisplay(out, color=color, clock=clock) as display:
        for e in events:
            display.tracker(e)
        clock.now += seconds
        if during is not None:
            during()
    return out.getvalue()


RUN = [ev("run.started", data={"tasks": 20}), ev("task.started", "scan-3"),
       ev("task.started", "scan-4"), *[ev("task.succeeded", f"x{i}") for i in range(8)],
       ev("task.retry_scheduled", "y"), ev("task.failed", "z")]


def test_a_frame_shows_the_counts_the_time_and_the_names_then_is_erased() -> None:
    text = SGR.sub("", draw(RUN, color=True))
    last = text.rindex("9/20 done")
    frame = text[text.rindex("\n", 0, last) + 1 if "\n" in text[:last] else 0:]
    assert re.search(r"━+.* 9/20 done  2 running  1 failed  1 retry\n"
                     r"0:00:12 elapsed  ETA [-:\d]+  running: scan-3, scan-4\n", frame), frame
    assert text.endswith(SHOW_CURSOR + "\r" + ERASE_LINE_UP * 2)  # both lines erased, last


def test_no_color_means_no_colour_or_style_code_at_all() -> None:
    text = draw(RUN, color=False)
    assert "9/20 done" in text and text.endswith(SHOW_CURSOR + "\r" + ERASE_LINE_UP * 2)
    assert not SGR.search(text), repr(text)


def test_what_the_process_writes_to_stderr_is_printed_above_the_display() -> None:
    def write() -> None:
        print("a warning", file=sys.stderr)
        sys.stderr.write("no end of line yet")

    text = draw(RUN, color=False, during=write)
    assert "a warning\n" in text  # on its own line, through the display's console
    # and the display was drawn again after it, below
    assert "done" in text[text.index("a warning"):text.rindex(SHOW_CURSOR)]
    assert "no end of line yet\n" in text  # not lost when the display ends
    assert not isinstance(sys.stderr, FileProxy)  # and stderr is itself again


def test_a_terminal_that_goes_away_ends_only_the_display() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

    with LiveDisplay(Gone(), color=True) as display:
        display.tracker(ev("run.started", data={"tasks": 1}))
    # nothing raised: the run goes on to print its result and exit with its code


def _start_on_pty(args: list[str], **env: str) -> tuple[subprocess.Popen[str], int]:
    master, slave = pty.openpty()
    try:
        proc = start(args, env=cli_env(COLUMNS="150", TERM="xterm", **env),
                     stdin=slave, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    return proc, master


S = r"(?:\x1b\[[0-9;]*m)*"  # colour codes between the words


@pytest.mark.process
@pytest.mark.timeout(180)
def test_live_display_on_a_terminal_then_summary_in_colour() -> None:
    tasks = [{"id": "warmup", "fn": "workers.agents:echo", "args": [1]},
             {"id": "slow-1", "fn": "workers.agents:hang"},
             {"id": "slow-2", "fn": "workers.agents:hang"}]
    proc, master = _start_on_pty(["run", "--tasks", tasks_json(tasks), "-j", "3"])
    seen = bytearray()
    try:
        frame = read_pty_until(master, rf"1/3 done  2 running  0 retries{S}\r\n{S}\d:\d\d:\d\d"
                                       rf"{S} elapsed  ETA {S}[-:\d]+{S}  running: "
                                       r"slow-[12], slow-[12]", seen)
        assert SGR.search(frame)  # in colour
        proc.send_signal(signal.SIGINT)
        text = drain_pty(master, seen)
        assert proc.wait(DEADLINE) == 130
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = text[text.rindex(SHOW_CURSOR):]  # the display erased itself; the summary follows
    assert after.startswith(SHOW_CURSOR + "\r" + ERASE_LINE_UP * 2)
    assert "done" not in after and "running:" not in after
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
    assert "1/1 done  0 running  1 failed" in text  # the display was drawn
    assert SHOW_CURSOR + "\r" + ERASE_LINE_UP * 2 in text  # and erased
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
    assert not CONTROL.search(stdout + stderr), repr(stdout + stderr)
