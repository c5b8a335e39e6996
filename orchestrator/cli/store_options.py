"""``run``'s run-store options, and what they and the file's policy section decide.

``run WORKFLOW`` keeps a store by default in ``.orchestrator/runs.db`` next to the workflow
file; ``--store PATH`` picks another, ``--no-store`` (or ``store: false`` in the file) turns
it off. ``--resume`` continues the newest run of the workflow's name, ``--resume-run ID`` a given
run, ``--cache`` reuses results from any run in the store (each also a policy field: ``resume``,
``cache``). An option wins over the file. ``--tasks`` runs and a workflow read from stdin
(``run -``) keep no store unless given one.

The store is opened here, and the run to resume found, before anything runs: a bad path or an
unknown run is exit 2 with the path named (``StoreError``, ``UnknownRunError``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..model.results import OrchestrationResult
from ..store import RunStore
from ..workflow import Problem, Workflow, WorkflowError
from .app import EXIT_SIGINT, EXIT_SIGTERM

__all__ = ["store_options", "StoreChoice", "choose_store", "store_notes", "DEFAULT_STORE"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STORE = Path(".orchestrator") / "runs.db"


def store_options(fn: F) -> F:
    """The five options, added to ``fn``'s ``params`` (``choose_store`` takes them out)."""
    for option in reversed([
        click.option("--store", "store_path", metavar="PATH",
                     help="Keep the run in this run store (SQLite). [default: "
                          ".orchestrator/runs.db next to the workflow file]"),
        click.option("--no-store", is_flag=True, help="Keep no run store."),
        click.option("--resume", is_flag=True,
                     help="Continue the newest run of this workflow: what succeeded there "
                          "(same fingerprint) is not run again."),
        click.option("--resume-run", metavar="ID", help="Continue the run with this id."),
        click.option("--cache", is_flag=True, default=None,
                     help="Reuse a succeeded result with the same fingerprint from any run "
                          "in the store."),
    ]):
        fn = option(fn)
    return fn


@dataclass(frozen=True)
class StoreChoice:
    """Where the run is kept and what it reuses; ``kwargs()`` for ``execute_graph``."""

    store: RunStore | None = None
    run_name: str | None = None
    resume: bool | str | None = None
    cache: bool = False
    command: tuple[str, ...] = ()  # how this run was started, for the resume hint

    def kwargs(self) -> dict[str, Any]:
        if self.store is None:
            return {}
        return {"store": self.store, "run_name": self.run_name, "resume": self.resume,
                "cache": self.cache}

    def resume_hint(self, run_id: str) -> str | None:
        """The command that resumes run ``run_id`` (None without a store)."""
        if self.store is None or not self.command:
            return None
        args = [a for a in self.command if a not in ("--resume",)]
        if "--resume-run" in args:
            i = args.index("--resume-run")
            del args[i:i + 2]
        return shlex.join(["orchestrator", *args, "--resume-run", run_id])

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> StoreChoice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def choose_store(wf: Workflow, workflow: str | None, params: dict[str, Any],
                 command: tuple[str, ...] = ()) -> StoreChoice:
    """The store for this run, opened, from the options (taken out of ``params``) and the
    file's policy fields; raises ``WorkflowError``/``StoreError`` before anything runs."""
    path, no_store = params.pop("store_path"), params.pop("no_store")
    if workflow == "-":  # read from stdin: no file to keep a store next to
        workflow = None
    resume_flag, resume_run, cache = (params.pop("resume"), params.pop("resume_run"),
                                      params.pop("cache"))
    if path is not None and no_store:
        raise click.UsageError("give either --store PATH or --no-store")
    if resume_flag and resume_run is not None:
        raise click.UsageError("give either --resume or --resume-run ID")
    fields = wf.store_fields
    resume: bool | str | None = True if resume_flag else resume_run
    if resume is None:
        resume = fields.get("resume") or None
    if cache is None:
        cache = bool(fields.get("cache", False))
    where = _where(wf, workflow, path, no_store)
    if where is None:
        if resume or cache:
            raise WorkflowError([Problem("--resume" if resume else "--cache",
                                         "needs a run store, and this run keeps none")])
        return StoreChoice()
    return StoreChoice(RunStore(where), wf.name or _stem(workflow), resume, cache, command)


def _where(wf: Workflow, workflow: str | None, path: str | None, no_store: bool) -> Path | None:
    """The store's path, or None for no store."""
    if no_store:
        return None
    if path is not None:
        return Path(path)
    given = wf.store_fields.get("store")
    if given is False or (given is None and workflow is None):
        return None
    base = Path(workflow).parent if workflow is not None else Path(".")
    if isinstance(given, str):
        return base / os.path.expanduser(given)
    default = base / DEFAULT_STORE
    try:
        default.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise WorkflowError([Problem(str(default), f"cannot create the run store's directory "
                                                   f"{str(default.parent)!r}: "
                                                   f"{exc.strerror or exc}")]) from None
    return default


def _stem(workflow: str | None) -> str:
    return Path(workflow).stem if workflow is not None else "tasks"


def store_notes(result: OrchestrationResult, store: StoreChoice, code: int) -> None:
    """After the summary: that results stopped being stored, and how to resume an
    interrupted run (stderr)."""
    if result.store_note is not None:
        click.echo(f"Warning: {result.store_note}; the run went on without storing them",
                   err=True)
    hint = store.resume_hint(result.run_id)
    if code in (EXIT_SIGINT, EXIT_SIGTERM) and hint is not None:
        click.echo(f"to resume this run: {hint}", err=True)
