"""Mapped tasks, and tasks admitted while the run goes on.

``Expansion`` is the layer above ``Endings``. A mapped task (an ``Each`` in its arguments) never
runs itself. When its dependencies are done it moves PENDING -> EXPANDED, its children are built
(``model/each.py``) and admitted as ordinary tasks, ``task.expanded`` says how many and which,
and the children start. When the last child ends, the mapped task ends with its group's outcome:

    every child succeeded           succeeded; value = the children's values in index order
    a child failed or timed out     failed (error kind "mapped", naming the failed children);
                                    value = the list with each failed child's TaskError in place
    otherwise (children cancelled)  cancelled, the same way
    zero children                   succeeded at once with []
    it could not expand             failed (kind "expansion"): not a list or tuple, zipped
                                    lengths differ, more than max_expansion; no child started

Its dependents then follow the run's ``on_failure`` as for any task: under "skip" they are
skipped when it failed (the skip reason repeats its own, so it names the failed children);
under "continue" they run, and a ``Ref`` to it gives the list with the errors in place.

``add_tasks`` is the one way in for tasks that appear during a run: children here, and any
caller that grows a running graph. A new task may depend on known tasks and on the tasks before
it in the same call; its rank is its estimate plus the longest rank below it.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Sequence

from ..model.each import ExpansionError, expand_spec
from ..model.errors import DuplicateTaskError, MissingDependencyError, SpecError
from ..model.graph import Estimates
from ..model.spec import TaskSpec
from ..telemetry.events import EventType
from .endings import Endings
from .records import TaskRecord
from .state import TaskState
from .wording import children_failed_error, expansion_error, upstream_error

__all__ = ["Expansion"]

S = TaskState
_BAD_CHILD = (S.FAILED, S.TIMED_OUT, S.SKIPPED)


class Expansion(Endings):
    """Expands mapped tasks, ends them with their children, admits tasks into a running run."""

    _estimates: Estimates | None = None  # the missing-estimate rule over the graph, on first use
    _seqs: Iterator[int] | None = None  # submission order for admitted tasks, after the graph's

    # -- the hooks into Endings ----------------------------------------------------------------

    def _make_ready(self, rec: TaskRecord) -> None:
        if rec.spec.mapped:
            self._expand(rec)
        else:
            super()._make_ready(rec)

    def _end(self, rec: TaskRecord, state: TaskState, *, skip_below: bool = True) -> None:
        super()._end(rec, state, skip_below=skip_below)
        group = rec.group
        if group is not None:
            group.children_left -= 1
            if group.children_left == 0 and not group.state.terminal:
                self._end_group(group)

    def _ref_value(self, task_id: str) -> Any:
        """What a ``Ref`` to ``task_id`` stands for: its value; a failed task's ``TaskError``
        (on_failure="continue"); a mapped task's list of values, errors in place."""
        rec = self._records[task_id]
        if rec.state is S.SUCCEEDED or rec.children is not None:
            return rec.value
        return rec.error

    # -- expanding -----------------------------------------------------------------------------

    def _expand(self, rec: TaskRecord) -> None:
        """Replace mapped ``rec`` by its children, or fail it if it cannot expand. Mutates."""
        rec.move(S.EXPANDED)
        try:
            specs = expand_spec(rec.spec, self._ref_value, self.policy.max_expansion)
            children = self._register(specs, self._below(rec), rec)
        except (ExpansionError, SpecError, DuplicateTaskError, MissingDependencyError) as exc:
            rec.error = expansion_error(str(exc))
            self._end(rec, S.FAILED)
            return
        rec.children = children
        rec.children_left = len(children)
        if self.store is not None:
            self.store.expanded(rec)
        if self.events.handler is not None:
            self.events.task_event(EventType.TASK_EXPANDED, rec, data={
                "n": len(children), "children": [c.id for c in children]})
        if not children:
            self._end_group(rec)
            return
        self._release(children, released=True)

    def _end_group(self, group: TaskRecord) -> None:
        """Every child of ``group`` ended: end it with their outcome (the table above)."""
        kids = group.children or []
        group.value = [c.value if c.state is S.SUCCEEDED else c.error for c in kids]
        bad = [c for c in kids if c.state is not S.SUCCEEDED]
        if not bad:
            self._end(group, S.SUCCEEDED)
            return
        group.error = children_failed_error(group.id, bad, len(kids))
        failed = any(c.state in _BAD_CHILD for c in bad)
        self._end(group, S.FAILED if failed else S.CANCELLED)

    def _below(self, rec: TaskRecord) -> float:
        """The longest rank below ``rec``: of its dependents, or of its mapped task's."""
        below = max((self._records[d].rank for d in rec.dependents), default=0.0)
        return below if rec.group is None else max(below, self._below(rec.group))

    # -- admitting tasks during the run --------------------------------------------------------

    def add_tasks(self, specs: Sequence[TaskSpec]) -> list[TaskRecord]:
        """Admit ``specs`` into the running graph and start those whose dependencies are done
        (each may depend on known tasks and on earlier ones in ``specs``). Raises
        ``DuplicateTaskError`` or ``MissingDependencyError`` and admits none. Mutates."""
        records = self._register(specs, 0.0, None)
        self._release(records)
        return records

    def _register(self, specs: Sequence[TaskSpec], below: float, group: TaskRecord | None,
                  ) -> list[TaskRecord]:
        """New records for ``specs``, checked, ranked and known to their dependencies, not yet
        started. Mutates."""
        records = self._records
        new: dict[str, TaskSpec] = {}
        below_of: dict[str, list[str]] = {}  # id -> its dependents among specs
        for spec in specs:
            tid = spec.id
            if tid in records or tid in new:
                raise DuplicateTaskError(tid)
            for dep in spec.all_deps:
                if dep in new:
                    below_of.setdefault(dep, []).append(tid)
                elif dep not in records:
                    raise MissingDependencyError(tid, dep)
            new[tid] = spec
        estimates = self._estimate_rule()
        ranks: dict[str, float] = {}
        for tid in reversed(new):
            kids = below_of.get(tid)
            ranks[tid] = estimates.of(new[tid]) + (max(ranks[d] for d in kids) if kids
                                                   else below)
        if self._seqs is None:
            self._seqs = itertools.count(len(self._graph) if self._graph is not None else 2**62)
        seqs = self._seqs
        out = []
        for tid, spec in new.items():
            rec = TaskRecord(spec, next(seqs), ranks[tid], tuple(below_of.get(tid, ())))
            rec.group = group
            for dep in spec.all_deps:
                if dep in new:  # its record lists this one among its dependents already
                    rec.waiting += 1
                    continue
                up = records[dep]
                if not up.state.terminal:
                    rec.waiting += 1
                    up.dependents += (tid,)
            records[tid] = rec
            out.append(rec)
        self._unfinished += len(out)
        return out

    def _release(self, records: list[TaskRecord], *, released: bool = False) -> None:
        """Start the new records that wait for nothing: ready (or expanded), skipped when a
        finished dependency does not let them run (``released``: known to let them, as a
        mapped task's dependencies let its children), cancelled when the run stops. Mutates."""
        for rec in records:
            if rec.state is not S.PENDING or rec.waiting:
                continue
            if self._stopping is not None:
                self._end_unstarted(rec)
                continue
            blocker = None if released else next(
                (d for d in rec.spec.all_deps if not self._lets_run(d)), None)
            if blocker is None:
                self._make_ready(rec)
            else:
                rec.error = upstream_error(rec.id, blocker, self._records[blocker].state.value)
                self._end(rec, S.SKIPPED)

    def _lets_run(self, task_id: str) -> bool:
        state = self._records[task_id].state
        return state is S.SUCCEEDED or (self.policy.on_failure == "continue"
                                        and state in (S.FAILED, S.TIMED_OUT))

    def _estimate_rule(self) -> Estimates:
        """The missing-estimate rule over the graph's tasks (``TaskGraph.ranks`` uses it)."""
        if self._estimates is None:
            self._estimates = Estimates()
            if self._graph is not None:
                for spec in self._graph.specs.values():
                    self._estimates.add(spec)
        return self._estimates
