"""Draw a TaskGraph as Mermaid, Graphviz DOT or plain text (``orchestrator graph``).

Edges point from a dependency to the task that needs it (the direction data flows). Task ids
can hold any character, so Mermaid and DOT get generated node names and quoted labels. A mapped
task (``Each``) is one node labelled ``id [*]``: how many children it has is known only when
its source has run.
"""

from __future__ import annotations

from typing import Callable

from ..model.graph import TaskGraph

__all__ = ["FORMATS", "draw"]


def _edges(graph: TaskGraph) -> list[tuple[str, list[str]]]:
    """Each task in topological order with its dependencies in that order too."""
    order = graph.topological_order()
    position = {tid: i for i, tid in enumerate(order)}
    return [(tid, sorted(graph.deps(tid), key=position.__getitem__)) for tid in order]


def _name(graph: TaskGraph, tid: str) -> str:
    """How a task is shown: its id, with ``[*]`` for a mapped task."""
    return f"{tid} [*]" if graph[tid].mapped else tid


def _mermaid(graph: TaskGraph) -> list[str]:
    edges = _edges(graph)
    names = {tid: f"t{i}" for i, (tid, _) in enumerate(edges)}

    def label(tid: str) -> str:
        return _name(graph, tid).replace('"', "#quot;")  # Mermaid's entity code for a quote

    lines = ["flowchart TD"]
    lines += [f'    {names[tid]}["{label(tid)}"]' for tid in names]
    lines += [f"    {names[dep]} --> {names[tid]}" for tid, deps in edges for dep in deps]
    return lines


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot(graph: TaskGraph) -> list[str]:
    edges = _edges(graph)
    lines = ["digraph workflow {", "    rankdir=LR;", "    node [shape=box];"]
    lines += [f"    {_dot_quote(tid)} [label={_dot_quote(_name(graph, tid))}];"
              if graph[tid].mapped else f"    {_dot_quote(tid)};" for tid, _ in edges]
    lines += [f"    {_dot_quote(dep)} -> {_dot_quote(tid)};" for tid, deps in edges for dep in deps]
    lines.append("}")
    return lines


def _text(graph: TaskGraph) -> list[str]:
    """One line per task in topological order: ``merge <- scan-0, scan-1``."""
    edges = [(_name(graph, tid), [_name(graph, d) for d in deps])
             for tid, deps in _edges(graph)]
    width = min(max((len(t) for t, _ in edges), default=0), 40)
    lines = []
    for tid, deps in edges:
        lines.append(f"{tid.ljust(width)}  <- {', '.join(deps)}" if deps else tid)
    return lines


FORMATS: dict[str, Callable[[TaskGraph], list[str]]] = {
    "text": _text, "mermaid": _mermaid, "dot": _dot,
}


def draw(graph: TaskGraph, fmt: str) -> str:
    return "\n".join(FORMATS[fmt](graph)) + "\n"
