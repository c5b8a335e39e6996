"""Where ``run`` and ``validate`` take a workflow from: a file, ``-`` (standard input), or
``--tasks`` given inline or as ``@FILE`` (a shell limits a command line to ~2 MB: 3,000 inline
tasks do not fit); and ``--path DIR`` for imports (``workflow.import_paths``, ``run_imports``)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import click

from ..workflow import (
    Override,
    Problem,
    Workflow,
    WorkflowError,
    import_paths,
    load_tasks_json,
    load_workflow,
    read_workflow_text,
)

__all__ = ["load_input", "path_option", "format_option", "run_imports", "STDIN"]

STDIN = "<stdin>"
F = TypeVar("F", bound=Callable[..., Any])


def path_option(fn: F) -> F:
    return click.option(
        "--path", "paths", multiple=True, metavar="DIR",
        help="Also import task functions, merge and gates from DIR (repeatable); searched "
             "after the workflow file's directory and its python_path, before the current "
             "directory.")(fn)


def format_option(fn: F) -> F:
    return click.option(
        "--format", "kind", type=click.Choice(["json", "yaml", "toml"]),
        help="The format of a workflow read from standard input ('-'). [default: JSON when "
             "it starts with '{', else YAML]")(fn)


def _read(option: str, path: str) -> str:
    """The UTF-8 text of ``path`` (``-``: standard input), or a ``WorkflowError``."""
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise WorkflowError([Problem(option, f"{path}: not UTF-8 text ({exc.reason} at byte "
                                             f"{exc.start})")]) from None
    except OSError as exc:
        raise WorkflowError([Problem(option, f"cannot read {path!r}: "
                                             f"{exc.strerror or exc}")]) from None


def load_input(workflow: str | None, tasks_json: str | None, kind: str | None,
               overrides: Mapping[tuple[str, ...], Override]) -> Workflow:
    """The workflow named on the command line, with the options' overrides."""
    if workflow == "-":
        return read_workflow_text(_read(STDIN, "-"), STDIN, kind, overrides)
    if workflow is not None:
        return load_workflow(workflow, overrides)
    text = tasks_json or ""
    if text.startswith("@"):  # --tasks @tasks.json, or @- for standard input
        text = _read("--tasks", text[1:])
    return load_tasks_json(text, overrides)


@contextlib.contextmanager
def run_imports(wf: Workflow, paths: Sequence[str]) -> Iterator[None]:
    """``import_paths`` for a run. Workers start with the parent's ``sys.path``, so the warm
    pool's workers (started by an earlier run in this process) would not see a directory added
    now: the pool is stopped when one is added, and again after (it starts anew, ~80 ms)."""
    from ..executors.local.warm import shutdown_shared_pool

    before = set(sys.path)
    with import_paths(wf, paths) as dirs:
        fresh = [d for d in dirs if d not in before]
        if fresh:
            shutdown_shared_pool()
        try:
            yield
        finally:
            if fresh:
                shutdown_shared_pool()
