"""RunStore: a SQLite file (WAL) that keeps runs, their task results and values, by fingerprint.

One file holds many runs, of many names, written by several processes at once; each run has
one writer, the parent process that runs it (``start_run`` gives its ``RunWriter``). Reading is
for everyone: ``runs()``, ``run(id)``, and the lookups a new run makes: ``lookup`` (resume:
the succeeded result of one run with a fingerprint), ``cached`` (the newest succeeded result
with a fingerprint in any run), ``succeeded``/``tasks`` (a run's rows, paged, so memory stays
flat). ``forget`` and ``gc`` clean up (``maintenance.py``).

Opening checks everything it can before a run starts (``connection.py``, ``migrations.py``):
not a SQLite file, not a run store, a newer schema, a read-only file or directory, a full disk.
One connection per store, guarded by a lock, so a store may be shared by threads.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import psutil

from . import maintenance
from .blobs import BlobDamaged, BlobFiles
from .checkpoints import Checkpointer
from .connection import connect, retry, write
from .errors import StoreError, UnknownRunError, UnreadableValueError
from .keys import Fingerprint
from .migrations import migrate
from .records import RUN_COLUMNS, TASK_COLUMNS, RunInfo, StoredTask, run_info, stored_task
from .values import decode
from .view import StoredRun
from .writer import RunWriter

__all__ = ["RunStore"]

_TASKS = ", ".join(f"t.{c}" for c in TASK_COLUMNS)
_RUNS = ", ".join(RUN_COLUMNS)
PAGE = 1000  # rows per read when paging through a run
# Without statistics SQLite would rather scan a run by its primary key than use this index: a
# resume of n tasks would then read n^2 rows.
_BY_FINGERPRINT = "tasks t INDEXED BY tasks_by_fingerprint"


class RunStore:
    """A run store at ``path`` (created if absent). A context manager; ``close()`` ends it.

    Raises ``StoreError`` when the file cannot serve as a store (the message says why).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.lock = threading.RLock()
        self.conn: sqlite3.Connection = connect(self.path)
        try:
            migrate(self.conn, str(self.path))
        except BaseException:
            self.conn.close()
            raise
        self.blobs = BlobFiles(Path(f"{self.path}.blobs"))
        self.checkpoints = Checkpointer(self.path)
        self._run_keys: dict[str, int] = {}
        self._closed = False

    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self._closed = True
                self.checkpoints.close()
                self.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RunStore {self.path}{' (closed)' if self._closed else ''}>"

    def _read(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self._closed:
            raise StoreError(f"run store {self.path} is closed", str(self.path))
        with self.lock:
            return retry(str(self.path), doing, lambda: self.conn.execute(sql, params).fetchall())

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, run_id: str, name: str, *, policy: Mapping[str, Any] | None = None,
                  resumed_from: str | None = None) -> RunWriter:
        """Record that run ``run_id`` of ``name`` starts now; returns its writer."""
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a run's name must be a non-empty string, got {name!r}")
        me = psutil.Process()

        def body(c: sqlite3.Connection) -> int:
            if c.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise StoreError(f"run store {self.path}: it already holds a run {run_id!r}",
                                 str(self.path))
            cur = c.execute(
                "INSERT INTO runs (id, name, status, started, policy, resumed_from, pid, "
                "pid_started, host) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (run_id, name, time.time(), json.dumps(dict(policy or {}), default=repr),
                 resumed_from, me.pid, me.create_time(), socket.gethostname()))
            assert cur.lastrowid is not None
            return cur.lastrowid

        with self.lock:
            key = write(self.conn, str(self.path), "starting a run", body)
        self._run_keys[run_id] = key
        return RunWriter(self, key, run_id)

    def runs(self, name: str | None = None) -> list[RunInfo]:
        """Every run (or every run of ``name``), newest first."""
        where, params = ("WHERE name = ?", (name,)) if name is not None else ("", ())
        rows = self._read("listing runs", f"SELECT {_RUNS} FROM runs {where} ORDER BY key DESC",
                          params)
        return [self._info(row) for row in rows]

    def run(self, run_id: str) -> StoredRun:
        """Run ``run_id``'s task results: a read-only mapping task id -> ``TaskResult`` that
        reads from the file as it is used (``.info`` is the run)."""
        return StoredRun(self, self.info(run_id))

    def info(self, run_id: str) -> RunInfo:
        """The run ``run_id``; ``UnknownRunError`` (listing the newest runs) if absent."""
        rows = self._read("reading a run", f"SELECT {_RUNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise self._unknown(f"no run {run_id!r}", None)
        return self._info(rows[0])

    def newest_run(self, name: str) -> RunInfo | None:
        """The newest run of ``name``, or None."""
        runs = self._read("finding a run", f"SELECT {_RUNS} FROM runs WHERE name = ? "
                          "ORDER BY key DESC LIMIT 1", (name,))
        return self._info(runs[0]) if runs else None

    def resume_target(self, name: str, resume: bool | str) -> RunInfo:
        """The run that ``resume`` names for a run of ``name``: its newest run (``True``) or
        the run with that id, which must be a run of ``name``. Raises ``UnknownRunError``."""
        if resume is True:
            newest = self.newest_run(name)
            if newest is None:
                raise self._unknown(f"no run of {name!r} to resume", None)
            return newest
        if not isinstance(resume, str) or not resume:
            raise ValueError(f"resume must be True or a run id, got {resume!r}")
        rows = self._read("finding a run", f"SELECT {_RUNS} FROM runs WHERE id = ?", (resume,))
        if not rows:
            raise self._unknown(f"no run {resume!r} to resume", name)
        info = self._info(rows[0])
        if info.name != name:
            raise self._unknown(f"run {resume!r} is a run of {info.name!r}, not of {name!r}",
                                name)
        return info

    def forget(self, run_id: str) -> None:
        """Delete run ``run_id``, its results, and the values and files nothing else uses."""
        maintenance.forget(self, self.info(run_id))

    def gc(self, keep: int) -> list[str]:
        """Keep the newest ``keep`` runs of each name, forget the rest (never a live run);
        returns the ids forgotten."""
        return maintenance.gc(self, keep)

    # -- results ------------------------------------------------------------------------------

    def lookup(self, run_id: str, fingerprint: Fingerprint) -> StoredTask | None:
        """A stored succeeded result with ``fingerprint`` in run ``run_id`` (resume)."""
        rows = self._read("looking up a result", f"SELECT {_TASKS} FROM {_BY_FINGERPRINT} "
                          "WHERE t.fingerprint = ? AND t.run = ? AND t.value IS NOT NULL LIMIT 1",
                          (fingerprint.digest, self.run_key(run_id)))
        return stored_task(run_id, rows[0]) if rows else None

    def cached(self, fingerprint: Fingerprint) -> StoredTask | None:
        """The newest stored succeeded result with ``fingerprint``, from any run (cache)."""
        rows = self._read("looking up a result", f"SELECT r.id, {_TASKS} FROM {_BY_FINGERPRINT} "
                          "JOIN runs r ON r.key = t.run WHERE t.fingerprint = ? AND "
                          "t.value IS NOT NULL ORDER BY t.run DESC LIMIT 1",
                          (fingerprint.digest,))
        return stored_task(rows[0][0], rows[0][1:]) if rows else None

    def reusable(self, fingerprint: Fingerprint, run_id: str | None
                 ) -> tuple[StoredTask, Any] | None:
        """A stored succeeded result with ``fingerprint`` and its value, in one read: in run
        ``run_id`` (resume), or the newest in any run (``None``: cache). None when there is
        none, or when its value cannot be read back (the task runs again)."""
        where, params = ("t.run = ?", (fingerprint.digest, self.run_key(run_id))) \
            if run_id is not None else ("1", (fingerprint.digest,))
        rows = self._read("looking up a result", f"SELECT r.id, {_TASKS}, v.serializer, "
                          f"v.data, v.blob FROM {_BY_FINGERPRINT} JOIN vals v ON v.key = "
                          f"t.value JOIN runs r ON r.key = t.run WHERE t.fingerprint = ? AND "
                          f"{where} ORDER BY t.run DESC LIMIT 1", params)
        if not rows:
            return None
        row = rows[0]
        task = stored_task(row[0], row[1:-3])
        serializer, data, blob = row[-3:]
        try:
            return task, decode(serializer, data if blob is None else self.blobs.get(blob))
        except Exception:  # a damaged file, a class gone: not reusable
            return None

    def task(self, run_id: str, task_id: str) -> StoredTask | None:
        """Task ``task_id`` of run ``run_id``, or None if the run has no such row."""
        rows = self._read("reading a task", f"SELECT {_TASKS} FROM tasks t WHERE t.run = ? "
                          "AND t.id = ?", (self.run_key(run_id), task_id))
        return stored_task(run_id, rows[0]) if rows else None

    def tasks(self, run_id: str, *, succeeded_only: bool = False) -> Iterator[StoredTask]:
        """Run ``run_id``'s task rows in id order, read ``PAGE`` at a time (flat memory)."""
        key = self.run_key(run_id)
        only = " AND t.value IS NOT NULL" if succeeded_only else ""
        after = ""
        while True:
            rows = self._read("reading a run's tasks", f"SELECT {_TASKS} FROM tasks t WHERE "
                              f"t.run = ? AND t.id > ?{only} ORDER BY t.id LIMIT {PAGE}",
                              (key, after))
            for row in rows:
                yield stored_task(run_id, row)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def task_count(self, run_id: str) -> int:
        """How many task rows run ``run_id`` has."""
        return int(self._read("counting a run's tasks", "SELECT count(*) FROM tasks WHERE "
                              "run = ?", (self.run_key(run_id),))[0][0])

    def succeeded(self, run_id: str) -> Iterator[StoredTask]:
        """Run ``run_id``'s succeeded tasks whose value is stored, in id order, paged."""
        return self.tasks(run_id, succeeded_only=True)

    def load(self, task: StoredTask) -> Any:
        """The value of a stored task; ``UnreadableValueError`` if it cannot be read back."""
        what = f"run store {self.path}: the value of task {task.task_id!r} (run {task.run_id})"
        if task.value_key is None:
            raise UnreadableValueError(f"{what} is not stored: {task.not_stored or task.status}",
                                       str(self.path))
        rows = self._read("reading a value", "SELECT serializer, data, blob FROM vals "
                          "WHERE key = ?", (task.value_key,))
        if not rows:
            raise UnreadableValueError(f"{what} was removed from the store", str(self.path))
        serializer, data, blob = rows[0]
        try:
            return decode(serializer, data if blob is None else self.blobs.get(blob))
        except BlobDamaged as exc:
            raise UnreadableValueError(f"{what} cannot be read: {exc}", str(self.path)) from exc
        except Exception as exc:
            raise UnreadableValueError(f"{what} cannot be unpickled ({serializer}): "
                                       f"{type(exc).__name__}: {exc}", str(self.path)) from exc

    def expansion(self, run_id: str, task_id: str) -> tuple[str, ...] | None:
        """The children mapped task ``task_id`` expanded into in run ``run_id`` (None: none
        recorded)."""
        rows = self._read("reading an expansion", "SELECT children FROM expansions WHERE "
                          "run = ? AND id = ?", (self.run_key(run_id), task_id))
        return tuple(json.loads(rows[0][0])) if rows else None

    # -- internals ----------------------------------------------------------------------------

    def run_key(self, run_id: str) -> int:
        """The row key of run ``run_id``; ``UnknownRunError`` if absent."""
        key = self._run_keys.get(run_id)
        if key is None:
            rows = self._read("finding a run", "SELECT key FROM runs WHERE id = ?", (run_id,))
            if not rows:
                raise self._unknown(f"no run {run_id!r}", None)
            key = self._run_keys[run_id] = rows[0][0]
        return key

    def forget_key(self, run_id: str) -> None:
        """Drop ``run_id`` from the key cache (it was forgotten). Mutates."""
        self._run_keys.pop(run_id, None)

    def _info(self, row: tuple[Any, ...]) -> RunInfo:
        key, status, pid, host, started = row[0], row[3], row[10], row[11], row[12]
        if status != "running":
            return run_info(row, status, None)
        counts = dict(self._read("counting a run's tasks", "SELECT status, count(*) FROM tasks "
                                 "WHERE run = ? GROUP BY status", (key,)))
        # A run on another host cannot be checked from here: it counts as running.
        alive = host != socket.gethostname() or _alive(pid, started)
        return run_info(row, "running" if alive else "incomplete", counts)

    def _unknown(self, what: str, name: str | None) -> UnknownRunError:
        candidates = self.runs(name)[:10] if name is not None else []
        scope = f"runs of {name!r}"
        if not candidates:
            candidates, scope = self.runs()[:10], "runs in it"
        listing = "".join(f"\n  {c.describe()}" for c in candidates) or " none"
        return UnknownRunError(f"run store {self.path}: {what}; {scope} (newest first):"
                               f"{listing}", str(self.path), candidates)


def _alive(pid: int | None, started: float | None) -> bool:
    """Whether process ``pid``, started at ``started``, still runs (on this host)."""
    if pid is None:
        return False
    try:
        return started is None or abs(psutil.Process(pid).create_time() - started) < 0.01
    except psutil.Error:
        return False
