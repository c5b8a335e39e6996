"""RunBinding: one run's tie to its store: keys, reuse, recording, committing.

The session opens it (``StoreOptions.bind``) before anything runs, so a bad store path or an
unknown run to resume fails first; the scheduler calls it at these points and nowhere else:

* ``check(rec)`` when a task becomes ready for its first attempt: compute its key (its
  upstreams' keys are known by then: a task is ready only once they ended), and look for a
  stored result it may take instead of running (resume: in the resumed run; cache: in any run).
  A task that is not cacheable is announced once (``task.uncacheable``, with the reason) when
  the run could have reused it, and it simply runs;
* ``apply(rec)`` just before the scheduler ends a task it found reusable: the record takes the
  stored result (value, times as they were in the run it came from, ``attempts`` 0);
* ``ended(rec)`` as any task ends: its outcome is buffered (no I/O on the loop);
* ``expanded(rec)`` when a mapped task expands: its children's ids are buffered;
* ``commit()`` at the end of each scheduler step, before the step's results are handed out;
  ``finish()`` when the run ends. When storing stops for good (disk full), ``store.stopped``
  says why once and the run goes on in memory.

Fan-out: a mapped child is a ``TaskSpec`` whose args carry its element, so ``check`` keys it
like any task. The mapped task itself never runs; when it succeeds, ``ended`` gives it the key
of its value, its children's keys in index order (``mapped_key``), so a task downstream of it
is keyed, and reused on a resume, like any other.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence, Union

from ..model.errors import SpecError
from ..model.policy import OrchestrationPolicy
from ..scheduler.facts import task_result
from ..telemetry.events import EventType
from .fingerprint import Fingerprinter, failed_upstream, mapped_key
from .keys import Fingerprint, Key, NotCacheable
from .records import StoredTask
from .store import RunStore
from .writer import RunWriter

if TYPE_CHECKING:
    from ..scheduler.emitter import RunEvents
    from ..scheduler.records import TaskRecord

__all__ = ["StoreOptions", "RunBinding", "DEFAULT_RUN_NAME", "StoreLike", "COMMIT_EVERY_S"]

# Outcomes that end within this long of the last commit wait for the next one (one
# transaction for all), so a commit's cost is shared when tasks end faster than ~100 per s.
# A commit costs ~110 us for one outcome and ~40 us an outcome in batches of 10 or more
# (benchmarks/store.py): at 1 ms, 5,000 tasks of ~1 ms on 2 workers committed 1.6 outcomes a
# transaction and the parent spent 100 us more a task than at 10 ms (no further gain at
# 50 ms). 10 ms is also too short for a person or a display to notice the wait.
COMMIT_EVERY_S = 0.01

DEFAULT_RUN_NAME = "default"
StoreLike = Union[RunStore, str, "os.PathLike[str]"]


@dataclass(frozen=True)
class StoreOptions:
    """What a caller asked of the store (the ``execute_*`` keywords), checked on construction."""

    store: StoreLike | None = None
    run_name: str | None = None
    resume: bool | str | None = None
    cache: bool = False

    def __post_init__(self) -> None:
        if self.store is not None and not isinstance(self.store, (RunStore, str, os.PathLike)):
            raise SpecError(f"store must be a RunStore or a path, got {self.store!r}")
        if self.run_name is not None and (not isinstance(self.run_name, str)
                                          or not self.run_name):
            raise SpecError(f"run_name must be a non-empty string, got {self.run_name!r}")
        if not (self.resume is None or self.resume is False or self.resume is True
                or (isinstance(self.resume, str) and self.resume)):
            raise SpecError(f"resume must be True, False, None or a run id, got {self.resume!r}")
        if not isinstance(self.cache, bool):
            raise SpecError(f"cache must be True or False, got {self.cache!r}")
        if self.store is None and (self.resume or self.cache or self.run_name is not None):
            raise SpecError("resume=, cache= and run_name= need a store= (a RunStore or a path)")

    def bind(self) -> RunBinding | None:
        """Open the store and find the run to resume: every error here comes before anything
        runs (``StoreError``, ``UnknownRunError``). None without a store."""
        if self.store is None:
            return None
        owned = not isinstance(self.store, RunStore)
        store = RunStore(self.store) if not isinstance(self.store, RunStore) else self.store
        try:
            name, resumed = self.run_name, None
            if self.resume:
                target = store.resume_target(name or (
                    DEFAULT_RUN_NAME if self.resume is True else store.info(self.resume).name),
                    self.resume)
                resumed, name = target.id, target.name
            return RunBinding(store, name or DEFAULT_RUN_NAME, resumed, self.cache, owned)
        except BaseException:
            if owned:
                store.close()
            raise


class RunBinding:
    """One run's use of ``store``: made by ``StoreOptions.bind``, started by ``start``."""

    def __init__(self, store: RunStore, name: str, resume_from: str | None, cache: bool,
                 owned: bool) -> None:
        self.store = store
        self.name = name
        self.resume_from = resume_from
        self.cache = cache
        self.owned = owned
        self.writer: RunWriter | None = None
        self.events: RunEvents | None = None
        self.policy = OrchestrationPolicy()
        self.reused = 0
        self._fingerprints = Fingerprinter()
        self._keys: dict[str, Key] = {}  # graph runs: each task's key, for its dependents
        self._graph = False
        self._hits: dict[str, tuple[StoredTask, Any, str]] = {}
        self._unsettled: list[TaskRecord] = []  # ended, not yet committed
        self._next_commit = 0.0  # time.monotonic(): real time, whatever the run's clock

    @property
    def run_id(self) -> str | None:
        return self.writer.run_id if self.writer is not None else None

    @property
    def stopped(self) -> str | None:
        """Why results stopped being stored (None: they were not, or all were)."""
        return self.writer.stopped if self.writer is not None else None

    def start(self, run_id: str, events: RunEvents, policy: OrchestrationPolicy,
              *, graph: bool, summary: dict[str, Any]) -> None:
        """The run ``run_id`` starts: record it. Mutates."""
        self.events, self.policy, self._graph = events, policy, graph
        self.writer = self.store.start_run(run_id, self.name, policy=summary,
                                           resumed_from=self.resume_from)

    # -- the scheduler's hooks -----------------------------------------------------------------

    def check(self, rec: TaskRecord) -> bool:
        """Compute ``rec``'s key; whether a stored result can stand for it (``apply`` takes
        it). Mutates."""
        spec = rec.spec
        upstream = {d: self._keys.get(d) or NotCacheable(f"task {d!r} has no key")
                    for d in spec.all_deps} if spec.all_deps else None
        key = self._fingerprints.task(
            spec, upstream, timeout=spec.timeout if spec.timeout is not None
            else self.policy.task_timeout, retry=spec.retry or self.policy.retry,
            version=spec.version)
        rec.key = key
        if self._graph:
            self._keys[spec.id] = key
        wanted = spec.cache is not False and (self.resume_from is not None or self.cache
                                              or spec.cache is True)
        if not wanted:
            return False
        if isinstance(key, NotCacheable):
            if self.events is not None:
                self.events.task_event(EventType.TASK_UNCACHEABLE, rec, reason=key.reason)
            return False
        return self._find(rec, key)

    def _find(self, rec: TaskRecord, key: Fingerprint) -> bool:
        spec = rec.spec
        found, via = None, "resume"
        if self.resume_from is not None:
            found = self.store.reusable(key, self.resume_from)
        if found is None and (spec.cache is True or (spec.cache is None and self.cache)):
            found, via = self.store.reusable(key, None), "cache"
        if found is None:
            return False
        self._hits[spec.id] = (found[0], found[1], via)
        return True

    def apply(self, rec: TaskRecord) -> None:
        """Give ``rec`` the stored result ``check`` found. Mutates."""
        hit, value, _ = self._hits[rec.id]
        rec.value = value
        rec.started_at, rec.finished_at = hit.started_at, hit.finished_at
        rec.duration, rec.busy_time = hit.duration, hit.busy_time
        rec.cpu_time, rec.peak_rss = hit.cpu_time, hit.peak_rss
        rec.reports = dict(hit.reports)
        rec.reused_from = hit.origin
        self.reused += 1

    def reused_facts(self, rec: TaskRecord, deps: Sequence[str]) -> dict[str, Any]:
        """What ``rec``'s ``task.reused`` event carries (before ``ended``)."""
        hit, _, via = self._hits[rec.id]
        facts: dict[str, Any] = {"busy_time": hit.busy_time, "reused_from": hit.origin,
                                 "via": via, "started_at": hit.started_at,
                                 "finished_at": hit.finished_at}
        if isinstance(rec.key, Fingerprint):
            facts["fingerprint"] = rec.key.hex
        if deps:
            facts["deps"] = list(deps)
        return facts

    def ended(self, rec: TaskRecord) -> None:
        """Buffer ``rec``'s outcome (it just ended). Mutates."""
        hit = self._hits.pop(rec.id, None)
        if rec.reused_from is None:
            hit = None  # found, but the run stopped before it was taken
        result = task_result(rec)
        if not result.ok and self._graph:
            # A Ref to it resolves to its error (on_failure="continue"): nothing to cache by.
            self._keys[rec.id] = failed_upstream(rec.id, result.status.value)
        if rec.children is not None and result.ok:
            rec.key = mapped_key([(c.id, c.key) for c in rec.children])
            if self._graph:
                self._keys[rec.id] = rec.key
        key = rec.key
        if key is None:  # it ended before it was ready (skipped, cancelled)
            key = NotCacheable(f"it was {result.status.value} before it was ready")
        if self.writer is not None:
            self.writer.record(result, key, reused=hit[0] if hit is not None else None)

    def expanded(self, rec: TaskRecord) -> None:
        """Buffer what mapped ``rec`` expanded into (a resume expands it again from its reused
        upstream value, to the same children; the store keeps the list to show). Mutates."""
        if self.writer is not None and rec.children is not None:
            self.writer.record_expansion(rec.id, [c.id for c in rec.children])

    @property
    def pending(self) -> bool:
        """Whether ended tasks wait for their commit."""
        return bool(self._unsettled)

    def settle(self, completed: list[TaskRecord], *, running: bool) -> list[TaskRecord]:
        """The ended tasks that may be handed out now: all of those not yet committed, once
        they are (and their events, held since they ended, released). While tasks run, a
        commit waits until ``COMMIT_EVERY_S`` after the last; else it is made now. Mutates."""
        self._unsettled.extend(completed)
        if not self._unsettled:
            return []
        now = time.monotonic()
        if running and now < self._next_commit:
            return []
        self.commit()
        if self.events is not None:
            self.events.release()
        self._next_commit = now + COMMIT_EVERY_S
        out, self._unsettled = self._unsettled, []
        return out

    def wait_cap(self, timeout: float | None) -> float | None:
        """``timeout``, shortened so that pending outcomes are committed on time."""
        if not self._unsettled:
            return timeout
        left = max(0.0, self._next_commit - time.monotonic())
        return left if timeout is None else min(timeout, left)

    def commit(self) -> None:
        """Make the buffered outcomes durable; say once if storing stopped. Mutates."""
        if self.writer is not None:
            self._said(self.writer.commit())

    def finish(self, status: str, counts: dict[str, int]) -> None:
        """Commit the rest and close the run in the store. Mutates."""
        if self.writer is not None and not self.writer.finished:
            self._said(self.writer.finish(status, counts))

    def close(self) -> None:
        """Close the store if this run opened it."""
        if self.owned:
            self.store.close()

    def _said(self, stopped: str | None) -> None:
        if stopped is not None and self.events is not None:
            assert self.writer is not None
            self.events.run_event(EventType.STORE_STOPPED, reason=stopped, data={
                "path": str(self.store.path), "stored": self.writer.stored})

