"""Real processes on one store file: two writers at once, and a writer killed mid-stream."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.store import RunStore

from .helpers import child_env, integrity
from .writer_child import value

pytestmark = pytest.mark.timeout(300)


def _writer(db: Path, run_id: str, tasks: int, batch: int, big_every: int = 0
            ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.writer_child", str(db), run_id, str(tasks),
         str(batch), str(big_every)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(), cwd=Path(__file__).resolve().parents[2])


def test_two_processes_write_two_runs_into_one_new_file_at_once(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"  # not there yet: both race to create and migrate it
    children = [_writer(db, rid, 400, 1, big_every=100) for rid in ("left", "right")]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        assert err == ""
        assert out.splitlines()[-1] == "done"
    assert integrity(db) == "ok"
    with RunStore(db) as store:
        assert sorted((r.id, r.status) for r in store.runs()) == [
            ("left", "succeeded"), ("right", "succeeded")]
        for rid in ("left", "right"):
            run = store.run(rid)
            assert len(run) == 400
            for i in (0, 1, 100, 399):
                assert run[f"t{i}"].value == value(rid, i, 100)


def test_a_writer_killed_mid_stream_loses_nothing_it_had_committed(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    child = _writer(db, "doomed", 1_000_000, 3, big_every=50)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    acknowledged = 0
    while acknowledged < 300:  # it keeps writing while we read: the kill lands mid-stream
        line = child.stdout.readline()
        assert line.startswith("stored "), (line, child.stderr.read() if child.stderr else "")
        acknowledged = int(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    child.stdin.close()
    assert child.stderr is not None
    child.stderr.close()
    assert integrity(db) == "ok"
    with RunStore(db) as store:
        (info,) = store.runs()
        assert info.status == "incomplete"
        run = store.run("doomed")
        assert len(run) >= acknowledged
        for i in range(acknowledged):
            assert run[f"t{i}"].value == value("doomed", i, 50)
        store.forget("doomed")  # and the files it left are swept with it
        assert [p for p in store.blobs.root.rglob("*") if p.is_file()] == []
    assert integrity(db) == "ok"
