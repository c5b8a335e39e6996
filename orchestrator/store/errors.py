"""The errors the run store raises, in one tree. Each names the store's path and what is wrong.

* StoreError (OrchestratorError)    exit code 2: the store cannot be used (not a SQLite file, a
  |                                 newer schema, read-only, disk full, locked for too long);
  |                                 raised when it is opened, before anything runs
  + UnknownRunError                 resume of a run that is not in the store, or of a run of
  |                                 another name; ``candidates`` lists the runs it could have meant
  + UnreadableValueError            a stored value cannot be read back (its file is missing or
                                    damaged, or it no longer unpickles); the task runs again
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..model.errors import OrchestratorError

if TYPE_CHECKING:
    from .records import RunInfo

__all__ = ["StoreError", "UnknownRunError", "UnreadableValueError"]


class StoreError(OrchestratorError):
    """The run store at ``path`` cannot be used; the message says why."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnknownRunError(StoreError):
    """A run to resume is not in the store (or belongs to another name)."""

    def __init__(self, message: str, path: str, candidates: Sequence[RunInfo]) -> None:
        super().__init__(message, path)
        self.candidates = tuple(candidates)


class UnreadableValueError(StoreError):
    """A stored value cannot be read back; the task it belongs to has to run again."""
