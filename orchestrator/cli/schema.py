"""``orchestrator schema``: print the workflow file's JSON Schema."""

from __future__ import annotations

import json

import click

from ..workflow import load_schema
from .app import cli, debug_option

__all__ = ["schema"]


@cli.command()
@debug_option
def schema() -> None:
    """Print the workflow file's JSON Schema (for editors and linters)."""
    click.echo(json.dumps(load_schema(), indent=2))
