"""The shape of a benchmark's result, and how it becomes markdown and JSON.

A benchmark's ``run(quick)`` returns a dict::

    {"title": str,
     "tables": [table(...), ...],      # printed as markdown, in order
     "checks": [check(...), ...],      # targets: met or MISSED, printed after the tables
     "notes": [str, ...],              # printed under the tables
     "figures": {...}}                 # raw figures (every sample), JSON only; charts read it

Any other dict (a benchmark written elsewhere) is printed as a two-column table of its scalar
values, so nothing a benchmark returns is dropped from the report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["table", "check", "render", "render_table", "write_json"]


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          notes: Sequence[str] = ()) -> dict[str, Any]:
    return {"title": title, "columns": list(columns),
            "rows": [[_cell(c) for c in row] for row in rows], "notes": list(notes)}


def check(name: str, target: str, measured: str, passed: bool | None) -> dict[str, Any]:
    """A target from the issue, what was measured against it, and whether it was met
    (``None``: does not apply on this machine; the measured text says why)."""
    return {"name": name, "target": target, "measured": measured,
            "passed": None if passed is None else bool(passed)}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render_table(tab: dict[str, Any]) -> str:
    cols = tab["columns"]
    lines = [f"**{tab['title']}**", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for row in tab["rows"]:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    for note in tab.get("notes", ()):
        lines.append("")
        lines.append(note)
    return "\n".join(lines)


def _generic_table(name: str, result: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for key, value in _flatten(result):
        rows.append([key, _cell(value)])
    return table(f"{name}: raw figures", ["figure", "value"], rows)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (int, float, str, bool)) or obj is None:
        out.append((prefix, obj))
    return out


def render(name: str, result: dict[str, Any]) -> str:
    """One benchmark's section of the report, in markdown."""
    parts = [f"## {name}: {result.get('title', '')}".rstrip(": ")]
    tables = result.get("tables")
    if tables is None:
        tables = [_generic_table(name, result)]
    parts.extend(render_table(t) for t in tables)
    checks = result.get("checks") or []
    if checks:
        parts.append(render_table(table(
            "Targets", ["target", "wanted", "measured", "verdict"],
            [[c["name"], c["target"], c["measured"], _verdict(c["passed"])] for c in checks])))
    for note in result.get("notes", ()):
        parts.append(f"- {note}")
    return "\n\n".join(parts) + "\n"


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("met" if passed else "MISSED")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n",
                    encoding="utf-8")
