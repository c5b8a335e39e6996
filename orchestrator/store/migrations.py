"""The store's schema, as an ordered list of migrations keyed by ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``; a new file runs them all. A file
is recognised as a run store by ``PRAGMA application_id``; one whose ``user_version`` is above
``SCHEMA_VERSION`` was written by newer code and is refused (never downgraded). Migrations run
in one ``BEGIN IMMEDIATE`` transaction that reads the version again, so two processes opening a
new file at once migrate it once. Opening always ends with a small write (``meta.opened``),
which proves the file, its directory and the disk take writes before anything runs.

Keys of runs and values are never used twice (``AUTOINCREMENT``): a key another process
looked up before a ``forget`` can only be found missing, never name a newer row.

Every index costs each commit a page written to the WAL, so there are few: ``tasks`` is keyed
by (run, id) without a rowid, and the only other index on it is the fingerprint's (resume and
cache lookups); ``gc`` finds unused values with one ``NOT IN`` over the tasks instead.

Tables (docs/store.md describes each column):
``runs``: one row per run. ``tasks``: one row per finished task of a run. ``vals``: the stored
values (inline, or the sha256 of a file beside the database); a reused task's row points at the
value of the row it came from, so a resume stores no value twice. ``expansions``: the children a
mapped task expanded into. ``meta``: key/value facts about the file.
"""

from __future__ import annotations

import sqlite3
import time

from .connection import retry, write
from .errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "APPLICATION_ID", "migrate"]

# "ORCH": marks the file as a run store for this code and for file(1)-like tools.
APPLICATION_ID = 0x4F524348

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID""",
        """CREATE TABLE runs (
            key INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            started REAL NOT NULL,
            finished REAL,
            counts TEXT,
            policy TEXT NOT NULL,
            resumed_from TEXT,
            note TEXT,
            pid INTEGER,
            pid_started REAL,
            host TEXT)""",
        """CREATE INDEX runs_by_name ON runs (name, key)""",
        """CREATE TABLE vals (
            key INTEGER PRIMARY KEY AUTOINCREMENT,
            serializer TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB,
            blob TEXT,
            CHECK ((data IS NULL) <> (blob IS NULL)))""",
        """CREATE INDEX vals_by_blob ON vals (blob) WHERE blob IS NOT NULL""",
        """CREATE TABLE tasks (
            run INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
            id TEXT NOT NULL,
            status TEXT NOT NULL,
            fingerprint BLOB,
            not_cacheable TEXT,
            attempts INTEGER NOT NULL,
            started_at REAL,
            finished_at REAL,
            duration REAL,
            busy_time REAL NOT NULL,
            cpu_time REAL,
            peak_rss INTEGER,
            worker_pid INTEGER,
            retry_delays TEXT,
            error TEXT,
            reports TEXT,
            tags TEXT,
            value INTEGER REFERENCES vals (key),
            not_stored TEXT,
            reused_from TEXT,
            PRIMARY KEY (run, id),
            CHECK (value IS NULL OR status = 'succeeded')) WITHOUT ROWID""",
        """CREATE INDEX tasks_by_fingerprint ON tasks (fingerprint, run)
            WHERE value IS NOT NULL""",
        """CREATE TABLE expansions (
            run INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
            id TEXT NOT NULL,
            children TEXT NOT NULL,
            PRIMARY KEY (run, id)) WITHOUT ROWID""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def _header(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of tables), read in one statement: one snapshot.
    Three statements outside a transaction could each see another one, and a file another
    process was creating read as "tables but no application_id": not a run store."""
    app, version, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id()), "
        "(SELECT user_version FROM pragma_user_version()), "
        "(SELECT count(*) FROM sqlite_master WHERE type = 'table')").fetchone()
    return int(app), int(version), int(tables)


def check_header(app: int, version: int, tables: int, path: str) -> None:
    """Refuse a file that is not a run store, or one of a newer schema than this code knows."""
    if app != APPLICATION_ID and (app != 0 or tables):
        raise StoreError(f"run store {path}: it is a SQLite database, but not a run store "
                         f"(application_id {app:#x}, {tables} table(s))", path)
    if version > SCHEMA_VERSION:
        raise StoreError(f"run store {path}: its schema is version {version}, newer than this "
                         f"version of orchestrator knows ({SCHEMA_VERSION}); upgrade "
                         f"orchestrator, or use another store", path)


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file to ``SCHEMA_VERSION`` and prove it takes writes; returns the version it
    had. Raises ``StoreError`` (not a store, newer schema, read-only, disk full)."""

    def body(c: sqlite3.Connection) -> int:
        app, version, tables = _header(c)
        check_header(app, version, tables, path)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                c.execute(statement)
        if version < SCHEMA_VERSION:
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?)",
                  (repr(time.time()),))
        return version

    # Read first, without the write lock: a newer or foreign file is refused as such, even
    # when it is also read-only.
    check_header(*retry(path, "reading its header", lambda: _header(conn)), path)
    return write(conn, path, "preparing its schema", body)
