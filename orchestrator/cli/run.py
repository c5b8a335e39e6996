"""``orchestrator run``: load, check, run, report, exit with the run's code.

Where things go: the result (table, or JSON with ``--json``) on stdout; the live display on
stderr, only when stderr is a terminal; ``Error:`` lines on stderr. When stdout carries a
machine stream (``--json``, ``--events -``) the table moves to stderr, so stdout stays parseable.

On Ctrl-C (or SIGTERM) the library kills every worker, flushes the event sinks and raises with the
partial result; that result is printed and saved like a finished one, and the exit code is 130
(143 for SIGTERM).

An ``--events`` log that could not be written in full (a full disk, a closed pipe) does not
stop the run: the summary is printed as usual, then the log is named incomplete, with how
many events are missing, as the ``Error:`` line and exit code 4, or as a ``Warning:`` line
above another code's ``Error:`` line.

``--cluster`` (or the file's ``policy.cluster``) runs on a Dask cluster (``DaskExecutor``),
connected before the banner; without a ``max_concurrency`` of its own the run uses the
cluster's thread count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import warnings
from typing import IO, Any, Callable, Iterator, NamedTuple

import click

from ..api import execute_graph
from ..executors.base import Executor
from ..interrupts import partial_result
from ..model.results import OrchestrationResult
from ..telemetry.costs import CostModel, CpuTimeCost, ReportedCost
from ..telemetry.sinks import JsonLinesSink, SinkError, SinkWarning
from ..workflow import (
    Problem,
    Workflow,
    WorkflowError,
    check_imports,
    resolve_hooks,
)
from .app import EXIT_LOG_INCOMPLETE, EXIT_OK, cli, debug_option, exit_code, interrupt_code
from .inputs import format_option, load_input, path_option, run_imports
from .policy_options import policy_options, pop_overrides
from .progress import LiveDisplay
from .report import RunReport
from .summary import (
    metrics_line,
    outcome_message,
    plural,
    resource_lines,
    result_document,
    summary_lines,
)
from .tracebacks import traceback_lines

__all__ = ["run"]


@cli.command("run")
@click.argument("workflow", required=False, type=click.Path(allow_dash=True))
@click.option("--tasks", "tasks_json", metavar="JSON|@FILE",
              help='Run an inline JSON list of tasks instead of a file, e.g. '
                   '\'[{"id": "a", "fn": "workers.agents:sleep", "args": [1]}]\', or the list '
                   'in FILE with @FILE (@- reads standard input).')
@path_option
@format_option
@click.option("--tracebacks", is_flag=True,
              help="Print the traceback of every failed task below the summary (without it: "
                   "the first one).")
@policy_options
@click.option("--cluster", metavar="ADDRESS|local:N",
              help="Run on a Dask cluster: its scheduler's address (tcp://HOST:PORT), or "
                   "local:N for N Dask workers on this machine. [default: local processes]")
@click.option("--events", metavar="PATH|-",
              help="Append the JSON Lines event stream to PATH ('-': stdout).")
@click.option("-o", "--output", metavar="PATH", help="Write every result as JSON to PATH.")
@click.option("--report", "report_path", metavar="PATH",
              help="Write the run's HTML report to PATH (one offline page: docs/report.md).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON on stdout instead of the table.")
@click.option("-q", "--quiet", is_flag=True,
              help="No live display and no table: only the metrics line (and errors).")
@click.option("--cpu-hour-price", type=click.FloatRange(min=0), metavar="PRICE",
              help="Price one CPU hour of the workers; the run's cost adds it to what the tasks "
                   "reported with current_task().report(cost=...).")
@debug_option
@click.pass_context
def run(ctx: click.Context, /, workflow: str | None, tasks_json: str | None, cluster: str | None,
        events: str | None, output: str | None, report_path: str | None, as_json: bool,
        quiet: bool, cpu_hour_price: float | None, **params: Any) -> None:
    """Run WORKFLOW (a .json, .yaml or .toml file; '-' reads standard input), or the tasks
    given with --tasks.

    Options override the file's policy section. Nothing runs when the input is bad (exit 2).
    """
    if (workflow is None) == (tasks_json is None):
        raise click.UsageError("give either a WORKFLOW file or --tasks JSON")
    if as_json and events == "-":
        raise click.UsageError("--json and --events - both write to stdout; "
                               "send the events to a file")
    every_traceback = params.pop("tracebacks")
    kind, paths = params.pop("kind"), params.pop("paths")
    wf, overrides = _load(workflow, tasks_json, cluster, kind, params)
    ctx.with_resource(run_imports(wf, paths))  # on sys.path for the run, then taken off
    problems = check_imports(wf)
    if problems:
        raise WorkflowError(problems)
    merge, gates = resolve_hooks(wf)

    human, color, display = _terminal(as_json=as_json, quiet=quiet, events=events)
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(_cluster_executor(wf.cluster))
        wf = _sized_for(wf, executor, overrides)
        log = stack.enter_context(_opened("--events", events, _open_log)) \
            if events is not None else None
        sinks: list[Callable[[Any], None]] = [log] if log is not None else []
        if report_path is not None:  # written when the block ends, after --output
            sinks.append(stack.enter_context(_opened(
                "--report", report_path, functools.partial(RunReport, title=wf.name))))
        out_file = stack.enter_context(_opened("--output", output, _open_text)) \
            if output is not None else None
        if not quiet and not as_json:
            click.echo(_banner(wf), file=human)
        if display is not None:
            sinks.append(display.tracker)
        result, signal_code = _execute(wf, merge, gates, sinks, display, _cost(cpu_hour_price),
                                       executor)
        logged = _close_log(log)
        code = logged.exit_code(exit_code(result, signal_code))
        document = result_document(result, source=wf.source, name=wf.name, code=code)
        if out_file is not None:
            json.dump(document, out_file, indent=2)
            out_file.write("\n")

    _print(result, document, code, as_json=as_json, quiet=quiet, human=human, color=color,
           logged=logged, every_traceback=every_traceback)
    ctx.exit(code)


def _load(workflow: str | None, tasks_json: str | None, cluster: str | None, kind: str | None,
          params: dict[str, Any]) -> tuple[Workflow, dict[tuple[str, ...], Any]]:
    """The workflow with the options' overrides, and those overrides. Mutates ``params``."""
    overrides: dict[tuple[str, ...], Any] = dict(pop_overrides(params))
    if cluster is not None:
        overrides[("cluster",)] = (cluster, "--cluster")
    return load_input(workflow, tasks_json, kind, overrides), overrides


