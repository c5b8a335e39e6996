"""Read a workflow document (JSON, YAML or TOML, chosen by extension) into plain data.

Besides the data, a ``Document`` keeps a map from each place in it to its line where the parser
gives positions (YAML; JSON and TOML give them only for syntax errors), so later checks can say
``flow.yaml:14`` and not only ``tasks[2].timeout``. Repeated keys are reported: JSON and YAML
parsers otherwise keep the last one silently.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .problems import Path, Problem, WorkflowError

__all__ = ["Document", "read_document", "parse_json", "parse_text", "FORMATS", "MAX_DEPTH"]

FORMATS: Mapping[str, str] = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}


@dataclass(frozen=True)
class Document:
    source: str
    data: Any
    lines: Mapping[Path, int] = field(default_factory=dict)
    directory: str | None = None  # the file's directory (absolute); None: stdin or --tasks

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
    doc = parse_text(text, filename, kind)
    return dataclasses.replace(doc, directory=os.path.dirname(os.path.abspath(filename)))


def parse_text(text: str, source: str, kind: str) -> Document:
    """Parse ``text`` as ``kind`` ("JSON", "YAML" or "TOML"); raises ``WorkflowError``."""
    from .yaml_document import parse_yaml

    parse: Callable[[str, str], Document] = {
        "JSON": parse_json, "YAML": parse_yaml, "TOML": _parse_toml}[kind]
    return parse(text, source)


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
    except (RecursionError, ValueError) as exc:  # too deep; an int of over 4,300 digits
        raise refused(source, "JSON", exc) from None
    return checked(Document(source, data))


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
    except (RecursionError, ValueError) as exc:
        raise refused(source, "TOML", exc) from None
    return checked(Document(source, data))


# -- every format ---------------------------------------------------------------------------

# Deeper than this is no workflow (a task's args may nest, but not 100 levels); deeper input
# would make the parsers, the schema check and the builder recurse past Python's limit.
MAX_DEPTH = 100


def _too_deep(data: Any) -> Path | None:
    """The first place nested deeper than ``MAX_DEPTH``, found without recursion, or None."""
    stack: list[tuple[Any, Path]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:MAX_DEPTH]
        if isinstance(value, dict):
            stack.extend((v, path + (str(k),)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    return None


def checked(doc: Document) -> Document:
    where = _too_deep(doc.data)
    if where is not None:
        raise WorkflowError([doc.problem(where[:3], f"nested more than {MAX_DEPTH} levels "
                                                    f"deep")])
    return doc


def refused(source: str, kind: str, exc: BaseException) -> WorkflowError:
    """What a parser raised for input it cannot hold: too deep, or a too long integer."""
    if isinstance(exc, RecursionError):
        return WorkflowError([Problem(source, f"invalid {kind}: nested more than the parser "
                                              f"can follow (at most {MAX_DEPTH} levels)")])
    message = str(exc)
    if "digits" in message:  # Python's int_max_str_digits guard (CVE-2020-10735)
        message = "an integer has more than 4,300 digits"
    return WorkflowError([Problem(source, f"invalid {kind}: {message}")])
