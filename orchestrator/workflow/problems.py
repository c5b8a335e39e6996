"""What is wrong with a workflow, and where: ``Problem``, and ``WorkflowError`` that carries them.

A place is a path into the document, ``("tasks", 2, "timeout")``, written ``tasks[2].timeout``;
the line is added where the parser gives one (YAML), so a message reads
``flow.yaml:14: tasks[2].timeout: expected a number or null, got 'ten'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from ..model.errors import OrchestratorError

__all__ = ["Path", "Problem", "WorkflowError", "format_path"]

Path = tuple[Union[str, int], ...]


def format_path(path: Path) -> str:
    """``("tasks", 2, "timeout")`` -> ``tasks[2].timeout``; ``()`` -> ``""``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow.

    ``source``: the file, ``--tasks``, or the command-line option the value came from.
    ``path``: where in the document (empty when the problem is the whole document).
    ``line``: 1-based, when the format's parser reports lines.
    """

    source: str
    message: str
    path: Path = ()
    line: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        place = format_path(self.path)
        return f"{where}: {place}: {self.message}" if place else f"{where}: {self.message}"


class WorkflowError(OrchestratorError):
    """The workflow cannot run; ``problems`` lists every reason found (exit code 2)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("WorkflowError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
