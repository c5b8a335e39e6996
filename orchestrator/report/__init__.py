"""The run report: one self-contained HTML page that shows a run at a glance (docs/report.md).

    from orchestrator import MemorySink, execute_graph
    from orchestrator.report import write_report

    sink = MemorySink()
    execute_graph(tasks, on_event=sink)
    write_report(sink.events, "report.html")          # or read_events("run.jsonl")

The page has a header (status, wall against busy time, parallelism, counts), a timeline with one
lane per worker and one bar per attempt, the running count over time, the graph in layers, the
gates and a sortable task table. It loads nothing: styles, scripts and data are inline.

The rooms: ``views`` (the view, as data), ``model`` (events -> ``RunView``), ``series`` (use
over time), ``dag`` (layers, critical path, groups), ``payload`` (the compact JSON the page
embeds), ``html`` (the page) and ``assets/`` (its template, style and script).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..model.errors import CycleError
from ..telemetry.events import Event
from ..telemetry.reader import deps_cycle
from .dag import build_graph
from .html import render_page
from .model import build_view
from .payload import payload
from .views import RunView

__all__ = ["write_report", "render_report", "build_view", "RunView"]


def render_report(events: Iterable[Event], *, run_id: str | None = None,
                  title: str | None = None) -> str:
    """The report of one run as an HTML string.

    ``events``: a run's events (``read_events(path)`` or a ``MemorySink``'s ``events``); when
    they hold several runs, ``run_id`` picks one. ``title`` defaults to ``Run <run id>``.
    Raises ``EventLogError`` when the events hold no run, or several and no ``run_id``, or
    when the deps their tasks name form a cycle (a damaged log).
    """
    from .. import __version__

    view = build_view(events, run_id)
    try:
        graph = build_graph(list(view.tasks), {t.id: t.deps for t in view.tasks.values()},
                            {t.id: t.busy_time for t in view.tasks.values()}, view.mapped)
    except CycleError as exc:  # a finished run's metrics found it already; this is a cut log
        raise deps_cycle(view.header.run_id, exc) from None
    name = title if title is not None else f"Run {view.header.run_id}"
    return render_page(payload(view, graph, name), name, __version__)


def write_report(events: Iterable[Event], path: str | os.PathLike[str], *,
                 run_id: str | None = None, title: str | None = None) -> Path:
    """Write ``render_report(events, run_id=, title=)`` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(render_report(events, run_id=run_id, title=title), encoding="utf-8")
    return out
