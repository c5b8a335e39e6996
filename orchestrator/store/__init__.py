"""Durable runs: a SQLite run store, resume without redoing finished work, caching by
fingerprint (docs/store.md).

* ``store.py``: ``RunStore``, the file: runs, task results, lookups by fingerprint;
* ``run_binding.py``: ``StoreOptions``/``RunBinding``, one run's tie to its store (the
  session opens it, the scheduler calls it: keys, reuse, durable outcomes, held events);
* ``writer.py``: ``RunWriter``, one run's outcomes, committed in batches;
* ``view.py``: ``StoredRun``, a stored run read lazily as a mapping of ``TaskResult``s;
* ``maintenance.py``: forget, gc, sweeping unused values and files;
* ``connection.py``, ``migrations.py``: opening the file right, the schema and its versions;
* ``checkpoints.py``: WAL checkpoints on a thread of their own, off the scheduler loop;
* ``blobs.py``, ``values.py``: how values are kept (inline or in files; which serialiser);
* ``keys.py``, ``fingerprint.py``, ``canonical.py``, ``code.py``, ``origin.py``: the task's
  fingerprint: what it covers, and why it is never partial;
* ``errors.py``: ``StoreError`` and its kin.
"""

from .errors import StoreError, UnknownRunError, UnreadableValueError
from .keys import Fingerprint, Key, NotCacheable
from .records import RunInfo, StoredTask
from .store import RunStore
from .values import Encoded
from .view import StoredRun
from .writer import RunWriter

__all__ = [
    "RunStore", "RunWriter", "StoredRun", "RunInfo", "StoredTask", "Encoded",
    "Fingerprint", "NotCacheable", "Key",
    "StoreError", "UnknownRunError", "UnreadableValueError",
]
