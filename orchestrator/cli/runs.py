"""``orchestrator runs``: the runs a run store keeps, one run task by task, and cleaning up.

    orchestrator runs [--store PATH]                 the runs, newest first, as a table
    orchestrator runs show ID [--json]               one run, task by task
    orchestrator runs forget ID                      delete a run (its values and files too)
    orchestrator runs gc --keep N                    keep the newest N runs of each name

``--store`` defaults to ``.orchestrator/runs.db`` in the current directory (where ``run``
keeps it for a workflow file there). A store that does not exist is an error (exit 2), not
an empty one created by looking.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click
from rich.table import Table
from rich.text import Text

from ..store import RunInfo, RunStore, StoredTask, StoreError
from .app import cli, debug_option
from .store_options import DEFAULT_STORE
from .tables import render_lines

__all__ = ["runs"]

F = TypeVar("F", bound=Callable[..., Any])


def _store_option(fn: F) -> F:
    return click.option("--store", "store_path", metavar="PATH", default=None,
                        help=f"The run store. [default: {DEFAULT_STORE}]")(fn)


def _open(ctx: click.Context, store_path: str | None) -> RunStore:
    path = Path(store_path or (ctx.obj or {}).get("store") or DEFAULT_STORE)
    if not path.exists():
        raise StoreError(f"run store {path.absolute()}: there is no such file (run a workflow "
                         f"first, or give --store PATH)", str(path))
    return RunStore(path)


@cli.group("runs", invoke_without_command=True)
@_store_option
@debug_option
@click.pass_context
def runs(ctx: click.Context, store_path: str | None) -> None:
    """List the runs of a run store, newest first (see also: show, forget, gc)."""
    ctx.obj = {"store": store_path}
    if ctx.invoked_subcommand is not None:
        return
    with _open(ctx, store_path) as store:
        listed = store.runs()
    if not listed:
        click.echo(f"no runs in {store.path}")
        return
    for line in _runs_table(listed):
        click.echo(line)


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _runs_table(listed: list[RunInfo]) -> list[str]:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for name in ("run", "name", "status", "started", "finished", "tasks", "resumed from"):
        table.add_column(name)
    for r in listed:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items())) or "-"
        table.add_row(Text(r.id), Text(r.name), Text(r.status), Text(_when(r.started)),
                      Text(_when(r.finished)), Text(counts), Text(r.resumed_from or "-"))
    lines = render_lines(table, color=False)
    notes = [f"  {r.id}: {r.note}" for r in listed if r.note]
    return lines + (["", "notes:", *notes] if notes else [])


def _task_dict(t: StoredTask) -> dict[str, Any]:
    return {"id": t.task_id, "status": t.status.value, "attempts": t.attempts,
            "started_at": t.started_at, "finished_at": t.finished_at, "duration": t.duration,
            "busy_time": t.busy_time, "worker_pid": t.worker_pid,
            "fingerprint": getattr(t.key, "hex", None),
            "not_cacheable": getattr(t.key, "reason", None), "stored": t.stored,
            "not_stored": t.not_stored, "reused_from": t.reused_from,
            "error": t.error.to_dict() if t.error else None}


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@_store_option
@debug_option
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool, store_path: str | None) -> None:
    """Show run RUN_ID task by task."""
    with _open(ctx, store_path) as store:
        info = store.info(run_id)
        if as_json:
            doc = {"id": info.id, "name": info.name, "status": info.status,
                   "started": info.started, "finished": info.finished,
                   "counts": dict(info.counts), "resumed_from": info.resumed_from,
                   "note": info.note, "tasks": [_task_dict(t) for t in store.tasks(run_id)]}
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(f"run {info.id} of {info.name!r}: {info.status}, started "
                   f"{_when(info.started)}" + (f", resumed from {info.resumed_from}"
                                               if info.resumed_from else ""))
        if info.note:
            click.echo(f"note: {info.note}")
        for line in render_lines(_tasks_table(store.tasks(run_id)), color=False):
            click.echo(line)


def _tasks_table(tasks: Iterator[StoredTask]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for name in ("task", "status", "attempts", "duration", "stored", "note"):
        table.add_column(name)
    for t in tasks:
        note = (f"reused from {t.reused_from}" if t.reused_from else
                getattr(t.key, "reason", None) and f"not cacheable: {t.key}" or
                (str(t.error) if t.error else "") or (t.not_stored or ""))
        duration = "-" if t.duration is None else f"{t.duration:.2f}s"
        table.add_row(Text(t.task_id), Text(t.status.value), Text(str(t.attempts)),
                      Text(duration), Text("yes" if t.stored else "no"), Text(note))
    return table


@runs.command("forget")
@click.argument("run_id")
@_store_option
@debug_option
@click.pass_context
def forget(ctx: click.Context, run_id: str, store_path: str | None) -> None:
    """Delete run RUN_ID, its results, and the values nothing else uses."""
    with _open(ctx, store_path) as store:
        store.forget(run_id)
    click.echo(f"forgot run {run_id}")


@runs.command("gc")
@click.option("--keep", type=click.IntRange(min=0), required=True, metavar="N",
              help="How many runs of each name to keep (the newest).")
@_store_option
@debug_option
@click.pass_context
def gc(ctx: click.Context, keep: int, store_path: str | None) -> None:
    """Keep the newest N runs of each name; forget the rest (never a running one)."""
    with _open(ctx, store_path) as store:
        gone = store.gc(keep)
    click.echo(f"forgot {len(gone)} run(s)" + (": " + ", ".join(gone) if gone else ""))
