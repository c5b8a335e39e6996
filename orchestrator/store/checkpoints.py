"""WAL checkpoints on a thread of the store's own, so no commit in the scheduler loop pays for one.

SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: it copies
the WAL into the database and fsyncs both, in the middle of the scheduler's step. (On this
shared, loaded machine the slowest commits took 10-30 ms either way, so the gain could not be
measured apart from the noise; the fsyncs are what it moves off the loop.) The store's connection
turns it off (``wal_autocheckpoint=0``); after every ``EVERY_COMMITS`` commits (or
``EVERY_OUTCOMES`` outcomes) the writer nudges this thread, which runs a PASSIVE checkpoint on
its own connection: it never takes the write lock, so commits go on meanwhile, and SQLite
releases the GIL while it copies and syncs. A checkpoint that cannot finish (a reader holds an
old snapshot) is tried again at the next nudge; durability never depends on it (docs/store.md).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["Checkpointer", "EVERY_COMMITS", "EVERY_OUTCOMES"]

EVERY_COMMITS = 200  # a commit writes a few pages: about 1,000 pages, SQLite's own interval
EVERY_OUTCOMES = 4000  # large batches write fewer pages per outcome


class Checkpointer:
    """Runs WAL checkpoints for one store file when nudged; the thread starts on first use.
    Used under the store's lock (the writer's commit, the store's close)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wake = threading.Event()
        self._due = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._commits = 0
        self._outcomes = 0
        self.done = 0  # checkpoints run (for tests and benchmarks)

    def committed(self, outcomes: int) -> None:
        """Count one commit of ``outcomes``; nudge the thread when a checkpoint is due."""
        self._commits += 1
        self._outcomes += outcomes
        if self._commits >= EVERY_COMMITS or self._outcomes >= EVERY_OUTCOMES:
            self._commits = self._outcomes = 0
            self.nudge()

    def nudge(self) -> None:
        if self._closing:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"checkpoint {self.path.name}",
                                            daemon=True)
            self._thread.start()
        self._due = True
        self._wake.set()

    def close(self) -> None:
        """Stop the thread once the checkpoint asked for last (if any) has run."""
        self._closing = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._due:
                    self._due = False
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self.done += 1
                    except sqlite3.Error:
                        pass  # tried again at the next nudge; nothing waits for it
                if self._closing:
                    return
        finally:
            conn.close()
