"""Open a store's SQLite file the one right way, and run every statement through one lock retry.

* **WAL** (``journal_mode=WAL``): readers never block the writer, the writer never blocks
  readers, and several processes may share one file (each run has one writer: its parent).
* **synchronous=NORMAL**: a commit is a ``write()`` into the WAL file without an fsync. What was
  committed survives ``kill -9`` of this process (the kernel holds it); a power cut can lose the
  commits since the last checkpoint, never corrupt the file (docs/store.md).
* **busy_timeout**: SQLite itself waits for a lock held by another connection.
* **BEGIN IMMEDIATE** for every write: the write lock is taken when the transaction starts. A
  deferred transaction that reads and then writes fails at once with ``SQLITE_BUSY`` when
  another connection wrote in between (its snapshot is stale, so SQLite does not wait): that is
  the "database is locked" of langgraph#8136. With IMMEDIATE a writer only ever waits.
* A **bounded retry** around each operation for the cases SQLite does not wait on (WAL
  recovery after a crash, a busy timeout that ran out): backoff, and after ``LOCK_WAIT_S`` a
  ``StoreError`` that says another process holds the lock. "database is locked" never surfaces.

Every ``sqlite3`` error leaves here as a ``StoreError`` that names the path and what is wrong.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from .errors import StoreError

__all__ = ["connect", "retry", "write", "translate", "error_code", "LOCK_WAIT_S"]

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5_000
# How long one operation may wait for another process's lock in all, retries included. The
# store keeps its own transactions short (ms; forget and gc delete in chunks), so only a stuck
# foreign process reaches it.
LOCK_WAIT_S = 60.0
# Less free space than this is a full disk: not one value of a run would fit.
MIN_FREE_BYTES = 1 << 20

# Primary result codes (sqlite3.h).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26

# Python < 3.11 gives no error code: the messages sqlite3_errstr() writes for each.
_MESSAGES = (
    ("database is locked", SQLITE_BUSY), ("is locked", SQLITE_LOCKED),
    ("readonly database", SQLITE_READONLY), ("disk i/o error", SQLITE_IOERR),
    ("malformed", SQLITE_CORRUPT), ("is full", SQLITE_FULL),
    ("unable to open", SQLITE_CANTOPEN), ("not a database", SQLITE_NOTADB),
)


def error_code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of ``exc`` (None when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    return next((c for words, c in _MESSAGES if words in text), None)


def _is_busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and error_code(exc) in (
        SQLITE_BUSY, SQLITE_LOCKED)


def translate(exc: BaseException, path: str, doing: str) -> StoreError:
    """``exc`` (a sqlite3 or OS error met while ``doing``) as a StoreError naming ``path``."""
    if isinstance(exc, StoreError):
        return exc
    code = error_code(exc) if isinstance(exc, sqlite3.Error) else None
    if isinstance(exc, OSError) and exc.errno is not None:
        code = {28: SQLITE_FULL, 30: SQLITE_READONLY, 13: SQLITE_READONLY}.get(exc.errno, code)
    if code == SQLITE_IOERR and _free(Path(path).parent) < MIN_FREE_BYTES:
        code = SQLITE_FULL  # SQLite says "disk I/O error" when it cannot grow its -shm file
    what = {
        SQLITE_FULL: "the disk is full",
        SQLITE_READONLY: "it is read-only (the file or its directory cannot be written)",
        SQLITE_NOTADB: "it is not a SQLite database",
        SQLITE_CORRUPT: "the database file is damaged (database disk image is malformed)",
        SQLITE_CANTOPEN: _cannot_open(Path(path)),
        SQLITE_BUSY: f"another process has held its lock for over {LOCK_WAIT_S:g}s",
        SQLITE_LOCKED: f"another process has held its lock for over {LOCK_WAIT_S:g}s",
    }.get(code or -1, f"{type(exc).__name__}: {exc}")
    return StoreError(f"run store {path}: {what} (while {doing})", path)


def _free(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return MIN_FREE_BYTES  # cannot tell: do not claim the disk is full

def _cannot_open(path: Path) -> str:
    parent = path.parent
    if not parent.is_dir():
        return f"its directory {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return (f"its directory {parent} is read-only, and SQLite must create files beside "
                f"the database")
    return "SQLite cannot open it"


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode with the store's settings (file created if absent).

    Raises ``StoreError`` for a missing or read-only directory, a path that is not a file, and
    a file that is not a SQLite database.
    """
    where = str(path)
    if path.exists() and not path.is_file():
        raise StoreError(f"run store {where}: it is not a file", where)
    if not path.exists():
        reason = _cannot_open(path)
        if reason != "SQLite cannot open it":
            raise StoreError(f"run store {where}: cannot create it: {reason}", where)
    free = _free(path.parent)
    if free < MIN_FREE_BYTES:
        raise StoreError(f"run store {where}: the disk is full ({free} bytes free on the file "
                         f"system of {path.parent})", where)
    try:
        # isolation_level=None: this module issues BEGIN/COMMIT itself (no implicit BEGIN).
        conn = sqlite3.connect(where, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise translate(exc, where, "opening it") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry(where, "reading its header", lambda: conn.execute("PRAGMA schema_version").fetchone())
        mode = retry(where, "switching it to WAL mode",
                     lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints.py runs them off the loop
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    if str(mode).lower() != "wal":
        conn.close()
        raise StoreError(f"run store {where}: SQLite cannot use WAL mode on it (journal mode "
                         f"stays {mode!r}: a read-only or network file system?)", where)
    return conn


def retry(path: str, doing: str, op: Callable[[], T]) -> T:
    """``op()``, tried again while another connection holds a lock, for up to ``LOCK_WAIT_S``.

    Any other SQLite or OS error becomes a ``StoreError`` at once.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.001
    while True:
        try:
            return op()
        except sqlite3.Error as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise translate(exc, path, doing) from exc
        except OSError as exc:
            raise translate(exc, path, doing) from exc
        time.sleep(delay)  # SQLite's own busy wait already ran; back off before the next try
        delay = min(delay * 2, 0.1)


def write(conn: sqlite3.Connection, path: str, doing: str,
          body: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``body(conn)`` in one ``BEGIN IMMEDIATE`` transaction and commit it, retried as a
    whole while the lock is busy (``body`` must be safe to run again). On any error the
    transaction is rolled back and the error raised as a ``StoreError``."""

    def once() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = body(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return out

    return retry(path, doing, once)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite has rolled back on its own (disk full, I/O error): nothing is kept
