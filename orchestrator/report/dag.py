"""The run's graph as the page draws it: layers, the order within each, the critical path, and
groups wherever one node per task would be too many to draw.

A task's layer is the length of its longest chain of dependencies (sources are layer 0), so
every edge points to a later column. Within a column, units are ordered by the mean position of
their dependencies (the barycenter heuristic, one sweep), which keeps most edges short.

What is a node ("unit"): each task, except that a mapped task's children form one group. Above
``limit`` units, tasks of one layer that share an id prefix (``score-17`` -> ``score``) form a
group; if that is still too many, every layer becomes a group, consecutive layers banded
together so that at most ``MAX_COLUMNS`` columns remain. The page opens a group on click.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..telemetry.metrics import critical_path

__all__ = ["Unit", "GraphView", "GROUP_ABOVE", "MAX_COLUMNS", "layers_of", "id_prefix",
           "build_graph"]

GROUP_ABOVE = 300  # more units than this are grouped: the browser stays responsive
MAX_COLUMNS = 100

_INDEX = re.compile(r"(?:\[\d+\])+$|[-_.:/#]?\d+$")  # research[3], critique[3][1], score-17, t42


@dataclass(frozen=True)
class Unit:
    """A node of the drawn graph. ``kind``: ``task`` (one task, ``key`` is its id), ``mapped``
    (a mapped task's children; ``key`` is the mapped task's id), ``prefix`` (tasks of a layer
    sharing an id prefix) or ``layers`` (every task of a band of layers)."""

    key: str
    kind: str
    label: str
    members: tuple[str, ...]
    column: int  # its layer (its band in ``layers`` mode); empty ones are not drawn


@dataclass(frozen=True)
class GraphView:
    """``mode`` is the coarsest grouping used: ``tasks``, ``prefix`` or ``layers``."""

    mode: str
    units: tuple[Unit, ...]
    columns: tuple[tuple[int, ...], ...]  # unit indices, column by column, top to bottom
    edges: tuple[tuple[int, int, int], ...]  # (from unit, to unit, how many task edges)
    critical_path: tuple[str, ...]


def _topological(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """``order``'s ids, each after its dependencies (Kahn; ties in ``order``). Ids on a cycle
    come last in ``order`` (``build_graph`` refuses a cycle: its critical path does)."""
    known = set(order)
    waiting = {t: sum(1 for d in set(deps.get(t, ())) if d in known) for t in order}
    children: dict[str, list[str]] = defaultdict(list)
    for t in order:
        for d in set(deps.get(t, ())):
            if d in known:
                children[d].append(t)
    out = [t for t in order if waiting[t] == 0]
    i = 0
    while i < len(out):
        for c in children[out[i]]:
            waiting[c] -= 1
            if waiting[c] == 0:
                out.append(c)
        i += 1
    placed = set(out)
    return out + [t for t in order if t not in placed]


def layers_of(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Task id -> its layer: 0 for a task without (known) dependencies, else 1 + the deepest."""
    layer: dict[str, int] = {}
    for t in _topological(order, deps):
        layer[t] = 1 + max((layer[d] for d in deps.get(t, ()) if d in layer), default=-1)
    return layer


def id_prefix(task_id: str) -> str:
    """The family name of an id, its trailing index taken off: ``score-17`` -> ``score``,
    ``research[3]`` -> ``research``, ``t42`` -> ``t``; an id that is all index is its own."""
    return _INDEX.sub("", task_id) or task_id


def _units(order: Sequence[str], layer: Mapping[str, int], mapped: Mapping[str, Sequence[str]],
           mode: str) -> list[Unit]:
    """The units of ``mode``; mapped groups stay whole except in ``layers`` mode."""
    if mode == "layers":
        depth = 1 + max(layer.values(), default=0)
        width = math.ceil(depth / MAX_COLUMNS)
        bands: dict[int, list[str]] = defaultdict(list)
        for t in order:
            bands[layer[t] // width].append(t)
        return [Unit(f"layers:{b}", "layers", _band_label(b, width, depth), tuple(ts), b)
                for b, ts in sorted(bands.items())]
    out: list[Unit] = []
    in_group: set[str] = set()
    for parent, children in mapped.items():
        members = tuple(c for c in children if c in layer)
        if members:
            in_group.update((parent, *members))  # the group stands for the mapped task too
            out.append(Unit(parent, "mapped", f"{parent}[*]", members,
                            min(layer[c] for c in members)))
    families: dict[tuple[int, str], list[str]] = defaultdict(list)
    for t in order:
        if t not in in_group:
            families[(layer[t], id_prefix(t) if mode == "prefix" else t)].append(t)
    for (col, name), ts in families.items():
        if len(ts) == 1:
            out.append(Unit(ts[0], "task", ts[0], (ts[0],), col))
        else:
            out.append(Unit(f"prefix:{col}:{name}", "prefix", f"{name}*", tuple(ts), col))
    return out


def _band_label(band: int, width: int, depth: int) -> str:
    first, last = band * width, min(depth, (band + 1) * width) - 1
    return f"layer {first}" if first == last else f"layers {first}-{last}"


def _columns(units: Sequence[Unit], edges: Mapping[tuple[int, int], int]) -> list[list[int]]:
    """Unit indices per column (layers left empty by a group are dropped), each column ordered
    by its units' dependencies' positions."""
    by_column: dict[int, list[int]] = defaultdict(list)
    for i, u in enumerate(units):
        by_column[u.column].append(i)
    columns = [by_column[c] for c in sorted(by_column)]
    preds: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        preds[b].append(a)
    where: dict[int, float] = {}
    for col in columns:
        def centre(i: int) -> float:
            ps = [where[p] for p in preds[i] if p in where]
            return sum(ps) / len(ps) if ps else math.inf
        col.sort(key=centre)  # stable: ties keep the order of the log
        for pos, i in enumerate(col):
            where[i] = pos / max(1, len(col))
    return columns


def build_graph(order: Sequence[str], deps: Mapping[str, Sequence[str]],
                busy: Mapping[str, float], mapped: Mapping[str, Sequence[str]] | None = None,
                *, limit: int = GROUP_ABOVE) -> GraphView:
    """The ``GraphView`` of the tasks ``order`` (ids, in log order) with their ``deps``.

    A mapped task is drawn after its children (its dependents receive their values); the
    critical path follows ``deps`` alone: it is the chain ``RunMetrics.critical_path`` measures,
    by the same function. Raises ``CycleError`` when ``deps`` form a cycle.
    """
    mapped = mapped or {}
    after_children = {t: (*deps.get(t, ()), *mapped.get(t, ())) for t in order}
    layer = layers_of(order, after_children)
    for mode in ("tasks", "prefix", "layers"):
        units = _units(order, layer, mapped, mode)
        if len(units) <= limit:
            break
    unit_of = {t: i for i, u in enumerate(units) for t in u.members}
    unit_of.update((u.key, i) for i, u in enumerate(units) if u.kind == "mapped")
    counted: dict[tuple[int, int], int] = defaultdict(int)
    for t in order:
        for d in set(deps.get(t, ())):
            if d in unit_of and unit_of[d] != unit_of[t]:
                counted[(unit_of[d], unit_of[t])] += 1
    columns = _columns(units, counted)
    return GraphView(mode, tuple(units), tuple(tuple(c) for c in columns),
                     tuple((a, b, n) for (a, b), n in counted.items()),
                     critical_path({t: busy.get(t, 0.0) for t in order}, deps).chain)