def _print(result: OrchestrationResult, document: dict[str, Any], code: int, *, as_json: bool,
           quiet: bool, human: IO[str], color: bool, logged: LogOutcome,
           every_traceback: bool = False) -> None:
    """The JSON document, or the table; the metrics line; the ``Error:`` line if any (and
    the event log's problem: as the error for exit 4, else as a warning above it)."""
    if as_json:
        click.echo(json.dumps(document, indent=2))
    elif not quiet:
        for line in summary_lines(result, color=color):
            click.echo(line, file=human, color=color)
    if not as_json:
        click.echo(metrics_line(result), file=human)
        for line in resource_lines(result):
            click.echo(line, file=human)
    if every_traceback or not quiet:
        for line in traceback_lines(result, every=every_traceback):
            click.echo(line, err=True)
    if logged.note is not None:
        click.echo(f"Warning: {logged.note}", err=True)
    message = outcome_message(result, code)
    if logged.problem is not None:
        if code == EXIT_LOG_INCOMPLETE:
            message = logged.problem
        else:
            click.echo(f"Warning: {logged.problem}", err=True)
    if message is not None:
        click.echo(f"Error: {message}", err=True)


def _terminal(*, as_json: bool, quiet: bool, events: str | None,
              ) -> tuple[IO[str], bool, LiveDisplay | None]:
    """Where the table goes (stderr when stdout carries a machine stream), whether it is in
    colour, and the live display: on stderr, only when that is a terminal."""
    human = sys.stderr if as_json or events == "-" else sys.stdout
    no_color = bool(os.environ.get("NO_COLOR"))
    live = not quiet and events != "-" and _is_terminal(sys.stderr) \
        and os.environ.get("TERM") != "dumb"
    display = LiveDisplay(sys.stderr, color=not no_color,
                          redirect_stdout=_is_terminal(sys.stdout)) if live else None
    return human, _is_terminal(human) and not no_color, display


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _banner(wf: Workflow) -> str:
    name = f"{wf.name} ({wf.source})" if wf.name else wf.source
    where = f" on the Dask cluster {wf.cluster}" if wf.cluster else ""
    return (f"running {name}: {plural(len(wf.graph), 'task')}, "
            f"max concurrency {wf.policy.max_concurrency}{where}")


