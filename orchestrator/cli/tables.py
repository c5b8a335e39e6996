"""Tables for the terminal, drawn with ``rich.table``: the summary's table of tasks.

A table is rendered to lines of text, so the caller prints it like any other line (click's
``echo``), to a terminal or to a pipe: with ``color`` the status is coloured (ANSI SGR codes
only), without it the lines are plain text. Columns are as wide as their widest cell; nothing
is fitted to a terminal's width (the terminal wraps), except that a task id over
``ID_WIDTH`` characters folds onto more lines in its cell.
"""

from __future__ import annotations

import io
from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..model.results import TaskResult, TaskStatus

__all__ = ["task_table", "render_lines", "ID_WIDTH"]

ID_WIDTH = 48
_UNBOUNDED = 100_000  # a width no table reaches: the table sets its own
_COLORS = {TaskStatus.SUCCEEDED: "green", TaskStatus.FAILED: "red",
           TaskStatus.TIMED_OUT: "red", TaskStatus.CANCELLED: "yellow",
           TaskStatus.SKIPPED: "yellow"}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def render_lines(table: Table, *, color: bool) -> list[str]:
    """``table`` as lines of text, coloured or plain, without trailing spaces."""
    out = io.StringIO()
    # Every setting explicit, so neither the environment (COLUMNS, FORCE_COLOR, NO_COLOR) nor
    # the stream decides: the caller did.
    console = Console(file=out, width=_UNBOUNDED, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False,
                      markup=False, emoji=False, soft_wrap=False)
    console.print(table)
    return [line.rstrip() for line in out.getvalue().splitlines()]


def task_table(results: Sequence[TaskResult], *, color: bool) -> list[str]:
    """Task, status, attempts, duration (of the last attempt) and worker pid, one row a task,
    with a header line."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    table.add_column("task", max_width=ID_WIDTH, overflow="fold")
    table.add_column("status")
    for name in ("attempts", "duration", "worker"):
        table.add_column(name, justify="right")
    for r in results:
        table.add_row(Text(r.id), Text(r.status.value, style=_COLORS[r.status]),
                      Text(str(r.attempts)), Text(_seconds(r.duration)),
                      Text(str(r.worker_pid or "-")))
    return render_lines(table, color=color)
