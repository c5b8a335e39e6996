"""The traceback of a failed task, below the summary: the first one, or all (``--tracebacks``).

A table says which task failed and with what; the traceback says where, which is what a user
reaches for next. Only failures that have one (an exception in the task) show one: a timeout
or a crash has none."""

from __future__ import annotations

from ..model.results import OrchestrationResult

__all__ = ["traceback_lines"]


def traceback_lines(result: OrchestrationResult, *, every: bool) -> list[str]:
    """Lines to print: each failed task's traceback, indented, under a heading naming it."""
    failed = [r for r in result if r.error is not None and r.error.traceback]
    shown = failed if every else failed[:1]
    lines: list[str] = []
    for r in shown:
        assert r.error is not None and r.error.traceback is not None
        lines.append(f"traceback of task {r.id!r} (attempt {r.attempts}, {r.error.type}):")
        lines.extend("  " + line for line in r.error.traceback.rstrip("\n").splitlines())
    rest = len(failed) - len(shown)
    if rest:
        lines.append(f"({rest} more failed task{'s' if rest > 1 else ''} with a traceback: "
                     f"--tracebacks shows them all)")
    return lines
