"""Cleaning a store: forget a run, keep the newest N runs of each name, sweep what is unused.

Deletes go in chunks of ``CHUNK`` rows, one short transaction each, so another process's
writer never waits long for the lock. A value is deleted once no task row refers to it (a
resumed run's reused rows share their origin's value, so forgetting the origin keeps it), and
a blob file once no value names it. The file sweep holds the write lock while it lists the
directory: writers create blob files only while holding it, so every file seen then is either
named by a committed row or left behind by a killed writer.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from .connection import write
from .errors import StoreError
from .records import RunInfo

if TYPE_CHECKING:
    from .store import RunStore

__all__ = ["forget", "gc", "sweep", "CHUNK"]

CHUNK = 2000


def forget(store: RunStore, info: RunInfo) -> None:
    """Delete run ``info`` and whatever only it used. Refuses a run that is still running."""
    _forget_rows(store, info)
    sweep(store)


def gc(store: RunStore, keep: int) -> list[str]:
    """Forget all but the newest ``keep`` runs of each name (live runs are kept); returns the
    ids forgotten, newest first."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 0:
        raise ValueError(f"gc keep must be an integer >= 0, got {keep!r}")
    seen: dict[str, int] = {}
    forgotten: list[str] = []
    for info in store.runs():  # newest first
        seen[info.name] = seen.get(info.name, 0) + 1
        if seen[info.name] > keep and info.status != "running":
            _forget_rows(store, info)
            forgotten.append(info.id)
    sweep(store)
    return forgotten


def _forget_rows(store: RunStore, info: RunInfo) -> None:
    if info.status == "running":
        raise StoreError(f"run store {store.path}: run {info.id} is still running (pid "
                         f"{info.pid} on {info.host}); forget it once it has ended",
                         str(store.path))
    key = store.run_key(info.id)
    _chunked(store, "forgetting a run", "DELETE FROM tasks WHERE run = ?1 AND id IN (SELECT id "
             "FROM tasks WHERE run = ?1 LIMIT ?2)", key)
    with store.lock:
        write(store.conn, str(store.path), "forgetting a run", lambda c: (
            c.execute("DELETE FROM expansions WHERE run = ?", (key,)),
            c.execute("DELETE FROM runs WHERE key = ?", (key,))))
    store.forget_key(info.id)


def sweep(store: RunStore) -> tuple[int, int]:
    """Delete values no task refers to, then blob files no value names; returns how many of
    each."""
    values = _chunked(store, "removing unused values", "DELETE FROM vals WHERE key IN ("
                      "SELECT key FROM vals WHERE key NOT IN (SELECT value FROM tasks WHERE "
                      "value IS NOT NULL) LIMIT ?)")

    def files(c: sqlite3.Connection) -> int:
        unused = [sha for sha in store.blobs.names() if c.execute(
            "SELECT 1 FROM vals WHERE blob = ? LIMIT 1", (sha,)).fetchone() is None]
        store.blobs.remove_temporaries()
        return store.blobs.remove(unused)

    with store.lock:
        removed = write(store.conn, str(store.path), "removing unused value files", files)
    return values, removed


def _chunked(store: RunStore, doing: str, sql: str, *params: object) -> int:
    """Run a ``DELETE ... LIMIT ?`` statement until it deletes fewer than ``CHUNK`` rows."""
    total = 0
    while True:
        with store.lock:
            n = write(store.conn, str(store.path), doing,
                      lambda c: c.execute(sql, (*params, CHUNK)).rowcount)
        total += n
        if n < CHUNK:
            return total
