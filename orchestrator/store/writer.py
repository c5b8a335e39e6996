"""RunWriter: one run's outcomes, buffered by the scheduler loop and committed in batches.

The loop calls ``record`` as each task ends (a list append; no I/O) and ``commit`` once per
scheduler step, before the step's results are handed out (and before their terminal events
reach a display). One step's outcomes become one transaction: one per finished task when tasks
finish slower than the loop turns, many per transaction when they finish faster (about 1 per
ms and up), so the cost per task falls as the rate rises (benchmarks/store.py). Whatever a user
was shown as finished was committed first, and a commit survives ``kill -9`` (WAL).

Values are pickled (or taken as the worker's bytes) before the write lock is taken; files for
large values are written inside it, before the rows that name them.

When a commit fails for good (disk full, the file became read-only, another process held the
lock past ``LOCK_WAIT_S``), the transaction is rolled back, so nothing stored before is lost or
damaged, ``commit`` returns the reason once, and the writer stores nothing more: the run goes
on in memory and its summary says results stopped being stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..model.results import TaskResult, TaskStatus
from .blobs import BLOB_THRESHOLD
from .connection import write
from .errors import StoreError
from .keys import Key
from .records import RUN_STATUSES, TASK_COLUMNS, StoredTask, task_row
from .values import Encoded, NotStorable, encode

if TYPE_CHECKING:
    from .store import RunStore

__all__ = ["RunWriter"]

_INSERT_TASK = (f"INSERT OR REPLACE INTO tasks (run, {', '.join(TASK_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (len(TASK_COLUMNS) + 1))})")


@dataclass(slots=True)
class _Outcome:
    result: TaskResult
    key: Key
    encoded: Encoded | None
    not_stored: str | None
    reused: StoredTask | None


class RunWriter:
    """Writes one run into its store: ``record`` buffers, ``commit`` makes durable, ``finish``
    closes the run. Made by ``RunStore.start_run``. Not thread-safe: the loop's thread owns it.
    """

    def __init__(self, store: RunStore, run_key: int, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._run_key = run_key
        self._pending: list[_Outcome] = []
        self._expansions: list[tuple[str, list[str]]] = []
        self.stored = 0  # task outcomes committed so far
        self.stopped: str | None = None  # why nothing more is stored
        self.finished = False

    @property
    def pending(self) -> int:
        """Outcomes recorded and not yet committed."""
        return len(self._pending)

    def record(self, result: TaskResult, key: Key, *, encoded: Encoded | None = None,
               reused: StoredTask | None = None) -> None:
        """Buffer one finished task's outcome (committed by the next ``commit``). Mutates.

        ``key``: its fingerprint, or why it has none. ``encoded``: the value as the worker
        already pickled it (else it is pickled here at commit). ``reused``: the stored result
        this task reused instead of running; its value is shared, not stored again.
        """
        if self.stopped is None:
            self._pending.append(_Outcome(result, key, encoded, None, reused))

    def record_expansion(self, task_id: str, children: Sequence[str]) -> None:
        """Buffer that mapped task ``task_id`` expanded into ``children`` (in index order), so
        a resume rebuilds the same children. Mutates."""
        if self.stopped is None:
            self._expansions.append((task_id, list(children)))

    def commit(self) -> str | None:
        """Write everything buffered in one transaction. Returns None, or, on the one call
        where storing stops for good, the reason (the run goes on without the store)."""
        if self.stopped is not None or not (self._pending or self._expansions):
            return None
        batch, expansions = self._pending, self._expansions
        self._pending, self._expansions = [], []
        for outcome in batch:
            _encode(outcome)
        try:
            with self.store.lock:
                write(self.store.conn, str(self.store.path), "storing task results",
                      lambda c: self._write(c, batch, expansions))
                self.store.checkpoints.committed(len(batch))
        except StoreError as exc:
            self.stopped = (f"results stopped being stored after {self.stored} task(s): {exc}")
            return self.stopped
        self.stored += len(batch)
        return None

    def finish(self, status: str, counts: Mapping[str, int]) -> str | None:
        """Commit what is buffered and mark the run ended with ``status`` (one of
        ``RUN_STATUSES`` but "running") and the run's ``counts`` by task status. Returns the
        reason storing stopped, if it stopped on this call."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"a run finishes with one of {RUN_STATUSES[1:]}, got {status!r}")
        stopped_now = self.commit()
        self.finished = True
        with self.store.lock:
            try:
                write(self.store.conn, str(self.store.path), "finishing the run",
                      lambda c: c.execute(
                          "UPDATE runs SET status = ?, finished = ?, counts = ?, note = ? "
                          "WHERE key = ?", (status, time.time(), json.dumps(dict(counts)),
                                            self.stopped, self._run_key)))
            except StoreError as exc:
                if self.stopped is None:
                    self.stopped = f"the end of the run could not be stored: {exc}"
                    return self.stopped
        return stopped_now

    def _write(self, conn: sqlite3.Connection, batch: list[_Outcome],
               expansions: list[tuple[str, list[str]]]) -> None:
        # Holding the write lock, this transaction is the only one adding values: their keys
        # can be given here, so values and rows go in with one executemany each. They follow
        # the largest key ever given (AUTOINCREMENT's record), so none is ever used twice.
        next_key = 1 + conn.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE "
                                    "name = 'vals'").fetchone()[0]
        gone = self._vanished(conn, batch)
        values: list[tuple[Any, ...]] = []
        rows = []
        for outcome in batch:
            value_key: int | None = None
            not_stored = outcome.not_stored
            reused = outcome.reused
            if reused is not None:
                value_key = reused.value_key
                if value_key in gone:  # another process forgot its run since the lookup
                    value_key = None
                    not_stored = "the result it reused was removed from the store meanwhile"
            elif outcome.encoded is not None and outcome.result.status is TaskStatus.SUCCEEDED:
                value_key = next_key
                next_key += 1
                values.append(self._value_row(value_key, outcome.encoded))
            rows.append(task_row(self._run_key, outcome.result, outcome.key, value_key,
                                 not_stored, reused.origin if reused is not None else None))
        conn.executemany("INSERT INTO vals (key, serializer, size, data, blob) "
                         "VALUES (?, ?, ?, ?, ?)", values)
        conn.executemany(_INSERT_TASK, rows)
        if expansions:
            conn.executemany(
                "INSERT OR REPLACE INTO expansions (run, id, children) VALUES (?, ?, ?)",
                [(self._run_key, tid, json.dumps(kids)) for tid, kids in expansions])

    @staticmethod
    def _vanished(conn: sqlite3.Connection, batch: list[_Outcome]) -> set[int]:
        """The value keys of reused results in ``batch`` that are no longer in the store."""
        wanted = {o.reused.value_key for o in batch
                  if o.reused is not None and o.reused.value_key is not None}
        if not wanted:
            return set()
        found: set[int] = set()
        keys = sorted(wanted)
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit is far above
            chunk = keys[start:start + 500]
            found.update(k for (k,) in conn.execute(
                f"SELECT key FROM vals WHERE key IN ({', '.join('?' * len(chunk))})", chunk))
        return wanted - found

    def _value_row(self, key: int, encoded: Encoded) -> tuple[Any, ...]:
        data = encoded.data
        if len(data) > BLOB_THRESHOLD:  # to a file first: the row must never name a missing one
            return (key, encoded.serializer, len(data), None, self.store.blobs.put(data))
        return (key, encoded.serializer, len(data), data, None)


def _encode(outcome: _Outcome) -> None:
    """Pickle a succeeded task's value unless it came encoded or reused. Mutates ``outcome``."""
    result = outcome.result
    if (result.status is not TaskStatus.SUCCEEDED or outcome.reused is not None
            or outcome.encoded is not None):
        return
    try:
        outcome.encoded = encode(result.value)
    except NotStorable as exc:
        outcome.not_stored = str(exc)
