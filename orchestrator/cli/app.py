"""The ``orchestrator`` command group and its error boundary.

Every command runs inside ``OrchestratorGroup.invoke``, which turns what escapes into one
``Error: ...`` line on stderr and an exit code, with no traceback unless ``--debug``:
the library's ``OrchestratorError`` -> its ``exit_code`` (2 for bad input); Ctrl-C -> 130 and
SIGTERM during a run -> 143 (click would turn ``KeyboardInterrupt`` into exit 1); anything else
is a bug -> 1. Usage errors stay click's (exit 2, with the usage line).
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Callable, Sequence, TypeVar

import click

from .. import __version__
from ..interrupts import RunTerminated
from ..model.errors import OrchestratorError
from ..workflow import WorkflowError, check_imports, load_schema, load_workflow
from .drawing import FORMATS, draw
from .report import EXIT_SIGINT, EXIT_SIGTERM, EXIT_TASK_FAILED, plural

__all__ = ["cli", "main", "debug_option"]

F = TypeVar("F", bound=Callable[..., Any])
_DEBUG = "orchestrator.debug"


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG] = True


def debug_option(fn: F) -> F:
    """``--debug``: print the traceback of an error (accepted by the group and every command)."""
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                        callback=_set_debug,
                        help="Show the Python traceback of an error.")(fn)


def _fail(ctx: click.Context, lines: Sequence[str], code: int, exc: BaseException) -> None:
    if ctx.meta.get(_DEBUG):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    for line in lines:
        click.echo(f"Error: {line}", err=True)
    raise click.exceptions.Exit(code)


class OrchestratorGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except KeyboardInterrupt as exc:
            code = EXIT_SIGTERM if isinstance(exc, RunTerminated) else EXIT_SIGINT
            _fail(ctx, ["interrupted"], code, exc)
        except WorkflowError as exc:
            _fail(ctx, [str(p) for p in exc.problems], exc.exit_code, exc)
        except OrchestratorError as exc:
            _fail(ctx, [str(exc)], exc.exit_code, exc)
        except Exception as exc:
            hint = "" if ctx.meta.get(_DEBUG) else " (--debug shows the traceback)"
            _fail(ctx, [f"unexpected {type(exc).__name__}: {exc}{hint}"], EXIT_TASK_FAILED, exc)
        return None


@click.group(cls=OrchestratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
@debug_option
def cli() -> None:
    """Run many CPU-heavy Python callables in parallel on local processes, from a workflow file.

    \b
    Exit codes: 0 every task succeeded; 1 a task failed, timed out, was cancelled or
    skipped; 2 bad input (nothing ran); 3 a quality gate rejected the run;
    130 interrupted (Ctrl-C); 143 terminated (SIGTERM).

    The workflow format is described in docs/workflow.md (`orchestrator schema` prints its
    JSON Schema).
    """


@cli.command()
@click.argument("workflow", type=click.Path())
@debug_option
def validate(workflow: str) -> None:
    """Check WORKFLOW without running anything.

    Reports every problem with the file and the place: syntax, unknown fields, wrong types,
    values the library rejects, duplicate ids, missing dependencies, cycles, and import paths
    that do not resolve from the current directory. Exit code 0 when valid, 2 when not.
    """
    wf = load_workflow(workflow)
    problems = check_imports(wf)
    if problems:
        raise WorkflowError(problems)
    graph = wf.graph
    edges = sum(len(graph.deps(tid)) for tid in graph.specs)
    hooks = []
    if wf.merge:
        hooks.append(f"merge {wf.merge}")
    hooks += [f"gate {g}" for g in wf.gates]
    extra = f"; {', '.join(hooks)}" if hooks else ""
    click.echo(f"{workflow}: valid: {plural(len(graph), 'task')}, "
               f"{plural(edges, 'dependency', 'dependencies')}, "
               f"max concurrency {wf.policy.max_concurrency}{extra}")


@cli.command()
@click.argument("workflow", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="text",
              show_default=True, help="Plain text, a Mermaid flowchart or Graphviz DOT.")
@debug_option
def graph(workflow: str, fmt: str) -> None:
    """Print the dependency graph of WORKFLOW (edges go from a dependency to its dependent)."""
    click.echo(draw(load_workflow(workflow).graph, fmt), nl=False)


@cli.command()
@debug_option
def schema() -> None:
    """Print the workflow file's JSON Schema (for editors and linters)."""
    click.echo(json.dumps(load_schema(), indent=2))


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
    from ..telemetry.reader import summarize as summarize_log

    runs = summarize_log(path, top=top)
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in runs], indent=2))
    elif not runs:
        click.echo(f"{path}: no runs in this log")
    else:
        click.echo("\n\n".join(run.render() for run in runs))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``orchestrator`` console script and ``python -m orchestrator``."""
    cli.main(args=list(argv) if argv is not None else None)
