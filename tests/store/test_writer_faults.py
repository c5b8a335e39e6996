"""A disk that fills up mid-run: the writer says so once, stores nothing more, and nothing
stored before is lost or damaged.

Three ways to fill it: SQLite's ``max_page_count`` (the database may not grow: SQLITE_FULL,
as from a full disk), a blob write that fails with ENOSPC, and a real tmpfs that runs out of
space (``tiny_fs``; skipped without user namespaces).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from orchestrator.store import RunStore
from orchestrator.store.blobs import BlobFiles

from .helpers import fp, integrity, needs_tiny_fs, result, tiny_fs


def test_a_full_database_stops_storing_once_and_keeps_what_was_stored(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        writer = store.start_run("r1", "wf")
        for i in range(20):
            writer.record(result(f"t{i}", value=i), fp(i))
        assert writer.commit() is None
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # no room to grow any more
        for i in range(20, 40):
            writer.record(result(f"t{i}", value="x" * 5000), fp(i))
        reason = writer.commit()
        assert reason == (f"results stopped being stored after 20 task(s): run store {path}: "
                          f"the disk is full (while storing task results)")
        assert writer.stopped == reason
        writer.record(result("late", value=1), fp("late"))
        assert writer.pending == 0  # dropped: nothing more is stored
        assert writer.commit() is None  # said once
        assert writer.finish("succeeded", {"succeeded": 41}) is None
        assert writer.stored == 20
    assert integrity(path) == "ok"
    with RunStore(path) as store:
        run = store.run("r1")
        assert sorted(run, key=lambda t: int(t[1:])) == [f"t{i}" for i in range(20)]
        assert [run[f"t{i}"].value for i in range(20)] == list(range(20))
        assert run.info.note == reason and run.info.status == "succeeded"


def test_a_value_file_that_cannot_be_written_stops_storing(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        writer = store.start_run("r1", "wf")
        writer.record(result("small", value=1), fp(1))
        assert writer.commit() is None

        def no_space(self: BlobFiles, data: bytes) -> str:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(BlobFiles, "put", no_space)
        writer.record(result("also-small", value=2), fp(2))
        writer.record(result("big", value=b"x" * ((1 << 20) + 1)), fp(3))
        reason = writer.commit()
        assert reason is not None and reason.endswith(
            f"run store {path}: the disk is full (while storing task results)")
        assert [t.task_id for t in store.tasks("r1")] == ["small"]  # the batch rolled back
    assert integrity(path) == "ok"


_FILL = r'''
import json, sys
from orchestrator.store import RunStore
from tests.store.helpers import fp, result, integrity
size, batch = int(sys.argv[1]), int(sys.argv[2])
store = RunStore("runs.db")
writer = store.start_run("r1", "wf")
reason, i = None, 0
while reason is None and i < 1000:
    for _ in range(batch):
        writer.record(result(f"t{i}", value=bytes([i % 256]) * size), fp(i))
        i += 1
    reason = writer.commit()
stored = writer.stored
store.close()
import os
os.remove("filler")  # room again: read everything back
store = RunStore("runs.db")
values = {t.task_id: store.load(t) for t in store.succeeded("r1")}
ok = all(v == bytes([int(k[1:]) % 256]) * size for k, v in values.items())
temps = [p for p in store.blobs.root.rglob(".tmp-*")] if store.blobs.root.exists() else []
print(json.dumps({"reason": reason, "stored": stored, "rows": len(values), "ok": ok,
                  "integrity": integrity("runs.db"), "temps": len(temps)}))
'''


@needs_tiny_fs
@pytest.mark.parametrize(("size", "batch"), [(100_000, 3), ((1 << 20) + 1000, 1)],
                         ids=["inline", "blob"])
def test_a_real_disk_that_fills_up_mid_run(tmp_path: Path, size: int, batch: int) -> None:
    (tmp_path / "fill.py").write_text(_FILL)
    # 1.2 MiB kept free at open (the store needs 1 MiB), then filled by the run itself.
    done = tiny_fs(f'head -c 2500k /dev/zero > filler && $PY ../fill.py {size} {batch}', "4m",
                   tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["reason"] is not None and "the disk is full" in out["reason"], out
    assert out["stored"] > 0 and out["rows"] == out["stored"], out
    assert out["ok"] and out["integrity"] == "ok" and out["temps"] == 0, out
