"""TaskSpec and Ref: a bad field fails at construction, naming the field, the value, the task."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest

from orchestrator import CycleError, Ref, RetryPolicy, SpecError, TaskSpec
from orchestrator.model.spec import find_refs, substitute_refs
from tests.unit.harness import NOOP, exactly


def spec(**fields: Any) -> TaskSpec:
    fields.setdefault("fn", NOOP)
    return TaskSpec("job", **fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fn": 42}, "task 'job': fn must be callable or an import path, got 42"),
        ({"fn": "no_colon"},
         "task 'job': fn must be a callable or an import path 'pkg.module:function', "
         "got 'no_colon'"),
        ({"args": "ab"}, "task 'job': args must be a tuple or list, got 'ab'"),
        ({"args": 7}, "task 'job': args must be a tuple or list, got 7"),
        ({"args": {"x": 1}}, "task 'job': args must be a tuple or list, got {'x': 1}"),
        ({"args": {1}}, "task 'job': args must be a tuple or list, got {1}"),
        ({"kwargs": [("a", 1)]}, "task 'job': kwargs must be a mapping, got [('a', 1)]"),
        ({"kwargs": {1: "x"}}, "task 'job': kwargs keys must be strings, got 1"),
        ({"deps": "other"}, "task 'job': deps must be a list of task ids, got 'other'"),
        ({"deps": 3}, "task 'job': deps must be a list of task ids, got 3"),
        ({"deps": ("a", 5)}, "task 'job': every dependency must be a task id, got 5"),
        ({"deps": ("",)}, "task 'job': every dependency must be a task id, got ''"),
        ({"timeout": 0},
         "task 'job': timeout must be a number of seconds > 0 and <= 1e+09, or None, got 0"),
        ({"timeout": -1.5},
         "task 'job': timeout must be a number of seconds > 0 and <= 1e+09, or None, got -1.5"),
        ({"timeout": math.inf},
         "task 'job': timeout must be a number of seconds > 0 and <= 1e+09, or None, got inf"),
        ({"timeout": True},
         "task 'job': timeout must be a number of seconds > 0 and <= 1e+09, or None, got True"),
        ({"timeout": "5"},
         "task 'job': timeout must be a number of seconds > 0 and <= 1e+09, or None, got '5'"),
        ({"retry": 3}, "task 'job': retry must be a RetryPolicy or None, got 3"),
        ({"priority": 1.5},
         "task 'job': priority must be an integer between -2**63 and 2**63, got 1.5"),
        ({"priority": False},
         "task 'job': priority must be an integer between -2**63 and 2**63, got False"),
        ({"estimate": -0.1},
         "task 'job': estimate must be a number of seconds >= 0 and <= 1e+09, or None, got -0.1"),
        ({"estimate": math.nan},
         "task 'job': estimate must be a number of seconds >= 0 and <= 1e+09, or None, got nan"),
        ({"tags": ["x"]}, "task 'job': tags must be a mapping, got ['x']"),
        ({"max_memory_mb": 0}, "task 'job': max_memory_mb must be > 0 or None, got 0"),
        ({"max_memory_mb": math.nan}, "task 'job': max_memory_mb must be > 0 or None, got nan"),
        ({"max_memory_mb": "1"}, "task 'job': max_memory_mb must be > 0 or None, got '1'"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_a_bad_field_names_the_task_the_field_and_the_value(fields: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(SpecError, match=exactly(message)):
        spec(**fields)


@pytest.mark.parametrize("bad_id", ["", "   ", None, 7])
def test_a_bad_id_is_named_with_its_value(bad_id: Any) -> None:
    with pytest.raises(SpecError, match=exactly(f"TaskSpec.id must be a non-empty string, "
                                                f"got {bad_id!r}")):
        TaskSpec(bad_id, NOOP)


def test_spec_errors_are_value_errors_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError):
        spec(timeout=-1)


def test_a_bad_ref_is_rejected() -> None:
    with pytest.raises(SpecError, match=exactly("Ref.task_id must be a non-empty string, got ''")):
        Ref("")


@pytest.mark.parametrize("path", ["pkg:func", "pkg.mod:func", "_p.m2:Cls.method", "a.b.c:d.e"])
def test_import_paths_of_the_entry_point_form_are_accepted(path: str) -> None:
    assert spec(fn=path).fn == path


@pytest.mark.parametrize("path", [
    "pkg.mod", "pkg.mod:", ":func", "pkg..mod:f", "pkg.mod:f()", "1pkg:f", "pkg mod:f",
    "pkg.mod:f:g", "pkg.mod:f.", "",
])
def test_import_paths_not_of_that_form_are_rejected(path: str) -> None:
    with pytest.raises(SpecError, match=exactly(
            f"task 'job': fn must be a callable or an import path 'pkg.module:function', "
            f"got {path!r}")):
        spec(fn=path)


def test_refs_nested_in_lists_tuples_sets_and_dict_values_imply_dependencies() -> None:
    s = spec(args=([1, Ref("a")], (Ref("b"),)),
             kwargs={"cfg": {"inner": [{"deep": Ref("c")}]}, "pool": {Ref("d")}})
    assert set(s.all_deps) == {"a", "b", "c", "d"}
    assert s.deps == ()  # the explicit field is left as given
    assert s.has_refs


def test_all_deps_lists_explicit_deps_then_refs_in_order_without_repeats() -> None:
    s = spec(deps=("z",), args=(Ref("a"), Ref("b"), [Ref("c"), Ref("b")]), kwargs={"k": Ref("z")})
    assert s.all_deps == ("z", "a", "b", "c")


def test_a_ref_in_a_dict_key_is_not_a_dependency() -> None:
    # Only values are searched (and substituted): a key is part of the structure, not data.
    s = spec(kwargs={"m": {Ref("a"): 1}})
    assert s.all_deps == ()


def test_substitute_refs_keeps_container_types_and_namedtuples() -> None:
    from collections import namedtuple

    Pair = namedtuple("Pair", "x y")
    values = {"a": 1, "b": 2}
    out = substitute_refs(
        (Ref("a"), [Ref("b")], {"k": Ref("a")}, Pair(Ref("a"), 9), frozenset({Ref("b")})),
        values.__getitem__)
    assert out == (1, [2], {"k": 1}, Pair(1, 9), frozenset({2}))
    assert type(out[3]) is Pair


def test_find_refs_sees_nothing_in_plain_data() -> None:
    assert find_refs(([1, "a"], {"x": (2.0, None)}, "Ref('a')")) == []


def test_lists_are_stored_as_tuples_and_mappings_copied() -> None:
    kwargs = {"x": 1}
    s = spec(args=[1, 2], kwargs=kwargs, deps=["a"])
    kwargs["x"] = 2
    assert s.args == (1, 2) and s.deps == ("a",) and s.kwargs == {"x": 1}


def test_a_spec_is_frozen_and_survives_pickling() -> None:
    s = spec(args=(Ref("a"),), retry=RetryPolicy(max_attempts=2), priority=3, estimate=1.5,
             tags={"team": "x"})
    with pytest.raises(AttributeError):
        s.priority = 4  # type: ignore[misc]
    back = pickle.loads(pickle.dumps(s))
    assert back.all_deps == ("a",) and back.retry == RetryPolicy(max_attempts=2)
    assert back.tags == {"team": "x"} and back.estimate == 1.5


def test_fn_name_names_callables_by_module_and_qualname() -> None:
    assert spec(fn=math.sqrt).fn_name == "math:sqrt"
    assert spec(fn="pkg.mod:f").fn_name == "pkg.mod:f"


@pytest.mark.parametrize("fields", [{"deps": ("job",)}, {"args": (Ref("job"),)}],
                         ids=["deps", "ref"])
def test_a_task_that_depends_on_itself_is_the_shortest_cycle(fields: dict[str, Any]) -> None:
    # graphlib calls {1: {1}} a cycle; so does the library, with the path job -> job.
    with pytest.raises(CycleError, match=exactly("dependency cycle: job -> job")) as info:
        spec(**fields)
    assert info.value.cycle == ("job", "job")


@pytest.mark.parametrize("fields", [
    {"timeout": 10**400}, {"estimate": 10**400}, {"timeout": 1e10}, {"priority": 10**400},
    {"priority": -(2**64)}, {"max_memory_mb": 10**400}],
    ids=["timeout", "estimate", "timeout-1e10", "priority", "priority-neg", "memory"])
def test_a_huge_number_is_a_spec_error_not_an_overflow(fields: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match=f"task 'job': {next(iter(fields))} must be"):
        spec(**fields)
