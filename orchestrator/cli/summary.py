"""What a finished (or interrupted) run prints and saves: the summary table, the metrics line,
the one ``Error:`` line of its exit code, and the result JSON (``--json``, ``--output``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import click

from ..model.results import OrchestrationResult, TaskResult
from .app import EXIT_GATE_REJECTED, EXIT_SIGINT, EXIT_SIGTERM, EXIT_TASK_FAILED
from .tables import task_table

__all__ = ["plural", "outcome_message", "summary_lines", "metrics_line", "resource_lines",
           "result_document"]

# Beyond this many tasks the table shows the tasks that did not succeed and counts the rest.
TABLE_LIMIT = 40


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "task")`` -> ``1 task``; ``plural(2, "retry", "retries")`` -> ``2 retries``."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def _counts(result: OrchestrationResult) -> str:
    counts: dict[str, int] = {}
    for r in result:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def outcome_message(result: OrchestrationResult, code: int) -> str | None:
    """The one ``Error:`` line for a non-zero exit (without the prefix), or None."""
    if code in (EXIT_SIGINT, EXIT_SIGTERM):
        signal_name = "SIGINT" if code == EXIT_SIGINT else "SIGTERM"
        return (f"interrupted by {signal_name}: running tasks were killed "
                f"({_counts(result)})")
    if code == EXIT_TASK_FAILED:
        bad = [r for r in result if not r.ok]
        return (f"{len(bad)} of {plural(len(result), 'task')} did not succeed "
                f"({_counts(result)})")
    if code == EXIT_GATE_REJECTED:
        names = ", ".join(repr(g.name) for g in result.gates if not g.passed)
        return f"the run was rejected by {names}"
    return None


def _error_line(r: TaskResult) -> str:
    error = r.error
    if error is not None and error.kind in ("upstream", "cancelled"):
        return f"  {r.id}: {error.message}"  # the library's words name the status and the cause
    text = str(error).strip() if error is not None else ""
    first = text.splitlines()[0] if text else "no error recorded"
    attempts = f" after {r.attempts} attempts" if r.attempts > 1 else ""
    return f"  {r.id}: {r.status.value}{attempts}: {first}"


def summary_lines(result: OrchestrationResult, *, color: bool) -> list[str]:
    """The table (task, status, attempts, duration, worker), failures and gate verdicts."""
    rows = list(result)
    hidden = 0
    if len(rows) > TABLE_LIMIT:
        shown = [r for r in rows if not r.ok][:TABLE_LIMIT]
        hidden = len(rows) - len(shown)
        rows = shown
    lines = task_table(rows, color=color)
    if hidden:
        lines.append(f"... and {hidden} more that succeeded (--output writes every result)")
    failures = [r for r in result if not r.ok]
    if failures:
        lines.append("")
        lines.append("did not succeed:")
        lines += [_error_line(r) for r in failures[:20]]
        if len(failures) > 20:
            lines.append(f"  ... and {len(failures) - 20} more")
    if result.gates:
        lines.append("")
        for g in result.gates:
            verdict = "passed" if g.passed else "REJECTED"
            if color:
                verdict = click.style(verdict, fg="green" if g.passed else "red")
            lines.append(f"gate {g.name}: {verdict}" + (f": {g.message}" if g.message else ""))
    return lines


def metrics_line(result: OrchestrationResult) -> str:
    """``wall 2.41s  busy 7.80s  parallelism 3.24x (busy/wall)  cost n/a  (4 workers; ...)``.

    Busy over wall is how many tasks ran at once on average, not a gain over a serial run."""
    m = result.metrics
    cost = "n/a" if m.cost_estimate is None else f"{m.cost_estimate:.4g}"  # None: unknown
    retries = f"; {plural(m.retries, 'retry', 'retries')}" if m.retries else ""
    return (f"wall {m.wall_time:.2f}s  busy {m.serial_time:.2f}s  "
            f"parallelism {m.parallelism:.2f}x (busy/wall)  cost {cost}  "
            f"({plural(m.workers, 'worker')}; {plural(m.tasks, 'task')}: "
            f"{_counts(result)}{retries})")


def resource_lines(result: OrchestrationResult) -> list[str]:
    """One line per resource the run's tasks held or waited for (none when no task names
    one): ``resource api: capacity 3, peak 3, mean 2.41, waited 4.20s``."""
    lines = []
    for name, usage in result.metrics.resources.items():
        capacity = "rate-limited" if usage.capacity is None else f"capacity {usage.capacity:g}"
        lines.append(f"resource {name}: {capacity}, peak {usage.peak:g}, "
                     f"mean {usage.mean:.2f}, waited {usage.wait:.2f}s")
    return lines


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: tuples and sets become lists, other objects their repr."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return repr(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return str(key) if isinstance(key, (int, float, bool)) or key is None else repr(key)


def result_document(result: OrchestrationResult, *, source: str, name: str | None,
                    code: int) -> dict[str, Any]:
    """Everything about the run as JSON-ready data (``--json`` and ``--output``)."""
    started = datetime.fromtimestamp(result.started_at, timezone.utc)
    document: dict[str, Any] = _plain({
        "workflow": source,
        "name": name,
        "run_id": result.run_id,
        "ok": result.ok,
        "exit_code": code,
        "interrupted": result.interrupted,
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "metrics": result.metrics.to_dict(),
        "tasks": [{**r.to_dict(), "tags": dict(r.tags)} for r in result],
        "gates": [g.to_dict() for g in result.gates],
        "merged": result.merged,
    })
    return document
