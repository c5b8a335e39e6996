"""The ``orchestrator`` command line (click): ``run``, ``validate``, ``graph``, ``schema``.

    orchestrator run examples/analysis.yaml --max-concurrency 4
    python -m orchestrator validate flow.toml

``app`` holds the group and the error boundary (exit codes), ``run`` the run command,
``policy_options`` one option per policy field, ``progress`` the live display, ``report`` the
summary and the result JSON, ``drawing`` the graph formats.
"""

from __future__ import annotations

from . import run as _run  # noqa: F401  (registers the `run` command on the group)
from .app import cli, main

__all__ = ["cli", "main"]
