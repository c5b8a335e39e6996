"""``orchestrator graph``: print a workflow's dependency graph (text, Mermaid or DOT)."""

from __future__ import annotations

import click

from ..workflow import load_workflow
from .app import cli, debug_option
from .drawing import FORMATS, draw

__all__ = ["graph"]


@cli.command()
@click.argument("workflow", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="text",
              show_default=True, help="Plain text, a Mermaid flowchart or Graphviz DOT.")
@debug_option
def graph(workflow: str, fmt: str) -> None:
    """Print the dependency graph of WORKFLOW (edges go from a dependency to its dependent)."""
    click.echo(draw(load_workflow(workflow).graph, fmt), nl=False)
