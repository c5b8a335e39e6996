"""TaskGraph: build and validate a DAG of TaskSpecs; topological order and critical path.

Validation happens on construction, before anything runs, and names the place: the duplicate
id, the task and the missing id, or the cycle's path (``a -> b -> c -> a``: each task depends on
the next). No I/O here, and nothing is O(n^2): a 100,000-task graph builds in well under a second.
Also the two shapes a run's input takes (``as_graph``, ``as_flat_batch``) and the rule for a
missing ``estimate`` (``Estimates``), which a lazy flat batch applies one task at a time.
"""

from __future__ import annotations

import heapq
import re
from typing import Iterable, Iterator, Mapping, Sequence

from .errors import CycleError, DuplicateTaskError, MissingDependencyError, SpecError
from .spec import TaskSpec, as_flat_task, as_task_spec

__all__ = ["TaskGraph", "Estimates", "resolve_estimates", "as_graph", "as_flat_batch"]


class Estimates:
    """The rule for a task without an ``estimate``: it counts as the mean of those given so
    far, or 1 when none are. Fed every spec first, it gives the mean over the whole graph."""

    __slots__ = ("_sum", "_count")

    def __init__(self) -> None:
        self._sum = 0.0
        self._count = 0

    def add(self, spec: TaskSpec) -> None:
        """Count ``spec``'s estimate, if it has one. Mutates."""
        if spec.estimate is not None:
            self._sum += spec.estimate
            self._count += 1

    def of(self, spec: TaskSpec) -> float:
        """``spec``'s estimate, or the mean of those counted (1 when none were)."""
        if spec.estimate is not None:
            return spec.estimate
        return self._sum / self._count if self._count else 1.0


def resolve_estimates(specs: Iterable[TaskSpec]) -> dict[str, float]:
    """id -> estimate, a missing one filled in by the ``Estimates`` rule."""
    specs = list(specs)
    estimates = Estimates()
    for spec in specs:
        estimates.add(spec)
    return {spec.id: estimates.of(spec) for spec in specs}


