"""The workflow JSON Schema (package data) and the checker that applies it.

The schema is the one description of the format's shape: editors use it, and ``validate``
applies it here so shape errors carry their place. It checks structure, types, names and enums;
value ranges (``max_concurrency >= 1`` ...) are left to the library, which checks them when the
policy and the specs are built.

The checker implements the part of JSON Schema the file uses (``type``, ``properties``,
``additionalProperties: false``, ``required``, ``items``, ``minItems``, ``minimum``, ``enum``,
local ``$ref``) and refuses a schema that uses anything else, so the two cannot drift apart
silently.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from .documents import Document
from .problems import Path, Problem

__all__ = ["load_schema", "check_schema", "SCHEMA_FILE"]

SCHEMA_FILE = "workflow.schema.json"

_CHECKED = {"type", "properties", "additionalProperties", "required", "items", "minItems",
            "minimum", "enum", "$ref"}
_ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description", "default",
                "examples"}

_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,), "null": (type(None),),
}
_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
          "integer": "an integer", "number": "a number", "boolean": "true or false",
          "null": "null"}


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The schema shipped with the package (checked to use only keywords applied here)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    _check_keywords(schema, "#")
    return schema


def _check_keywords(node: Any, where: str) -> None:
    if not isinstance(node, dict):
        return
    unknown = set(node) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise RuntimeError(f"{SCHEMA_FILE} {where}: keywords {sorted(unknown)} are not applied "
                           f"by orchestrator.workflow.schema")
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            _check_keywords(sub, f"{where}/{key}/{name}")
    if "items" in node:
        _check_keywords(node["items"], f"{where}/items")


def check_schema(doc: Document) -> list[Problem]:
    """Every place where ``doc.data`` does not match the schema (empty when it does)."""
    schema = load_schema()
    problems: list[Problem] = []
    _check(doc.data, schema, (), schema, doc, problems)
    return problems


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise RuntimeError(f"{SCHEMA_FILE}: only local $ref are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def _type_ok(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, schema: Mapping[str, Any], path: Path, root: Mapping[str, Any],
           doc: Document, problems: list[Problem]) -> None:
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), path, root, doc, problems)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_type_ok(value, n) for n in names):
            wanted = " or ".join(_NAMES[n] for n in names)
            problems.append(doc.problem(path, f"expected {wanted}, got {_show(value)}"))
            return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        problems.append(doc.problem(path, f"must be one of {allowed}, got {_show(value)}"))
        return
    if "minimum" in schema and _type_ok(value, "number") and value < schema["minimum"]:
        problems.append(doc.problem(path, f"must be >= {schema['minimum']}, got {_show(value)}"))
    if isinstance(value, dict):
        _check_object(value, schema, path, root, doc, problems)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(doc.problem(path, f"needs at least {schema['minItems']} item(s)"))
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                _check(item, items, path + (index,), root, doc, problems)


def _check_object(value: dict[Any, Any], schema: Mapping[str, Any], path: Path,
                  root: Mapping[str, Any], doc: Document, problems: list[Problem]) -> None:
    props: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            problems.append(doc.problem(path, f"missing required field {name!r}"))
    for key, item in value.items():
        if key in props:
            _check(item, props[key], path + (key,), root, doc, problems)
        elif schema.get("additionalProperties", True) is False:
            hint = difflib.get_close_matches(str(key), list(props), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            known = ", ".join(props)
            problems.append(doc.problem(
                path + (str(key),), f"unknown field {key!r}{suggestion}; known fields: {known}"))
