"""``orchestrator events``: read event logs; ``events summarize`` prints what a log tells."""

from __future__ import annotations

import json

import click

from ..model.errors import EventLogError
from ..telemetry.reader import summarize as summarize_log
from .app import cli, debug_option

__all__ = ["events", "summarize"]


@cli.group()
def events() -> None:
    """Read event logs (JSON Lines, as written by `run --events`)."""


@events.command()
@click.argument("path", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True,
              help="Print the summaries as JSON instead of text.")
@click.option("--top", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many of the slowest tasks to name.")
@click.option("--lenient", is_flag=True,
              help="Skip lines that are not valid events (a line cut short by a full disk, "
                   "say) and say how many were skipped, instead of stopping at the first.")
@debug_option
def summarize(path: str, as_json: bool, top: int, lenient: bool) -> None:
    """Summarise the run(s) in the event log PATH (`-` reads standard input).

    Statuses, failures, gates and the run's metrics, recomputed from the log alone, so a log
    written by another machine or another program tells the same story. Exit code 2 when the
    log is malformed (the message names the line), unless --lenient skips such lines (then a
    Warning: line on stderr counts them and names the first).
    """
    skipped: list[EventLogError] = []
    runs = summarize_log(path, top=top, on_bad_line=skipped.append if lenient else None)
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in runs], indent=2))
    elif not runs:
        click.echo(f"{path}: no runs in this log")
    else:
        click.echo("\n\n".join(run.render() for run in runs))
    if skipped:
        lines = "line" if len(skipped) == 1 else "lines"
        click.echo(f"Warning: skipped {len(skipped)} bad {lines} (the first: {skipped[0]})",
                   err=True)
