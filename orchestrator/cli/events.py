"""``orchestrator events``: read event logs; ``events summarize`` prints what a log tells."""

from __future__ import annotations

import json

import click

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
@debug_option
def summarize(path: str, as_json: bool, top: int) -> None:
    """Summarise the run(s) in the event log PATH (`-` reads standard input).

    Statuses, failures, gates and the run's metrics, recomputed from the log alone, so a log
    written by another machine or another program tells the same story. Exit code 2 when the
    log is malformed (the message names the line).
    """
    runs = summarize_log(path, top=top)
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in runs], indent=2))
    elif not runs:
        click.echo(f"{path}: no runs in this log")
    else:
        click.echo("\n\n".join(run.render() for run in runs))
