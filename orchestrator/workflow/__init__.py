"""Workflow files: a ``policy`` section and a ``tasks`` list, in JSON, YAML or TOML.

The format is documented in docs/workflow.md; ``workflow.schema.json`` (package data) describes
its shape for editors and for ``check_schema``. Loading goes in stages, each stopping with a
``WorkflowError`` that lists every problem it found, with the file and the place:

1. ``read_document``: parse the file (syntax errors, repeated keys);
2. ``build_workflow``: the schema (types, unknown fields), then the library's own checks as it
   builds the policy, each ``TaskSpec`` and the ``TaskGraph`` (ranges, duplicate ids, missing
   dependencies, cycles);
3. ``check_imports``: every import path resolves (nothing runs).

    wf = load_workflow("flow.yaml", overrides={("task_timeout",): (30.0, "--task-timeout")})
    problems = check_imports(wf)
"""

from __future__ import annotations

from typing import Mapping

from .build import Override, Workflow, build_workflow
from .documents import FORMATS, Document, parse_json, parse_text, read_document
from .imports import check_imports, import_current_directory, import_paths, resolve_hooks
from .problems import Problem, WorkflowError, format_path
from .schema import SCHEMA_FILE, load_schema

__all__ = [
    "Workflow", "WorkflowError", "Problem", "Override", "Document", "load_workflow",
    "load_tasks_json", "check_imports", "resolve_hooks", "import_current_directory",
    "load_schema", "format_path", "SCHEMA_FILE", "import_paths", "read_workflow_text",
]

TASKS_OPTION = "--tasks"


def load_workflow(filename: str,
                  overrides: Mapping[tuple[str, ...], Override] | None = None) -> Workflow:
    """Read and build the workflow in ``filename`` (format chosen by extension)."""
    return build_workflow(read_document(filename), overrides)


def read_workflow_text(text: str, source: str, kind: str | None = None,
                       overrides: Mapping[tuple[str, ...], Override] | None = None) -> Workflow:
    """Build the workflow in ``text`` (read from stdin, say) named ``source`` in messages.

    ``kind``: "JSON", "YAML" or "TOML", or a file extension; None: JSON when the text starts
    with ``{``, else YAML. Imports then resolve from the current directory, not a file's."""
    if kind is not None and kind.startswith("."):
        kind = FORMATS.get(kind.lower(), kind)
    if kind is None:
        kind = "JSON" if text.lstrip().startswith("{") else "YAML"
    return build_workflow(parse_text(text, source, kind.upper()), overrides)


def load_tasks_json(text: str,
                    overrides: Mapping[tuple[str, ...], Override] | None = None) -> Workflow:
    """Build a workflow from ``--tasks``: a JSON list of task objects, as in a file's ``tasks``."""
    doc = parse_json(text, TASKS_OPTION)
    if not isinstance(doc.data, list):
        kind = {dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(doc.data), "a number")
        raise WorkflowError([Problem(TASKS_OPTION, f"expected a JSON list of tasks, got {kind}")])
    return build_workflow(Document(TASKS_OPTION, {"tasks": doc.data}), overrides)
