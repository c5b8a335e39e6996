"""``orchestrator validate``: check a workflow file without running anything."""

from __future__ import annotations

import click

from ..workflow import WorkflowError, check_imports, import_paths
from .app import cli, debug_option
from .inputs import format_option, load_input, path_option
from .summary import plural

__all__ = ["validate"]


@cli.command()
@click.argument("workflow", type=click.Path(allow_dash=True))
@path_option
@format_option
@debug_option
def validate(workflow: str, paths: tuple[str, ...], kind: str | None) -> None:
    """Check WORKFLOW without running anything.

    Reports every problem with the file and the place: syntax, unknown fields, wrong types,
    values the library rejects, duplicate ids, missing dependencies, cycles, and import paths
    that do not resolve (from the workflow's directory, its python_path, --path, the current
    directory or PYTHONPATH). '-' reads standard input. Exit code 0 when valid, 2 when not.
    """
    wf = load_input(workflow, None, kind, {})
    with import_paths(wf, paths):
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
