"""The ``orchestrator`` command group, its error boundary and its exit codes.

Every command runs inside ``OrchestratorGroup.invoke``, which turns what escapes into one
``Error: ...`` line on stderr and an exit code, with no traceback unless ``--debug``:
the library's ``OrchestratorError`` -> its ``exit_code`` (2 for bad input); Ctrl-C -> 130 and
SIGTERM during a run -> 143 (click would turn ``KeyboardInterrupt`` into exit 1); anything else
is a bug -> 1. Usage errors stay click's (exit 2, with the usage line).

A run that ends exits with ``exit_code(result)``: 0 every task succeeded and every gate passed;
1 a task failed, timed out, was cancelled or skipped (this wins over a gate, whose verdict then
follows from the failure); 3 a gate (or the merge) rejected the run; 4 all went well but the
``--events`` log is incomplete (any other code wins over it); 130 / 143 interrupted by
SIGINT / SIGTERM. The codes 1, 2 and 3 are those of the library's errors.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable, Sequence, TypeVar

import click

from .. import __version__
from ..interrupts import RunTerminated
from ..model.errors import GateRejected, OrchestratorError, TaskFailedError
from ..model.results import OrchestrationResult
from ..workflow import WorkflowError

__all__ = ["cli", "main", "debug_option", "exit_code", "interrupt_code", "EXIT_OK",
           "EXIT_TASK_FAILED", "EXIT_GATE_REJECTED", "EXIT_LOG_INCOMPLETE", "EXIT_SIGINT",
           "EXIT_SIGTERM"]

EXIT_OK = 0
EXIT_TASK_FAILED = TaskFailedError.exit_code
EXIT_GATE_REJECTED = GateRejected.exit_code
EXIT_LOG_INCOMPLETE = 4  # the run is fine, its event log is not: a script must not trust it
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
_EXIT_BUG = 1  # what escaped is not the library's error: click's code for an error

F = TypeVar("F", bound=Callable[..., Any])
_DEBUG = "orchestrator.debug"


def exit_code(result: OrchestrationResult, interrupted_by: int | None = None) -> int:
    """The exit code for ``result``; ``interrupted_by`` is 130 or 143 when a signal stopped it."""
    if interrupted_by is not None:
        return interrupted_by
    if any(not r.ok for r in result):
        return EXIT_TASK_FAILED
    if any(not g.passed for g in result.gates):
        return EXIT_GATE_REJECTED
    return EXIT_OK


def interrupt_code(exc: KeyboardInterrupt) -> int:
    """143 when SIGTERM stopped the run (``RunTerminated``), else 130."""
    return EXIT_SIGTERM if isinstance(exc, RunTerminated) else EXIT_SIGINT


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
            _fail(ctx, ["interrupted"], interrupt_code(exc), exc)
        except WorkflowError as exc:
            _fail(ctx, [str(p) for p in exc.problems], exc.exit_code, exc)
        except OrchestratorError as exc:
            _fail(ctx, [str(exc)], exc.exit_code, exc)
        except Exception as exc:
            hint = "" if ctx.meta.get(_DEBUG) else " (--debug shows the traceback)"
            _fail(ctx, [f"unexpected {type(exc).__name__}: {exc}{hint}"], _EXIT_BUG, exc)
        return None


@click.group(cls=OrchestratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
@debug_option
def cli() -> None:
    """Run many CPU-heavy Python callables in parallel on local processes, from a workflow file.

    \b
    Exit codes: 0 every task succeeded; 1 a task failed, timed out, was cancelled or
    skipped; 2 bad input (nothing ran); 3 a quality gate rejected the run;
    4 the --events log is incomplete; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).

    The workflow format is described in docs/workflow.md (`orchestrator schema` prints its
    JSON Schema).
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``orchestrator`` console script and ``python -m orchestrator``."""
    cli.main(args=list(argv) if argv is not None else None)