class TaskGraph:
    """A validated dependency graph.

    Raises ``DuplicateTaskError``, ``MissingDependencyError`` or ``CycleError`` (all
    ``GraphError``) on construction. Iterating yields the specs in topological order, ties
    broken by submission order.
    """

    def __init__(self, tasks: Iterable[TaskSpec]) -> None:
        specs: dict[str, TaskSpec] = {}
        for item in tasks:
            spec = as_task_spec(item)
            if spec.id in specs:
                raise DuplicateTaskError(spec.id)
            specs[spec.id] = spec
        _check_child_ids(specs)
        deps: dict[str, tuple[str, ...]] = {}
        dependents: dict[str, list[str]] = {tid: [] for tid in specs}
        for tid, spec in specs.items():
            task_deps = spec.all_deps
            for dep in task_deps:
                if dep not in specs:
                    raise MissingDependencyError(tid, dep)
                dependents[dep].append(tid)
            deps[tid] = task_deps
        self._specs = specs
        self._deps = deps
        self._dependents = {k: tuple(v) for k, v in dependents.items()}
        self._order = self._toposort()
        self._ranks: dict[str, float] | None = None

    # -- structure -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._specs

    def __iter__(self) -> Iterator[TaskSpec]:
        return (self._specs[tid] for tid in self._order)

    def __getitem__(self, task_id: str) -> TaskSpec:
        return self._specs[task_id]

    def __repr__(self) -> str:
        return f"TaskGraph({len(self)} tasks)"

    @property
    def specs(self) -> Mapping[str, TaskSpec]:
        """id -> spec in submission order."""
        return self._specs

    def deps(self, task_id: str) -> tuple[str, ...]:
        return self._deps[task_id]

    def dependents(self, task_id: str) -> tuple[str, ...]:
        return self._dependents[task_id]

    def topological_order(self) -> list[str]:
        """Every id after all of its dependencies; ties in submission order."""
        return list(self._order)

    def descendants(self, task_id: str) -> set[str]:
        """Every task that depends on ``task_id``, directly or not."""
        seen: set[str] = set()
        stack = list(self._dependents[task_id])
        while stack:
            tid = stack.pop()
            if tid not in seen:
                seen.add(tid)
                stack.extend(self._dependents[tid])
        return seen

    # -- critical path -----------------------------------------------------------------------

    def ranks(self) -> Mapping[str, float]:
        """id -> length of the longest path from the task to a sink, the task included.

        Lengths sum ``estimate`` (missing ones count as the mean of those given, or 1).
        """
        if self._ranks is None:
            est = resolve_estimates(self._specs.values())
            ranks: dict[str, float] = {}
            for tid in reversed(self._order):
                below = [ranks[d] for d in self._dependents[tid]]
                ranks[tid] = est[tid] + (max(below) if below else 0.0)
            self._ranks = ranks
        return self._ranks

    def critical_path(self, durations: Mapping[str, float] | None = None) -> list[str]:
        """The longest chain of dependent tasks, source first.

        Weighted by ``durations`` when given (e.g. measured run times), else by estimates.
        """
        if not self._specs:
            return []
        weight = durations if durations is not None else resolve_estimates(self._specs.values())
        best: dict[str, float] = {}
        nxt: dict[str, str | None] = {}
        for tid in reversed(self._order):
            below = self._dependents[tid]
            top = max(below, key=lambda d: best[d], default=None)
            best[tid] = float(weight.get(tid, 0.0)) + (best[top] if top is not None else 0.0)
            nxt[tid] = top
        start = max(self._order, key=lambda t: best[t])
        path = [start]
        while (following := nxt[path[-1]]) is not None:
            path.append(following)
        return path

    # -- validation --------------------------------------------------------------------------

    def _toposort(self) -> list[str]:
        index = {tid: i for i, tid in enumerate(self._specs)}
        waiting = {tid: len(d) for tid, d in self._deps.items()}
        ready = [(index[tid], tid) for tid, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, tid = heapq.heappop(ready)
            order.append(tid)
            for child in self._dependents[tid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (index[child], child))
        if len(order) != len(self._specs):
            raise CycleError(self._find_cycle(set(self._specs) - set(order)))
        return order

    def _find_cycle(self, candidates: set[str]) -> Sequence[str]:
        """A cycle among ``candidates`` (nodes left over by Kahn's algorithm), iteratively."""
        done: set[str] = set()
        for root in self._specs:  # submission order keeps the reported cycle deterministic
            if root not in candidates or root in done:
                continue
            on_path: dict[str, int] = {}
            path: list[str] = []
            stack: list[tuple[str, Iterator[str]]] = []
            on_path[root] = 0
            path.append(root)
            stack.append((root, iter(self._deps[root])))
            while stack:
                node, it = stack[-1]
                advanced = False
                for dep in it:
                    if dep not in candidates or dep in done:
                        continue
                    if dep in on_path:
                        return path[on_path[dep]:] + [dep]
                    on_path[dep] = len(path)
                    path.append(dep)
                    stack.append((dep, iter(self._deps[dep])))
                    advanced = True
                    break
                if not advanced:
                    stack.pop()
                    path.pop()
                    del on_path[node]
                    done.add(node)
        raise AssertionError("no cycle found among nodes Kahn's algorithm could not order")


_CHILD_SUFFIX = re.compile(r"^(\[\d+\])+$")


def _check_child_ids(specs: Mapping[str, TaskSpec]) -> None:
    """Refuse an id that a mapped task's child will take (``research[0]`` beside a mapped
    ``research``): known before the run, so not left to fail the expansion."""
    mapped = [tid for tid, spec in specs.items() if spec.mapped]
    if not mapped:
        return
    for tid in specs:
        cut = tid.find("[")
        while cut > 0:
            if tid[:cut] in mapped and _CHILD_SUFFIX.match(tid[cut:]):
                raise DuplicateTaskError(tid, f"task id {tid!r} is taken by a child of mapped "
                                              f"task {tid[:cut]!r}")
            cut = tid.find("[", cut + 1)


# -- the two shapes of a run's input --------------------------------------------------------


def as_graph(tasks: TaskGraph | Iterable[TaskSpec]) -> TaskGraph:
    """``tasks`` as a validated graph (built here unless it is one already)."""
    if isinstance(tasks, TaskGraph):
        return tasks
    if isinstance(tasks, (str, bytes, TaskSpec)):
        raise SpecError(f"expected a TaskGraph or an iterable of TaskSpecs, got {tasks!r}")
    return TaskGraph(tasks)


def as_flat_batch(tasks: Iterable[TaskSpec]) -> Iterable[TaskSpec]:
    """``tasks`` as a flat batch: a list is checked whole up front (nothing runs if one task is
    bad); a generator stays lazy, and the scheduler checks each task as it pulls it."""
    if isinstance(tasks, (str, bytes, TaskSpec, TaskGraph)):
        raise SpecError(f"expected an iterable of TaskSpecs, got {tasks!r}")
    if isinstance(tasks, Sequence):
        seen: set[str] = set()
        for item in tasks:
            spec = as_flat_task(item)
            if spec.id in seen:
                raise DuplicateTaskError(spec.id)
            seen.add(spec.id)
    return tasks
