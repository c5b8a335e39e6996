"""Every graph problem of a workflow at once: duplicate ids, missing dependencies, cycles.

``TaskGraph`` stops at its first error, which suits the library; a file's author wants the
whole list, each with its place. Each kind is found here on plain ids, and a graph with none of
them is then built by ``TaskGraph`` as before (so the library stays the one judge of what a
valid graph is). Cycles: one is found (in submission order), one of its edges set aside, and the
search repeated, up to ``MAX_CYCLES`` reported.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..model.errors import CycleError, DuplicateTaskError, MissingDependencyError
from ..model.spec import TaskSpec
from .documents import Document
from .problems import Path, Problem

__all__ = ["graph_problems", "MAX_CYCLES"]

MAX_CYCLES = 20


def graph_problems(doc: Document, built: Sequence[tuple[TaskSpec, Mapping[str, Path]]],
                   ) -> list[Problem]:
    """A problem for each repeated id, each dependency on an unknown id, and each cycle."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, (spec, _) in enumerate(built):
        if spec.id in first:
            problems.append(doc.problem(("tasks", index, "id"), str(DuplicateTaskError(spec.id))))
        else:
            first[spec.id] = index
    deps: dict[str, list[str]] = {}
    for tid, index in first.items():
        spec, refs = built[index]
        deps[tid] = []
        for dep in spec.all_deps:
            if dep in first:
                deps[tid].append(dep)
                continue
            where: Path = ("tasks", index)
            where = where + ("deps", spec.deps.index(dep)) if dep in spec.deps \
                else tuple(refs.get(dep, where))
            problems.append(doc.problem(where, str(MissingDependencyError(tid, dep))))
    for cycle in _cycles(deps):
        problems.append(doc.problem(("tasks", first[cycle[0]]), str(CycleError(cycle))))
    return problems


def _cycles(deps: dict[str, list[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    while len(found) < MAX_CYCLES:
        cycle = _one_cycle(deps)
        if cycle is None:
            break
        found.append(cycle)
        deps[cycle[0]].remove(cycle[1])  # set that edge aside; look for another cycle
    return found


def _one_cycle(deps: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle (each task depends on the next), or None; Kahn's algorithm, then a walk."""
    waiting = {t: len(ds) for t, ds in deps.items()}
    dependents: dict[str, list[str]] = {t: [] for t in deps}
    for t, ds in deps.items():
        for d in ds:
            dependents[d].append(t)
    ready = [t for t, n in waiting.items() if not n]
    while ready:
        for child in dependents[ready.pop()]:
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    left = [t for t in deps if waiting[t]]
    if not left:
        return None
    # Every task left has a dependency left: following them must come back to a task seen.
    node, seen, path = left[0], {}, []  # type: ignore[var-annotated]
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in deps[node] if waiting[d])
    return [*path[seen[node]:], node]