def _sized_for(wf: Workflow, executor: Any, overrides: dict[tuple[str, ...], Any]) -> Workflow:
    """``wf`` to run on ``executor``: on a cluster, without a ``max_concurrency`` of its own,
    as many at once as the cluster has threads (connecting to learn it)."""
    section = wf.document.data.get("policy") if isinstance(wf.document.data, dict) else None
    if executor is None or ("max_concurrency",) in overrides \
            or "max_concurrency" in (section or {}):
        return wf
    size = executor.connect().capacity
    return dataclasses.replace(wf, policy=wf.policy.replace(max_concurrency=size))


@contextlib.contextmanager
def _cluster_executor(cluster: str | None) -> Iterator[Any]:
    """A ``DaskExecutor`` for ``cluster`` (closed at the end), or None: the local pool."""
    if cluster is None:
        yield None
        return
    try:
        from ..executors.dask import DaskExecutor
    except ImportError as exc:
        raise WorkflowError([Problem("--cluster", f"running on a Dask cluster needs Dask "
                                                  f"distributed ({exc}): pip install "
                                                  f"'orchestrator-engine[dask]'")]) from None
    if cluster.startswith("local:"):
        executor = DaskExecutor.local(n_workers=int(cluster.split(":", 1)[1]))
    else:
        executor = DaskExecutor(cluster)
    with executor:
        yield executor


# The CLI's log is one file for many runs: appended to (on a fresh line), as --help says.
_open_log = functools.partial(JsonLinesSink, mode="a")


class LogOutcome(NamedTuple):
    """How the ``--events`` log fared: what is missing from it and why (None: nothing), and a
    note when its reader fell behind (that cost memory, not events)."""

    problem: str | None = None
    note: str | None = None

    def exit_code(self, code: int) -> int:
        """The run's exit code, 4 instead of 0 when the log is incomplete."""
        return EXIT_LOG_INCOMPLETE if self.problem is not None and code == EXIT_OK else code


def _close_log(log: JsonLinesSink | None) -> LogOutcome:
    if log is None:
        return LogOutcome()
    note = None
    if log.peak_backlog > log.warn_backlog:
        note = (f"the event log's reader fell behind: up to {log.peak_backlog / 2**20:.0f} MiB "
                f"of events waited in memory")
    try:
        log.close()
    except SinkError as exc:
        return LogOutcome(f"the event log is incomplete: {exc}", note)
    return LogOutcome(None, note)


def _cost(cpu_hour_price: float | None) -> CostModel:
    """What the tasks reported, plus their CPU time when it has a price."""
    cost: CostModel = ReportedCost()
    if cpu_hour_price is not None:
        cost = CpuTimeCost(per_cpu_hour=cpu_hour_price) + cost
    return cost


def _open_text(path: str) -> IO[str]:
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller's ExitStack


@contextlib.contextmanager
def _opened(option: str, path: str, opener: Callable[[str], Any]) -> Iterator[Any]:
    """Open ``path`` for ``option`` before the run starts, so a bad path fails with exit 2."""
    try:
        handle = opener(path)
    except OSError as exc:
        raise WorkflowError([Problem(option, f"cannot open {path!r}: "
                                             f"{exc.strerror or exc}")]) from None
    with handle:
        yield handle


def _execute(wf: Workflow, merge: Callable[..., Any] | None, gates: list[Callable[..., Any]],
             sinks: list[Callable[[Any], None]], display: LiveDisplay | None, cost: CostModel,
             executor: Executor | None) -> tuple[OrchestrationResult, int | None]:
    """Run ``wf``; on Ctrl-C/SIGTERM return the partial result and the exit code to use."""
    try:
        with display or contextlib.nullcontext(), warnings.catch_warnings():
            # The event log's trouble is told once, after the summary (_close_log).
            warnings.simplefilter("ignore", SinkWarning)
            result = execute_graph(wf.graph, wf.policy, on_event=sinks or None, merge=merge,
                                   gates=gates, cost=cost, executor=executor)
        return result, None
    except KeyboardInterrupt as exc:
        partial = partial_result(exc)
        if partial is None:
            raise
        return partial, interrupt_code(exc)
