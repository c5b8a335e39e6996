"""TaskGraph: validation errors that name the place, topological order, ranks, critical path."""

from __future__ import annotations

import pytest

from orchestrator import (
    CycleError,
    DuplicateTaskError,
    GraphError,
    MissingDependencyError,
    OrchestratorError,
    Ref,
    SpecError,
    TaskGraph,
    TaskSpec,
)
from orchestrator.model.graph import resolve_estimates
from tests.unit.harness import NOOP, exactly, t

# -- validation --------------------------------------------------------------------------------


def test_a_duplicate_id_is_named() -> None:
    with pytest.raises(DuplicateTaskError, match=exactly("duplicate task id 'a'")) as info:
        TaskGraph([t("a"), t("b"), t("a")])
    assert info.value.task_id == "a"


def test_a_missing_dependency_names_the_task_and_the_missing_id() -> None:
    with pytest.raises(MissingDependencyError,
                       match=exactly("task 'b' depends on 'x', which is not defined")) as info:
        TaskGraph([t("a"), t("b", "a", "x")])
    assert (info.value.task_id, info.value.missing) == ("b", "x")


def test_a_ref_to_an_undefined_task_is_a_missing_dependency() -> None:
    with pytest.raises(MissingDependencyError,
                       match=exactly("task 'b' depends on 'ghost', which is not defined")):
        TaskGraph([t("a"), TaskSpec("b", NOOP, kwargs={"x": [Ref("ghost")]})])


def test_a_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(CycleError, match=exactly("dependency cycle: a -> b -> c -> a")) as info:
        TaskGraph([t("a", "b"), t("b", "c"), t("c", "a")])
    assert info.value.cycle == ("a", "b", "c", "a")


def test_the_reported_cycle_leaves_out_tasks_that_only_lead_into_it() -> None:
    # "entry" depends on the cycle and comes first, so the search starts there.
    tasks = [t("entry", "b"), t("ok"), t("b", "c"), t("c", "d", "ok"), t("d", "b")]
    with pytest.raises(CycleError, match=exactly("dependency cycle: b -> c -> d -> b")) as info:
        TaskGraph(tasks)
    assert info.value.cycle == ("b", "c", "d", "b")


def test_a_two_task_cycle_through_a_ref() -> None:
    with pytest.raises(CycleError, match=exactly("dependency cycle: a -> b -> a")):
        TaskGraph([TaskSpec("a", NOOP, args=(Ref("b"),)), t("b", "a")])


def test_a_task_cannot_depend_on_itself() -> None:
    # Caught by the spec already (as the cycle a -> a), so a graph never sees a one-task cycle.
    with pytest.raises(CycleError, match=exactly("dependency cycle: a -> a")):
        TaskGraph([t("a", "a")])


def test_graph_errors_share_one_base_and_exit_code_two() -> None:
    for cls in (DuplicateTaskError, MissingDependencyError, CycleError):
        assert issubclass(cls, GraphError) and issubclass(cls, OrchestratorError)
        assert cls.exit_code == 2


def test_only_task_specs_are_accepted() -> None:
    with pytest.raises(SpecError, match=exactly("expected a TaskSpec, got 'a'")):
        TaskGraph(["a"])  # type: ignore[list-item]


# -- structure and order ---------------------------------------------------------------------------


def test_topological_order_breaks_ties_in_submission_order() -> None:
    g = TaskGraph([t("c"), t("a", "c"), t("b"), t("d", "b"), t("e", "d", "a")])
    assert g.topological_order() == ["c", "a", "b", "d", "e"]
    assert [s.id for s in g] == ["c", "a", "b", "d", "e"]


def test_every_task_comes_after_its_dependencies_even_when_submitted_first() -> None:
    g = TaskGraph([t("z", "y", "x"), t("y", "x"), t("x")])
    assert g.topological_order() == ["x", "y", "z"]


def test_structure_accessors() -> None:
    g = TaskGraph([t("a"), t("b", "a"), TaskSpec("c", NOOP, args=(Ref("b"),), deps=("a",))])
    assert len(g) == 3 and "b" in g and "q" not in g
    assert g["c"].id == "c"
    assert list(g.specs) == ["a", "b", "c"]
    assert g.deps("c") == ("a", "b")
    assert g.dependents("a") == ("b", "c")
    assert g.descendants("a") == {"b", "c"}
    assert g.descendants("c") == set()


# -- ranks and critical path ----------------------------------------------------------------------


def diamond(**estimates: float | None) -> TaskGraph:
    return TaskGraph([t("a", estimate=estimates.get("a")), t("b", "a", estimate=estimates.get("b")),
                      t("c", "a", estimate=estimates.get("c")),
                      t("d", "b", "c", estimate=estimates.get("d"))])


def test_rank_is_the_longest_estimated_path_to_a_sink_including_the_task() -> None:
    g = diamond(a=1.0, b=2.0, c=5.0, d=1.0)
    assert dict(g.ranks()) == {"a": 7.0, "b": 3.0, "c": 6.0, "d": 1.0}


def test_a_missing_estimate_counts_as_the_mean_of_the_given_ones() -> None:
    g = diamond(b=2.0, c=4.0)  # a and d count as 3.0
    assert dict(g.ranks()) == {"a": 10.0, "b": 5.0, "c": 7.0, "d": 3.0}


def test_without_any_estimate_every_task_counts_as_one() -> None:
    assert dict(diamond().ranks()) == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}


def test_a_zero_estimate_is_an_estimate() -> None:
    specs = [t("a", estimate=0.0), t("b", estimate=4.0), t("c")]
    assert resolve_estimates(specs) == {"a": 0.0, "b": 4.0, "c": 2.0}


def test_critical_path_follows_estimates_or_given_durations() -> None:
    g = diamond(a=1.0, b=2.0, c=5.0, d=1.0)
    assert g.critical_path() == ["a", "c", "d"]
    assert g.critical_path({"a": 1.0, "b": 10.0, "c": 1.0, "d": 1.0}) == ["a", "b", "d"]


def test_critical_path_of_unconnected_tasks_is_the_longest_one() -> None:
    g = TaskGraph([t("x", estimate=1.0), t("y", estimate=3.0), t("z", estimate=2.0)])
    assert g.critical_path() == ["y"]
    assert TaskGraph([]).critical_path() == []


# -- scale: nothing recursive -------------------------------------------------------------------

CHAIN = 100_000


@pytest.fixture(scope="module")
def chain_specs() -> list[TaskSpec]:
    return [t(f"n{i}", *((f"n{i - 1}",) if i else ())) for i in range(CHAIN)]


def test_a_100k_task_chain_builds_orders_and_ranks_without_recursion(
        chain_specs: list[TaskSpec]) -> None:
    g = TaskGraph(chain_specs)
    order = g.topological_order()
    assert order[0] == "n0" and order[-1] == f"n{CHAIN - 1}"
    assert g.ranks()["n0"] == CHAIN
    path = g.critical_path()
    assert len(path) == CHAIN and path[0] == "n0"


def test_a_100k_task_cycle_is_found_without_recursion(chain_specs: list[TaskSpec]) -> None:
    closed = [t("n0", f"n{CHAIN - 1}")] + chain_specs[1:]
    with pytest.raises(CycleError) as info:
        TaskGraph(closed)
    cycle = info.value.cycle
    assert len(cycle) == CHAIN + 1 and cycle[0] == cycle[-1] == "n0"
    assert cycle[1] == f"n{CHAIN - 1}" and cycle[-2] == "n1"
