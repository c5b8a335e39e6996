"""Opening a store: the schema and its migrations, and every way a file can be unusable, each
refused with a StoreError that names the path and the problem before anything runs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from orchestrator.model.errors import OrchestratorError
from orchestrator.store import RunStore, StoreError
from orchestrator.store.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

from .helpers import fp, needs_tiny_fs, result, tiny_fs


def test_a_new_store_has_the_whole_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        assert store.path == path
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "runs", "tasks", "vals", "expansions", "sqlite_sequence"}


def test_opening_again_keeps_what_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        writer = store.start_run("r1", "wf")
        writer.record(result("a", value=[1, 2]), fp("a"))
        writer.finish("succeeded", {"succeeded": 1})
    with RunStore(path) as store:
        assert [r.id for r in store.runs()] == ["r1"]
        assert store.run("r1")["a"].value == [1, 2]


def test_an_older_file_is_migrated_and_a_second_open_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # version 0: a store, no tables
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        store.start_run("r1", "wf").finish("succeeded", {})
    with RunStore(path) as store:
        assert [r.status for r in store.runs()] == ["succeeded"]


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=(
            rf"^run store {path}: its schema is version {SCHEMA_VERSION + 1}, newer than this "
            rf"version of orchestrator knows \({SCHEMA_VERSION}\); upgrade orchestrator, or use "
            r"another store$")) as info:
        RunStore(path)
    assert info.value.path == str(path)
    assert isinstance(info.value, OrchestratorError) and info.value.exit_code == 2


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not SQLite\n" * 200)
    with pytest.raises(StoreError, match=rf"^run store {path}: it is not a SQLite database "
                                         r"\(while reading its header\)$"):
        RunStore(path)
    assert path.read_text() == "this is not SQLite\n" * 200  # left as it was


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=rf"^run store {path}: it is a SQLite database, but not "
                                         r"a run store \(application_id 0x0, 1 table\(s\)\)$"):
        RunStore(path)


def test_a_directory_or_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=rf"^run store {tmp_path}: it is not a file$"):
        RunStore(tmp_path)
    missing = tmp_path / "nope" / "runs.db"
    with pytest.raises(StoreError, match=rf"^run store {missing}: cannot create it: its "
                                         rf"directory {missing.parent} does not exist$"):
        RunStore(missing)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits; see the tmpfs test")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StoreError, match=r"cannot create it: its directory .* is read-only"):
            RunStore(folder / "runs.db")
    finally:
        folder.chmod(0o755)


_OPEN = ('$PY -c "import sys; from orchestrator.store import RunStore, StoreError\n'
         'try:\n    RunStore(sys.argv[1])\nexcept StoreError as e:\n    print(e)" ')


@needs_tiny_fs
def test_a_read_only_file_system_is_refused_for_new_and_existing_stores(tmp_path: Path) -> None:
    done = tiny_fs(
        '$PY -c "from orchestrator.store import RunStore; RunStore(\'old.db\').close()" && '
        'mount -o remount,ro "$FS" && ' + _OPEN + "old.db && " + _OPEN + "new.db",
        "4m", tmp_path)
    fs = tmp_path / "fs"
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"run store {fs}/old.db: its directory {fs} is read-only, and SQLite must create files "
        f"beside the database (while reading its header)",
        f"run store {fs}/new.db: cannot create it: its directory {fs} is read-only, and SQLite "
        f"must create files beside the database",
    ]


@needs_tiny_fs
def test_a_full_disk_is_refused_at_open(tmp_path: Path) -> None:
    done = tiny_fs(
        '$PY -c "from orchestrator.store import RunStore; RunStore(\'old.db\').close()" && '
        '(cat /dev/zero > filler 2>/dev/null || true) && ' + _OPEN + "old.db && " + _OPEN
        + "new.db", "4m", tmp_path)
    fs = tmp_path / "fs"
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"run store {fs}/{name}: the disk is full (0 bytes free on the file system of {fs})"
        for name in ("old.db", "new.db")]


def test_the_header_is_read_from_one_snapshot(tmp_path: Path) -> None:
    # Read in three statements, a store another process was creating could be seen between
    # its commits' snapshots as "6 tables, application_id 0": not a run store (seen in CI when
    # two workflows opened one new file at once). One statement reads one snapshot.
    from orchestrator.store.migrations import _header

    with RunStore(tmp_path / "runs.db"):
        pass
    conn = sqlite3.connect(tmp_path / "runs.db")
    tables = len(_tables(conn))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert _header(conn) == (APPLICATION_ID, SCHEMA_VERSION, tables)
    finally:
        conn.close()
    # The trace also shows the pragmas a statement runs inside it, as "-- PRAGMA ..." lines.
    assert len([s for s in statements if not s.startswith("--")]) == 1, statements


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
