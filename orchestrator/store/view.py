"""StoredRun: one stored run as a read-only mapping task id -> TaskResult, read lazily.

``store.run(run_id)["score-17"].value`` reads one row and one value; iterating reads the ids a
page at a time, so a run of a million tasks never sits in memory at once. ``tasks()`` gives
the rows without their values (what ``orchestrator runs show`` prints).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Iterator

from ..model.results import TaskResult
from .records import RunInfo, StoredTask

if TYPE_CHECKING:
    from .store import RunStore

__all__ = ["StoredRun"]


class StoredRun(Mapping[str, TaskResult]):
    """The task results of run ``info.id``; a value is read (and unpickled) when its result
    is asked for, so a value that cannot be read raises ``UnreadableValueError`` there."""

    def __init__(self, store: RunStore, info: RunInfo) -> None:
        self.store = store
        self.info = info

    def __getitem__(self, task_id: str) -> TaskResult:
        task = self.store.task(self.info.id, task_id)
        if task is None:
            raise KeyError(task_id)
        return task.result(self.store.load(task) if task.stored else None)

    def __iter__(self) -> Iterator[str]:
        return (task.task_id for task in self.store.tasks(self.info.id))

    def __len__(self) -> int:
        return self.store.task_count(self.info.id)

    def tasks(self) -> Iterator[StoredTask]:
        """The run's rows in id order, without reading values."""
        return self.store.tasks(self.info.id)

    def __repr__(self) -> str:
        return f"<StoredRun {self.info.id} of {self.info.name!r}: {self.info.status}>"
