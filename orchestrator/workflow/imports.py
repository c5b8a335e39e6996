"""Check, without running any task, that every import path in a workflow resolves.

Where imports come from (``import_paths``), first to last: the workflow file's directory, the
file's ``python_path`` directories (relative to it), the ``--path`` directories, the current
directory, then ``PYTHONPATH`` and the rest of ``sys.path``. A workflow therefore runs from any
directory. They go on ``sys.path`` for the run and come off after it; the pool's workers
start with the parent's ``sys.path`` (loky's spawn sends it), so they import the same modules.

Task functions are resolved again in the workers (``workers.resolve``); checking them up
front turns a typo into a bad-input error (exit code 2, nothing ran) instead of a failed task.
Importing a module runs its top-level code, as the worker will; no task function is called.
``merge`` and ``gates`` run in this process, so they are resolved here for good.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator, Sequence

from workers.resolve import resolve

from .build import Workflow
from .problems import Path, Problem, WorkflowError

__all__ = ["check_imports", "resolve_hooks", "import_current_directory", "import_paths",
           "search_dirs"]

PYTHON_PATH_FIELD = "python_path"


def import_current_directory() -> None:
    """Make modules in the current directory importable here, as they are in the workers.

    ``python -m orchestrator`` already has it on ``sys.path``; the ``orchestrator`` console
    script does not.
    """
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def search_dirs(wf: Workflow, extra: Sequence[str] = ()) -> list[str]:
    """The directories imports come from, first to last, before ``PYTHONPATH``; raises
    ``WorkflowError`` for a ``python_path`` or ``--path`` entry that is not a directory."""
    data = wf.document.data
    base = wf.document.directory
    dirs: list[str] = [base] if base is not None else []
    problems = []
    entries = (data.get(PYTHON_PATH_FIELD) or ()) if isinstance(data, dict) else ()
    for i, entry in enumerate(entries):
        path = os.path.join(base or os.getcwd(), os.path.expanduser(entry))
        if not os.path.isdir(path):
            problems.append(wf.document.problem((PYTHON_PATH_FIELD, i),
                                                f"no such directory: {path}"))
        dirs.append(os.path.abspath(path))
    for entry in extra:
        if not os.path.isdir(entry):
            problems.append(Problem("--path", f"no such directory: {entry}"))
        dirs.append(os.path.abspath(entry))
    if problems:
        raise WorkflowError(problems)
    dirs.append(os.getcwd())
    return list(dict.fromkeys(dirs))


@contextlib.contextmanager
def import_paths(wf: Workflow, extra: Sequence[str] = ()) -> Iterator[list[str]]:
    """``search_dirs(wf, extra)`` at the front of ``sys.path`` for the block, then removed."""
    dirs = search_dirs(wf, extra)
    added = [d for d in dirs if d not in sys.path]
    sys.path[:0] = added
    try:
        yield dirs
    finally:
        for d in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(d)


def _searched() -> str:
    """Where the import looked, without Python's own directories (the stdlib, site-packages)."""
    own = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    shown = [os.path.abspath(p or ".") for p in sys.path
             if not os.path.abspath(p or ".").startswith(own) and os.path.isdir(p or ".")]
    return (f" (searched {', '.join(dict.fromkeys(shown))}; add a directory with the "
            f"workflow's 'python_path:', the --path option or PYTHONPATH)")


def _try(path: str) -> tuple[Callable[..., Any] | None, str | None]:
    try:
        return resolve(path), None
    except ImportError as exc:
        cause = exc.__cause__
        hint = _searched() if isinstance(cause, ModuleNotFoundError) else ""
        return None, f"{exc}{hint}"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the module's top-level code raised (SyntaxError,
        # SystemExit: a module that calls sys.exit() on import must not end validate with 0)
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
