"""``orchestrator report``: the HTML report of one run (docs/report.md), from its event log.

    orchestrator report run.jsonl -o report.html
    orchestrator report runs.jsonl --run-id c316355bb36e4337 -o report.html

The events come from a JSON Lines log (``run --events PATH``; ``-`` reads standard input), read
and checked by the telemetry reader: a malformed log is bad input (exit 2, the line named), and
so is a log of several runs without ``--run-id``. ``_events`` is where the run's events are
found; the result store's runs will be the other source it knows. ``orchestrator run WORKFLOW
--report PATH`` writes the same page at the end of a run.
"""

from __future__ import annotations

import click

from ..model.errors import EventLogError
from ..report import render_report
from ..telemetry.events import Event
from ..telemetry.reader import read_events, split_runs
from .app import cli, debug_option

__all__ = ["report"]


@cli.command("report")
@click.argument("events", metavar="EVENTS", type=click.Path(allow_dash=True))
@click.option("-o", "--output", required=True, metavar="PATH", type=click.Path(dir_okay=False),
              help="Write the report (one self-contained HTML file) to PATH.")
@click.option("--run-id", metavar="ID", help="The run to report when EVENTS holds several.")
@click.option("--title", help="The page's title (default: 'Run <run id>').")
@debug_option
def report(events: str, output: str, run_id: str | None, title: str | None) -> None:
    """Write the HTML report of the run in the event log EVENTS (`-`: standard input).

    The page shows the run's header figures, a timeline with one lane per worker, the
    graph, the gates and every task; it loads nothing from the network (docs/report.md).
    """
    run_id, run = _events(events, run_id)
    page = render_report(run, run_id=run_id, title=title)
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {output!r}: {exc.strerror or exc}",
                                 param_hint="'-o' / '--output'") from None
    click.echo(f"{output}: the report of run {run_id} ({len(page.encode()):,} bytes)")


def _events(path: str, run_id: str | None) -> tuple[str, list[Event]]:
    """(run id, its events) from the log at ``path``; several runs need ``--run-id``."""
    runs = split_runs(read_events(path))
    if not runs:
        raise EventLogError(f"{path}: the log holds no events", path)
    if run_id is None:
        if len(runs) > 1:
            raise EventLogError(f"{path}: the log holds {len(runs)} runs ({', '.join(runs)}); "
                                f"pick one with --run-id", path)
        run_id = next(iter(runs))
    if run_id not in runs:
        raise EventLogError(f"{path}: the log holds no run {run_id!r} (its runs: "
                            f"{', '.join(runs)})", path)
    return run_id, runs[run_id]


class RunReport:
    """``run --report PATH``: an event handler that keeps the run's events, and writes their
    report to PATH when it is closed (``with``) after the run; when an error ends the block
    instead, nothing is written. The file is opened at once, so a bad path fails before
    anything runs."""

    nonblocking = True  # a list append: a run calls it on its loop

    def __init__(self, path: str, *, title: str | None = None) -> None:
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by __exit__
        self._title = title
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        """Keep ``event``. Mutates."""
        self.events.append(event)

    def __enter__(self) -> RunReport:
        return self

    def __exit__(self, error: type[BaseException] | None, *rest: object) -> None:
        with self._file:
            if error is None:
                self._file.write(render_report(self.events, title=self._title))
