"""The ``orchestrator`` command line (click): ``run``, ``validate``, ``graph``, ``schema``,
``events summarize``, ``report``, ``runs`` (the run store: ``runs.py``; ``run``'s store
options: ``store_options.py``).

    orchestrator run examples/analysis.yaml --max-concurrency 4
    python -m orchestrator validate flow.toml

``app`` holds the group, the error boundary and the exit codes; one module per command
(``run``, ``validate``, ``graph``, ``schema``, ``events``, ``report``); ``policy_options`` one
option per policy field, ``progress`` the live display, ``summary`` what a run prints and saves,
``tables`` its table (rich), ``drawing`` the graph formats.
"""

from __future__ import annotations

# Importing a command's module registers it on the group.
from . import events, graph, report, run, runs, schema, validate  # noqa: F401
from .app import cli, main

__all__ = ["cli", "main"]
