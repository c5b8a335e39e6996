"""Large values as files beside the database, named by the sha256 of their content.

A value over ``BLOB_THRESHOLD`` bytes would bloat the database and its WAL, so it goes to
``<store>.blobs/<first two hex digits>/<sha256 hex>``. A file is written atomically: to a
temporary name in the same directory, flushed and fsynced, renamed into place, and the
directory fsynced, so a name that exists always holds the whole content. It is written before
the row that names it commits, inside the same write lock (``writer.py``): after a power cut a
row never names a missing file, and ``gc`` (which holds that lock too) never removes a file
that another process is about to reference. Reading checks the content against its name.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["BlobFiles", "BLOB_THRESHOLD", "BlobDamaged"]

BLOB_THRESHOLD = 1 << 20  # 1 MiB

_TEMP_PREFIX = ".tmp-"
_names = itertools.count()


class BlobDamaged(Exception):
    """A blob file is missing, or its content no longer matches its name."""


class BlobFiles:
    """The blob directory of one store (created on the first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store ``data`` (once per content); returns its sha256 hex. Raises ``OSError``."""
        sha = hashlib.sha256(data).hexdigest()
        final = self._path(sha)
        try:
            if final.stat().st_size == len(data):
                return sha  # same name, same size: the same content, written whole earlier
        except FileNotFoundError:
            pass
        _make_dir(final.parent)
        temp = final.parent / f"{_TEMP_PREFIX}{os.getpid()}-{next(_names)}"
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return sha

    def get(self, sha: str) -> bytes:
        """The content named ``sha``; raises ``BlobDamaged`` if it is missing or altered."""
        try:
            data = self._path(sha).read_bytes()
        except FileNotFoundError:
            raise BlobDamaged(f"its file {self._path(sha)} is missing") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise BlobDamaged(f"its file {self._path(sha)} does not hold what was written")
        return data

    def remove(self, shas: Iterable[str]) -> int:
        """Delete the files named ``shas``; returns how many were there. Mutates the disk."""
        removed = 0
        for sha in shas:
            try:
                self._path(sha).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def names(self) -> Iterator[str]:
        """The sha of every blob file present."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith(_TEMP_PREFIX):
                        yield f.name

    def remove_temporaries(self) -> int:
        """Delete temporary files a killed writer left behind. Call only while holding the
        store's write lock (no writer is between its write and its rename then)."""
        removed = 0
        if self.root.is_dir():
            for f in self.root.glob(f"*/{_TEMP_PREFIX}*"):
                f.unlink(missing_ok=True)
                removed += 1
        return removed


def _make_dir(path: Path) -> None:
    if not path.is_dir():
        created_root = not path.parent.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        _fsync_dir(path.parent)
        if created_root:
            _fsync_dir(path.parent.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
