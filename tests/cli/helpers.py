"""Helpers for the CLI tests: in-process invocation, real subprocesses, and waiting on them.

Waiting is always on something the process shows (a line of output, an event in a file, a
process appearing or going away), with a deadline that only a deadlock reaches.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import psutil
from click.testing import CliRunner, Result

from orchestrator.cli import cli

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds; reached only when something is stuck
SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour/style escape


def runner() -> CliRunner:
    # click < 8.2 mixes stderr into stdout unless told not to; 8.2+ keeps them apart always.
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def invoke(*args: str, **kwargs: Any) -> Result:
    """Run the CLI in this process; exceptions become exit codes as they would for a user."""
    return runner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def tasks_json(tasks: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(tasks))


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env["PYTHONPATH"] = str(REPO)  # `tests.cli.*` agents importable in the workers too
    env.update(extra)
    return env


def start(args: Sequence[str], *, cwd: Path = REPO, env: dict[str, str] | None = None,
          **popen: Any) -> subprocess.Popen[str]:
    """Start ``python -m orchestrator ARGS`` with pipes (unless ``popen`` says otherwise)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=cwd,
                            env=env or cli_env(), text=True, **popen)


def wait_for(what: str, check: Callable[[], Any], deadline: float = DEADLINE,
             pause: float = 0.02) -> Any:
    """Re-evaluate ``check`` until it returns something truthy; fail after ``deadline``."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what} after {deadline:.0f}s")
        time.sleep(pause)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON Lines event file (a line being written is left out)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: Sequence[int]) -> None:
    wait_for(f"processes {list(pids)} to end", lambda: all(gone(p) for p in pids))


def read_pty_until(fd: int, pattern: str, seen: bytearray, deadline: float = DEADLINE) -> str:
    """Read the pty master into ``seen`` until ``pattern`` (a regex) matches its text."""
    end = time.monotonic() + deadline
    regex = re.compile(pattern)
    while True:
        text = seen.decode("utf-8", "replace")
        match = regex.search(text)
        if match:
            return match.group(0)
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {pattern!r} on the terminal after {deadline:.0f}s; "
                                 f"it shows:\n{text[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                chunk = b""
            if not chunk:
                raise AssertionError(f"the terminal closed before {pattern!r}:\n{text[-2000:]!r}")
            seen.extend(chunk)


def drain_pty(fd: int, seen: bytearray, deadline: float = DEADLINE) -> str:
    """Read the pty master until the other side closes; returns everything seen."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], end - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen.extend(chunk)
    return seen.decode("utf-8", "replace")
