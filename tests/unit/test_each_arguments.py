"""A mapped task's children's arguments, from ``model.each.expand_spec``: the usual shape (each
``Each`` an argument of its own) takes a path of its own, and must give what the general one
gives, for every shape either path can meet."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from orchestrator import Each, Ref, TaskSpec
from orchestrator.model import each
from orchestrator.model.each import expand_spec

Pair = namedtuple("Pair", "left right")
PLAN = ["a", "b", "c"]
NOOP = "workers.agents:noop"


def children(spec: TaskSpec) -> list[tuple[Any, Any]]:
    return [(c.args, c.kwargs) for c in expand_spec(spec, lambda tid: PLAN, limit=100)]


@pytest.mark.parametrize(("args", "kwargs", "child_1"), [
    ((Each(Ref("plan")),), {}, (("b",), {})),
    ((1, Each(Ref("plan")), "x"), {"k": 2}, ((1, "b", "x"), {"k": 2})),
    ((), {"item": Each(Ref("plan"))}, ((), {"item": "b"})),
    ((Each(Ref("plan")),), {"z": Each([10, 20, 30])}, (("b",), {"z": 20})),
    ((Each(Ref("plan")), Ref("other")), {}, (("b", Ref("other")), {})),
    (([Each(Ref("plan")), 0],), {}, ((["b", 0],), {})),
    ((Pair(Each(Ref("plan")), 5),), {}, ((Pair("b", 5),), {})),
    ((Each(Ref("plan")), [1, 2]), {"d": {"n": 1}}, (("b", [1, 2]), {"d": {"n": 1}})),
])
def test_child_arguments_have_the_element_in_place_of_each_each(
        args: tuple[Any, ...], kwargs: dict[str, Any], child_1: tuple[Any, Any]) -> None:
    got = children(TaskSpec("work", NOOP, args=args, kwargs=kwargs))
    assert len(got) == 3 and got[1] == child_1
    assert all(type(a) is type(args) for a, _ in got)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1, Each(Ref("plan")), "x"), {"k": 2}),
    ((), {"item": Each(Ref("plan"))}),
    ((Each(Ref("plan")),), {"z": Each([10, 20, 30])}),
    ((Each(Each(Ref("plan"))), None), {}),
])
def test_the_top_level_path_agrees_with_the_general_one(args: tuple[Any, ...],
                                                        kwargs: dict[str, Any]) -> None:
    spec = TaskSpec("work", NOOP, args=args, kwargs=kwargs)
    eaches: list[Each] = []
    each._collect(spec.args, eaches)
    each._collect(spec.kwargs, eaches)
    sequences = {id(e): PLAN if isinstance(each._innermost(e).source, Ref)
                 else each._innermost(e).source for e in eaches}
    fast = each._top_level(spec, eaches, sequences)
    assert fast is not None  # these are the shapes it is for
    general = each._anywhere(spec, sequences)
    for i in range(3):
        assert repr(fast(i)) == repr(general(i))  # repr: an unchecked Each has no __eq__ peer


def test_other_shapes_take_the_general_path() -> None:
    for args in (([Each(Ref("plan"))],), (Each(Ref("plan")), [1]), (Pair(Each(PLAN), 1),)):
        spec = TaskSpec("work", NOOP, args=args)
        eaches: list[Each] = []
        each._collect(spec.args, eaches)
        assert each._top_level(spec, eaches, {id(e): PLAN for e in eaches}) is None


def test_children_do_not_share_a_mutable_argument() -> None:
    kids = expand_spec(TaskSpec("work", NOOP, args=(Each(Ref("plan")), [1]), kwargs={"k": 1}),
                       lambda tid: PLAN, limit=100)
    assert kids[0].args[1] == kids[1].args[1] and kids[0].args[1] is not kids[1].args[1]
    assert kids[0].kwargs is not kids[1].kwargs
