"""Read a workflow document (JSON, YAML or TOML, chosen by extension) into plain data.

Besides the data, a ``Document`` keeps a map from each place in it to its line where the parser
gives positions (YAML; JSON and TOML give them only for syntax errors), so later checks can say
``flow.yaml:14`` and not only ``tasks[2].timeout``. Repeated keys are reported: JSON and YAML
parsers otherwise keep the last one silently.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .problems import Path, Problem, WorkflowError

__all__ = ["Document", "read_document", "parse_json", "FORMATS"]

FORMATS: Mapping[str, str] = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}


@dataclass(frozen=True)
class Document:
    source: str
    data: Any
    lines: Mapping[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of the nearest enclosing place that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.source, message, path, self.line(path))


def read_document(filename: str) -> Document:
    """Read and parse ``filename``; raises ``WorkflowError`` naming the file and the place."""
    ext = os.path.splitext(filename)[1].lower()
    kind = FORMATS.get(ext)
    if kind is None:
        raise WorkflowError([Problem(filename, f"unknown workflow format {ext or '(none)'!r}: "
                                               f"name the file .json, .yaml, .yml or .toml")])
    try:
        with open(filename, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise WorkflowError([Problem(filename, f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise WorkflowError([Problem(filename, f"cannot read: {exc.strerror or exc}")]) from None
    parse: Callable[[str, str], Document] = {
        "JSON": parse_json, "YAML": _parse_yaml, "TOML": _parse_toml}[kind]
    return parse(text, filename)


# -- JSON ----------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_json(text: str, source: str) -> Document:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise WorkflowError([Problem(source, f"invalid JSON: {exc.msg} (column {exc.colno})",
                                     line=exc.lineno)]) from None
    except _DuplicateKey as exc:
        raise WorkflowError([Problem(source, f"invalid JSON: key {exc.args[0]!r} appears twice "
                                             f"in one object")]) from None
    return Document(source, data)


# -- TOML ----------------------------------------------------------------------------------

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_toml(text: str, source: str) -> Document:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        line = int(at.group(1)) if at else None
        if at:
            message = f"{message[:at.start()].rstrip()} (column {at.group(2)})"
        raise WorkflowError([Problem(source, f"invalid TOML: {message}", line=line)]) from None
    return Document(source, data)


# -- YAML ----------------------------------------------------------------------------------


def _parse_yaml(text: str, source: str) -> Document:
    try:
        import yaml
    except ImportError:
        raise WorkflowError([Problem(source, "reading YAML needs PyYAML (pip install PyYAML); "
                                             "or write the workflow as JSON or TOML")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise WorkflowError([Problem(source, f"invalid YAML: {what}",
                                     line=mark.line + 1 if mark else None)]) from None
    except yaml.YAMLError as exc:
        raise WorkflowError([Problem(source, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
    duplicates: list[Problem] = []
    if node is not None:
        _map_yaml_lines(yaml, node, (), lines, duplicates, source)
    if duplicates:
        raise WorkflowError(duplicates)
    return Document(source, data, lines)


def _map_yaml_lines(yaml: Any, node: Any, path: Path, lines: dict[Path, int],
                    duplicates: list[Problem], source: str) -> None:
    """Record the line of every place under ``node``; report keys given twice. Mutates."""
    stack = [(node, path)]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                key = key_node.value
                sub = path + (key,)
                line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append(Problem(source, "key given twice", sub, line))
                seen.add(key)
                lines[sub] = line  # a value's place is its key's line
                stack.append((value_node, sub))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, path + (index,)))
