"""Check a workflow document against its JSON Schema (package data), with the place of each error.

The schema is the one description of the format's shape: editors use it, and ``validate``
applies it (with ``jsonschema``, as the event log reader does) so shape errors carry their
place. It checks structure, types, names and enums; value ranges (``max_concurrency >= 1`` ...)
are left to the library, which checks them when the policy and the specs are built.

Each ``jsonschema`` error becomes a ``Problem`` at its ``absolute_path`` (with the line the
document knows for it), worded by ``_WORDS``, one entry per keyword the file uses; a keyword
without an entry keeps ``jsonschema``'s message. Problems come in the document's order.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .documents import Document
from .problems import Path, Problem

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["load_schema", "check_schema", "SCHEMA_FILE"]

SCHEMA_FILE = "workflow.schema.json"

_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
          "integer": "an integer", "number": "a number", "boolean": "true or false",
          "null": "null"}


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The schema shipped with the package."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Validator:
    """The schema's validator; jsonschema is imported on first use, so ``--help`` skips it."""
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    # JSON Schema counts 2.0 as an integer; the library's fields take Python ints only.
    types = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    cls = extend(Draft202012Validator, type_checker=types)  # type: ignore[no-untyped-call]
    validator: Validator = cls(load_schema())
    return validator


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_fields(_: Any, instance: Any, schema: Any) -> Iterable[tuple[Any, str]]:
    known: Mapping[str, Any] = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    for key in instance:
        if key not in known and not any(p.search(str(key)) for p in patterns):
            hint = closest(str(key), list(known))
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            yield key, f"unknown field {key!r}{suggestion}; known fields: {', '.join(known)}"


def _edits(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insert, delete, replace, or swap two neighbours (the
    optimal-string-alignment distance: ``agrs`` is one swap from ``args``)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(word: str, known: list[str]) -> str | None:
    """The known name fewest edits away (at most a third of the word, at least 1; ties go
    to difflib's likeness, then to the order of ``known``), or None. difflib alone ranks
    ``tags`` above ``args`` for ``agrs``."""
    if len(word) > 64:
        return None
    limit = max(1, len(word) // 3)
    scored = [(_edits(word.lower(), name.lower()),
               -difflib.SequenceMatcher(None, word, name).ratio(), i, name)
              for i, name in enumerate(known)]
    best = min(scored, default=None)
    return best[3] if best is not None and best[0] <= limit else None


def _expected(types: Any, instance: Any, _: Any) -> Iterable[tuple[Any, str]]:
    names = [types] if isinstance(types, str) else types
    return [(None, f"expected {' or '.join(_NAMES[t] for t in names)}, got {_show(instance)}")]


# keyword -> (its value, the instance, the schema) -> the problems one error of it stands for:
# (the key of the field at fault, or None for the place itself; the message). ``required`` and
# ``additionalProperties`` name every field at once.
_Words = Callable[[Any, Any, Any], Iterable[tuple[Any, str]]]
_WORDS: Mapping[str, _Words] = {
    "type": _expected,
    "enum": lambda allowed, instance, _: [
        (None, f"must be one of {', '.join(map(repr, allowed))}, got {_show(instance)}")],
    "minimum": lambda least, instance, _: [(None, f"must be >= {least}, got {_show(instance)}")],
    "minItems": lambda least, _, __: [(None, f"needs at least {least} item(s)")],
    "minLength": lambda least, _, __: [(None, f"needs at least {least} character(s)")],
    "required": lambda names, instance, _: [
        (None, f"missing required field {name!r}") for name in names if name not in instance],
    "additionalProperties": _unknown_fields,
}
# At one place a wrong type hides the rest, as a wrong enum value hides a range.
_HIDES = {"type": {"enum", "minimum"}, "enum": {"minimum"}}


def _position(data: Any, path: Iterable[Any]) -> tuple[int, ...]:
    """Where ``path`` sits in the document's order (keys in the order they were written)."""
    out = []
    for part in path:
        if isinstance(data, dict):
            out.append(list(data).index(part))
        else:
            out.append(part)
        data = data[part]
    return tuple(out)


def check_schema(doc: Document) -> list[Problem]:
    """Every place where ``doc.data`` does not match the schema (empty when it does)."""
    errors = list(_validator().iter_errors(doc.data))
    failed = {(tuple(e.absolute_path), str(e.validator)) for e in errors}
    found: list[tuple[tuple[int, ...], Problem]] = []
    seen: set[tuple[Path, str, int]] = set()  # one error per missing field: words for all
    for e in errors:
        keyword, path = str(e.validator), tuple(e.absolute_path)
        once = (path, keyword, id(e.schema))
        if once in seen or any((path, k) in failed for k, hidden in _HIDES.items()
                               if keyword in hidden):
            continue
        seen.add(once)
        words = _WORDS.get(keyword)
        said = words(e.validator_value, e.instance, e.schema) if words else [(None, e.message)]
        for key, message in said:
            at = path if key is None else path + (key,)
            place = path if key is None else path + (str(key),)
            found.append((_position(doc.data, at), doc.problem(place, message)))
    found.sort(key=lambda item: item[0])
    return [problem for _, problem in found]
