"""forget and gc: rows, values and blob files go once nothing uses them, and never a live run
or a value a newer run still reuses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator.store import RunStore, StoreError

from .helpers import fp, integrity, result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "runs.db") as s:
        yield s


def _blob_files(store: RunStore) -> list[Path]:
    return sorted(p for p in store.blobs.root.rglob("*") if p.is_file())


def _run(store: RunStore, rid: str, name: str, *values: object) -> None:
    writer = store.start_run(rid, name)
    for i, value in enumerate(values):
        writer.record(result(f"t{i}", value=value), fp(f"{rid}-{i}"))
    writer.finish("succeeded", {"succeeded": len(values)})


def test_forget_removes_a_run_its_values_and_its_files(store: RunStore) -> None:
    big = os.urandom((1 << 20) + 10)
    _run(store, "r1", "wf", "small", big)
    _run(store, "r2", "wf", "other")
    assert len(_blob_files(store)) == 1
    store.forget("r1")
    assert [r.id for r in store.runs()] == ["r2"]
    assert _blob_files(store) == []
    assert store.conn.execute("SELECT count(*) FROM vals").fetchone()[0] == 1  # r2's
    assert store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
    assert store.run("r2")["t0"].value == "other"
    with pytest.raises(StoreError, match=r"no run 'r1'"):
        store.run("r1")
    assert integrity(store.path) == "ok"


def test_forgetting_the_origin_keeps_a_value_a_resumed_run_reuses(store: RunStore) -> None:
    big = os.urandom((1 << 20) + 10)
    _run(store, "r1", "wf", big)
    hit = store.lookup("r1", fp("r1-0"))
    assert hit is not None
    resumed = store.start_run("r2", "wf", resumed_from="r1")
    resumed.record(result("t0", attempts=0), fp("r1-0"), reused=hit)
    resumed.finish("succeeded", {})
    store.forget("r1")
    row = store.task("r2", "t0")
    assert row is not None and row.reused_from == "r1"
    assert store.load(row) == big and len(_blob_files(store)) == 1


def test_gc_keeps_the_newest_runs_of_each_name(store: RunStore) -> None:
    for i in range(4):
        _run(store, f"a{i}", "alpha", os.urandom((1 << 20) + 1 + i))
    for i in range(2):
        _run(store, f"b{i}", "beta", i)
    assert len(_blob_files(store)) == 4
    assert store.gc(keep=2) == ["a1", "a0"]
    assert [r.id for r in store.runs()] == ["b1", "b0", "a3", "a2"]
    assert len(_blob_files(store)) == 2
    assert store.gc(keep=2) == []
    assert store.gc(keep=0) == ["b1", "b0", "a3", "a2"]
    assert store.runs() == [] and _blob_files(store) == []
    assert store.conn.execute("SELECT count(*) FROM vals").fetchone()[0] == 0
    with pytest.raises(ValueError, match=r"^gc keep must be an integer >= 0, got -1$"):
        store.gc(keep=-1)


def test_a_live_run_is_never_forgotten(store: RunStore) -> None:
    live = store.start_run("live", "wf")
    live.record(result("a", value=1), fp("a"))
    live.commit()
    with pytest.raises(StoreError, match=r"run live is still running \(pid \d+ on .*\); forget "
                                         r"it once it has ended"):
        store.forget("live")
    assert store.gc(keep=0) == []
    live.finish("succeeded", {})
    assert store.gc(keep=0) == ["live"]


def test_files_a_killed_writer_left_behind_are_swept(store: RunStore) -> None:
    _run(store, "r1", "wf", 1)
    orphan = store.blobs.root / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"written, never committed")
    temp = store.blobs.root / "ab" / ".tmp-999-0"
    temp.write_bytes(b"half a value")
    store.gc(keep=5)
    assert not orphan.exists() and not temp.exists()
    assert store.run("r1")["t0"].value == 1


def test_a_key_looked_up_before_a_forget_never_names_a_newer_value(store: RunStore) -> None:
    _run(store, "r1", "wf", "old")
    stale = store.lookup("r1", fp("r1-0"))
    assert stale is not None
    store.forget("r1")  # the newest value and the newest run are gone ...
    _run(store, "r2", "wf", "new")  # ... and new ones are added
    fresh = store.task("r2", "t0")
    assert fresh is not None and fresh.value_key != stale.value_key
    resumed = store.start_run("r3", "wf", resumed_from="r1")
    resumed.record(result("t0", attempts=0), fp("r1-0"), reused=stale)
    resumed.finish("succeeded", {})
    row = store.task("r3", "t0")
    assert row is not None and not row.stored
    assert row.not_stored == "the result it reused was removed from the store meanwhile"
    with pytest.raises(StoreError, match=r"was removed from the store"):
        store.load(stale)
