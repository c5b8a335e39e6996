"""The workflow format stays in step with the library and with its documentation.

The schema names fields and enums the library defines; these tests fail when one side changes
without the other (a new policy field, a new backoff kind, an undocumented field).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, get_args

from orchestrator import OrchestrationPolicy, RetryPolicy, TaskSpec
from orchestrator.model.policy import Backoff, Cancellation, OnFailure
from orchestrator.workflow import load_schema

from .helpers import REPO

# Fields of the library's classes the file does not take (and why).
NOT_IN_FILE: dict[type, set[str]] = {
    TaskSpec: {"_refs"},  # internal
}
# Fields of the file that are not the library's (workflow conveniences; the policy section's
# cluster picks the executor).
FILE_ONLY = {"retries"}
POLICY_FILE_ONLY = {"cluster"}


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init} - NOT_IN_FILE.get(cls, set())


def _defs() -> dict[str, Any]:
    defs: dict[str, Any] = load_schema()["$defs"]
    return defs


def test_schema_fields_are_the_library_fields() -> None:
    assert set(_defs()["policy"]["properties"]) - POLICY_FILE_ONLY == _fields(OrchestrationPolicy)
    assert set(_defs()["retry"]["properties"]) == _fields(RetryPolicy)
    assert set(_defs()["task"]["properties"]) - FILE_ONLY == _fields(TaskSpec)


def test_schema_enums_are_the_library_literals() -> None:
    assert _defs()["retry"]["properties"]["backoff"]["enum"] == list(get_args(Backoff))
    policy = _defs()["policy"]["properties"]
    assert policy["cancellation"]["enum"] == list(get_args(Cancellation))
    assert policy["on_failure"]["enum"] == list(get_args(OnFailure))


def test_docs_describe_every_field() -> None:
    doc = (REPO / "docs" / "workflow.md").read_text(encoding="utf-8")
    schema = load_schema()
    names = set(schema["properties"])
    for name in ("policy", "retry", "task"):
        names |= set(schema["$defs"][name]["properties"])
    undocumented = sorted(n for n in names if not re.search(rf"`{re.escape(n)}`", doc))
    assert undocumented == []


def test_schema_ships_with_the_package() -> None:
    import orchestrator.workflow as pkg

    assert (Path(pkg.__file__).parent / "workflow.schema.json").is_file()
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"workflow/*.json"' in pyproject


def test_every_keyword_the_schema_checks_has_its_words() -> None:
    from orchestrator.workflow.schema import _WORDS

    annotations = {"$schema", "$id", "$defs", "$ref", "title", "description", "properties",
                   "items", "patternProperties"}
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            used.update(k for k in node if k not in annotations)
            for key in ("properties", "$defs", "patternProperties"):
                for sub in node.get(key, {}).values():
                    walk(sub)
            walk(node.get("items"))

    walk(load_schema())
    assert used - set(_WORDS) == set()
