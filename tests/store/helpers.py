"""Shared by the store tests: results and fingerprints to record, the file's integrity, and
a tiny real file system (a tmpfs in a private mount namespace) for full and read-only disks.

``tiny_fs`` runs a shell script under ``unshare --user --map-root-user --mount``: the script
mounts a tmpfs of the given size at ``$FS`` and runs Python there, so a disk that fills up, or
a file system remounted read-only, is real (ENOSPC, EROFS) and works for root too (root ignores
permission bits, not a read-only mount). Where user namespaces are off, those tests skip.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.model.results import TaskError, TaskResult, TaskStatus
from orchestrator.store import Fingerprint

ROOT = Path(__file__).resolve().parents[2]


def fp(n: int | str) -> Fingerprint:
    """A fingerprint made up for a test (the store never looks inside one)."""
    return Fingerprint(hashlib.sha256(f"test-{n}".encode()).digest())


def result(tid: str, status: str = "succeeded", value: Any = None, **kw: Any) -> TaskResult:
    error = None
    if status != "succeeded":
        error = TaskError(kind="exception", type="ValueError", message=f"{tid} broke",
                          traceback="Traceback ...", type_chain=("builtins.ValueError",))
    kw.setdefault("attempts", 1)
    kw.setdefault("busy_time", 0.01)
    return TaskResult(tid, TaskStatus(status), value=value, error=error, **kw)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env.update(extra)
    return env


@functools.lru_cache(maxsize=1)
def _unshare_works() -> bool:
    try:
        done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                               'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && '
                               'umount "$d" && rmdir "$d"'],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


needs_tiny_fs = pytest.mark.skipif(not _unshare_works(),
                                   reason="needs unshare with user and mount namespaces")


def tiny_fs(script: str, size: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` with a fresh tmpfs of ``size`` mounted at ``$FS`` (a directory
    under ``workdir``) and ``$PY`` the test's Python."""
    fs = workdir / "fs"
    fs.mkdir()
    wrapped = f'mount -t tmpfs -o size={size} tmpfs "$FS" && cd "$FS" && {script}'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-ec", wrapped],
        capture_output=True, text=True, timeout=120,
        env=child_env(FS=str(fs), PY=sys.executable), cwd=workdir)
