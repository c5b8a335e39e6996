"""Check, without running any task, that every import path in a workflow resolves.

Task functions are resolved again in the workers (``workers.resolve``, with the current directory
importable, as here); checking them up front turns a typo into a bad-input error (exit code 2,
nothing ran) instead of a failed task. Importing a module runs its top-level code, as the
worker will; no task function is called. ``merge`` and ``gates`` run in this process, so they
are resolved here for good.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from workers.resolve import resolve

from .build import Workflow
from .problems import Path, Problem, WorkflowError

__all__ = ["check_imports", "resolve_hooks", "import_current_directory"]


def import_current_directory() -> None:
    """Make modules in the current directory importable here, as they are in the workers.

    ``python -m orchestrator`` already has it on ``sys.path``; the ``orchestrator`` console
    script does not.
    """
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _try(path: str) -> tuple[Callable[..., Any] | None, str | None]:
    try:
        return resolve(path), None
    except ImportError as exc:
        return None, str(exc)
    except Exception as exc:  # the module's top-level code raised (SyntaxError, ...)
        return None, f"importing for {path!r} raised {type(exc).__name__}: {exc}"


def _hook_paths(wf: Workflow) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if wf.merge is not None:
        found.append((wf.merge, ("merge",)))
    found.extend((gate, ("gates", i)) for i, gate in enumerate(wf.gates))
    return found


def check_imports(wf: Workflow) -> list[Problem]:
    """A problem for each import path (task ``fn``, ``merge``, ``gates``) that does not resolve."""
    import_current_directory()
    where: dict[str, Path] = {}
    for spec in wf.graph.specs.values():
        if isinstance(spec.fn, str):
            where.setdefault(spec.fn, wf.task_places[spec.id] + ("fn",))
    for path, place in _hook_paths(wf):
        where.setdefault(path, place)
    problems = []
    for path, place in where.items():
        _, error = _try(path)
        if error is not None:
            problems.append(wf.document.problem(place, error))
    return problems


def resolve_hooks(wf: Workflow) -> tuple[Callable[..., Any] | None, list[Callable[..., Any]]]:
    """The ``merge`` callable (or None) and the gates; raises ``WorkflowError``."""
    import_current_directory()
    resolved: list[Callable[..., Any]] = []
    problems = []
    for path, place in _hook_paths(wf):
        fn, error = _try(path)
        if fn is None:
            problems.append(wf.document.problem(place, error or f"cannot resolve {path!r}"))
        else:
            resolved.append(fn)
    if problems:
        raise WorkflowError(problems)
    if wf.merge is not None:
        return resolved[0], resolved[1:]
    return None, resolved
