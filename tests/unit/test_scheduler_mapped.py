"""Mapped tasks (``Each``): expansion, the values downstream, every failure rule, nesting, the
policies children inherit. ScriptedExecutor + FakeClock: the test decides every outcome."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import Each, OrchestrationPolicy, Ref, RetryPolicy, TaskError, TaskSpec
from orchestrator.model.errors import SpecError
from tests.unit.harness import NOOP, Harness, t


def mapped(task_id: str, source: Any, *more: Any, **fields: Any) -> TaskSpec:
    return TaskSpec(task_id, NOOP, args=(Each(source), *more), **fields)


def pipeline(**fields: Any) -> list[TaskSpec]:
    """plan -> research[i] -> merge(list of research values)."""
    return [t("plan"), mapped("research", Ref("plan"), **fields),
            TaskSpec("merge", NOOP, args=(Ref("research"),))]


def kids(n: int, name: str = "research") -> list[str]:
    return [f"{name}[{i}]" for i in range(n)]


def test_six_children_run_at_once_and_the_merger_gets_their_values_in_index_order() -> None:
    h = Harness(pipeline(), workers=6)
    h.finish("plan", value=[f"s{i}" for i in range(6)])
    assert h.running == kids(6)
    assert [h.ex.attempt_of(k).args for k in kids(6)] == [(f"s{i}",) for i in range(6)]
    for i in (5, 2, 0, 4, 1, 3):  # completion order differs from index order
        h.finish(f"research[{i}]", value=i * 10)
    assert h.ex.attempt_of("merge").args == ([0, 10, 20, 30, 40, 50],)
    h.finish("merge")
    res = h.result()
    assert res.ok
    group = res["research"]
    assert group.mapped and group.value == [0, 10, 20, 30, 40, 50]
    assert [c.id for c in group.children or ()] == kids(6)
    assert res["research[3]"].value == 30 and res["research[3]"].attempts == 1
    assert list(res.tasks) == ["plan", *kids(6), "research", "merge"]
    expanded = [e for e in h.sink.events if e.type == "task.expanded"]
    assert len(expanded) == 1 and expanded[0].task_id == "research"
    assert expanded[0].data == {"n": 6, "children": kids(6)}
    # Announced before any child: a log reader learns the new tasks before their events.
    types = h.types()
    assert types.index("task.expanded") < min(i for i, e in enumerate(h.sink.events)
                                              if e.task_id == "research[0]")
    assert h.types("research") == ["task.expanded", "task.succeeded"]


def test_an_empty_plan_gives_the_merger_an_empty_list_and_nothing_is_skipped() -> None:
    h = Harness(pipeline(), workers=2)
    h.finish("plan", value=[])
    assert h.running == ["merge"]
    assert h.ex.attempt_of("merge").args == ([],)
    h.finish("merge", value="none")
    res = h.result()
    assert res.ok and res["research"].value == [] and res["research"].children == ()
    assert [e.data for e in h.sink.events if e.type == "task.expanded"] == [
        {"n": 0, "children": []}]


def test_two_empty_mapped_tasks_in_a_row_succeed() -> None:
    h = Harness([t("plan"), mapped("a", Ref("plan")), mapped("b", Ref("a")),
                 TaskSpec("end", NOOP, args=(Ref("b"),))], workers=2)
    h.finish("plan", value=())
    assert h.ex.attempt_of("end").args == ([],)
    h.finish("end")
    assert h.result().ok


def test_under_skip_one_failed_child_skips_the_merger_and_the_reason_names_it() -> None:
    h = Harness(pipeline(), workers=6, on_failure="skip")
    h.finish("plan", value=list(range(6)))
    for i in (0, 1, 2, 4, 5):
        h.finish(f"research[{i}]", value=i)
    h.fail("research[3]", ValueError("no sources for subject 3"))
    res = h.result()
    assert res["research"].status.value == "failed"
    assert res["research"].value == [0, 1, 2, res["research[3]"].error, 4, 5]
    group_error = res["research"].error
    assert group_error is not None and group_error.kind == "mapped"
    assert group_error.message == (
        "1 of 6 children of mapped task 'research' did not succeed: research[3] failed "
        "(ValueError: no sources for subject 3)")
    merge = res["merge"]
    assert merge.status.value == "skipped" and merge.error is not None
    assert merge.error.message == (
        "task 'merge' skipped: upstream task 'research' failed (" + group_error.message + ")")
    assert [r.status.value for r in res if r.id.startswith("research[")] == [
        "succeeded"] * 3 + ["failed"] + ["succeeded"] * 2


def test_under_continue_the_merger_gets_five_values_and_the_error_in_place() -> None:
    h = Harness(pipeline(), workers=6, on_failure="continue")
    h.finish("plan", value=list(range(6)))
    h.fail("research[3]", ValueError("no sources"))
    for i in (0, 1, 2, 4, 5):
        h.finish(f"research[{i}]", value=i)
    (got,) = h.ex.attempt_of("merge").args
    assert got[:3] == [0, 1, 2] and got[4:] == [4, 5]
    assert isinstance(got[3], TaskError) and got[3].type == "ValueError"
    assert got[3].message == "no sources"
    h.finish("merge")
    res = h.result()
    assert res["merge"].ok and res["research"].status.value == "failed"


@pytest.mark.parametrize("value, kind", [({"a": 1}, "dict"), ("abc", "str"), (7, "int"),
                                         (None, "NoneType")])
def test_a_plan_that_is_not_a_list_or_tuple_fails_the_mapped_task_naming_the_type(
        value: Any, kind: str) -> None:
    h = Harness(pipeline(), workers=2)
    h.finish("plan", value=value)
    assert h.done and h.ex.running() == []
    res = h.result()
    error = res["research"].error
    assert res["research"].status.value == "failed" and error is not None
    assert error.kind == "expansion" and error.type == "ExpansionError"
    hint = "; a string is not mapped over its characters (return a list)" if kind == "str" else ""
    assert error.message == (f"task 'research' is mapped over the result of task 'plan', "
                             f"which is a {kind}, not a list or tuple{hint}")
    assert res["research"].children is None
    assert res["merge"].status.value == "skipped"
    assert res["merge"].error is not None and error.message in res["merge"].error.message


def test_nested_expansion_of_three_by_four_gives_twelve_grandchildren() -> None:
    tasks = [t("plan"), mapped("research", Ref("plan")),
             TaskSpec("critique", NOOP, args=(Each(Each(Ref("research"))), "strict")),
             TaskSpec("summary", NOOP, args=(Ref("critique"),))]
    h = Harness(tasks, workers=4)
    h.finish("plan", value=["x", "y", "z"])
    for i, subject in enumerate("xyz"):
        h.finish(f"research[{i}]", value=[f"{subject}{j}" for j in range(4)])
    grandchildren = [f"critique[{i}][{j}]" for i in range(3) for j in range(4)]
    while h.running and h.running != ["summary"]:
        tid = h.running[0]
        h.finish(tid, value=h.ex.attempt_of(tid).args[0].upper())
    assert h.ex.attempt_of("summary").args == ([[f"{s}{j}" for j in range(4)] for s in "XYZ"],)
    h.finish("summary")
    res = h.result()
    assert res.ok
    assert [r.id for r in res if r.id.startswith("critique[") and r.id.count("[") == 2] == \
        grandchildren
    assert res["critique[2][1]"].value == "Z1"
    assert res["critique[1]"].value == ["Y0", "Y1", "Y2", "Y3"]
    assert res["critique"].value == [[f"{s.upper()}{j}" for j in range(4)] for s in "XYZ"]
    assert h.sched._records["critique[0][2]"].spec.args == ("x2", "strict")
    assert h.types("critique[1]") == ["task.expanded", "task.succeeded"]


def test_two_eaches_zip_and_different_lengths_are_an_error() -> None:
    tasks = [t("a"), t("b"), TaskSpec("pair", NOOP, args=(Each(Ref("a")),),
                                      kwargs={"other": Each(Ref("b"))})]
    h = Harness(tasks, workers=2)
    h.finish("a", value=[1, 2])
    h.finish("b", value=["x", "y"])
    assert [(h.ex.attempt_of(k).args, h.ex.attempt_of(k).kwargs) for k in kids(2, "pair")] == [
        ((1,), {"other": "x"}), ((2,), {"other": "y"})]
    h2 = Harness(tasks, workers=2)
    h2.finish("a", value=[1, 2])
    h2.finish("b", value=["x"])
    error = h2.result()["pair"].error
    assert error is not None and error.message == (
        "task 'pair': its zipped Each()s have different lengths (the result of task 'a' has 2, "
        "the result of task 'b' has 1)")


def test_more_elements_than_max_expansion_fails_and_starts_none() -> None:
    h = Harness(pipeline(), workers=2, max_expansion=3)
    h.finish("plan", value=[1, 2, 3, 4])
    res = h.result()
    assert h.ex.started == ["plan"]
    error = res["research"].error
    assert error is not None and error.message == (
        "task 'research': the result of task 'plan' has 4 elements, more than "
        "max_expansion=3; no child was started")
    with pytest.raises(Exception, match="max_expansion must be an integer >= 0"):
        OrchestrationPolicy(max_expansion=-1)


def test_a_literal_sequence_fans_out_from_the_start() -> None:
    h = Harness([mapped("sq", [1, 2, 3])], workers=3)
    assert h.running == kids(3, "sq")
    for i in range(3):
        h.finish(f"sq[{i}]", value=(i + 1) ** 2)
    assert h.result()["sq"].value == [1, 4, 9]


def test_children_inherit_timeout_retry_priority_estimate_and_tags() -> None:
    retry = RetryPolicy(max_attempts=3, base_delay=0)
    h = Harness(pipeline(timeout=5.0, retry=retry, priority=7, estimate=2.5,
                         tags={"stage": "research"}), workers=2)
    h.finish("plan", value=["a", "b"])
    child = h.sched._records["research[1]"].spec
    assert (child.timeout, child.retry, child.priority, child.estimate, dict(child.tags)) == (
        5.0, retry, 7, 2.5, {"stage": "research"})
    assert child.all_deps == ("plan",)
    assert h.result is not None and h.ex.attempt_of("research[0]").timeout == 5.0


def test_retries_and_timeouts_apply_to_children() -> None:
    h = Harness(pipeline(timeout=5.0, retry=RetryPolicy(max_attempts=2, base_delay=1.0,
                                                        jitter=0)), workers=2, kill_grace=0)
    h.finish("plan", value=["a", "b"])
    h.fail("research[0]", "flaky")
    assert h.state("research[0]").value == "retry_wait"
    h.advance(1.0)
    assert h.ex.attempt_of("research[0]").attempt == 2
    h.advance(5.0)  # research[1] passes its 5 s (a retry waits); research[0]'s 2nd attempt too
    assert h.state("research[1]").value == "retry_wait" and h.done is False
    h.advance(1.0)
    h.advance(5.0)
    res = h.result()
    assert [res[k].status.value for k in kids(2)] == ["timed_out", "timed_out"]
    assert res["research[0]"].attempts == 2 and res["research[1]"].attempts == 2
    assert [k for k, _ in h.ex.kills] == ["research[1]", "research[0]", "research[1]"]
    assert res["research"].status.value == "failed"
    assert res["merge"].status.value == "skipped"


def test_a_failed_child_cascades_and_the_mapped_task_still_ends_once() -> None:
    h = Harness(pipeline(), workers=2, cancellation="cascading", kill_grace=0)
    h.finish("plan", value=list(range(4)))
    h.fail("research[1]", "boom")
    assert h.done and ("research[0]", True) in h.ex.kills
    res = h.result()
    assert {r.id: r.status.value for r in res} == {
        "plan": "succeeded", "research[0]": "cancelled", "research[1]": "failed",
        "research[2]": "cancelled", "research[3]": "cancelled", "research": "failed",
        "merge": "cancelled"}
    terminal = [e.task_id for e in h.sink.events if e.type.startswith("task.")
                and e.type.split(".")[1] in ("succeeded", "failed", "cancelled", "skipped",
                                              "timed_out")]
    assert sorted(terminal) == sorted(res.tasks)


def test_the_global_timeout_ends_running_children_timed_out_and_the_rest_cancelled() -> None:
    h = Harness(pipeline(), workers=2, global_timeout=10.0, kill_grace=0)
    h.finish("plan", value=list(range(3)))
    h.advance(10.0)
    res = h.result()
    assert [res[k].status.value for k in kids(3)] == ["timed_out", "timed_out", "cancelled"]
    assert res["research"].status.value == "failed"
    assert res["merge"].status.value == "cancelled"


def test_an_interrupt_cancels_children_and_the_mapped_task() -> None:
    h = Harness(pipeline(), workers=2, kill_grace=0)
    h.finish("plan", value=list(range(3)))
    h.sched.abort()
    res = h.result()
    assert res["research"].status.value == "cancelled"
    assert {res[k].status.value for k in kids(3)} == {"cancelled"}


def test_a_2000_way_expansion_completes() -> None:
    h = Harness(pipeline(), workers=8)
    h.finish("plan", value=list(range(2000)))
    while h.running:
        for tid in h.running:
            h.ex.finish(tid, value=h.ex.attempt_of(tid).args[0])
        h.step()
    res = h.result()
    assert res.ok and res["research"].value == list(range(2000))
    assert res["merge"].value == list(range(2000))
    assert len(res) == 2003


def test_ranks_use_the_mapped_tasks_estimate_then_each_childs() -> None:
    tasks = [t("plan", estimate=1.0), mapped("research", Ref("plan"), estimate=4.0),
             TaskSpec("merge", NOOP, args=(Ref("research"),), estimate=2.0),
             t("side", estimate=5.0)]
    h = Harness(tasks, workers=1)
    records = h.sched._records
    assert (records["plan"].rank, records["research"].rank) == (7.0, 6.0)
    h.finish("plan", value=[1])
    assert records["research[0]"].rank == 6.0  # its estimate + merge's rank
    assert h.running == ["research[0]"]  # its path (6) is longer than side's (5)


def test_each_is_checked_before_the_run() -> None:
    with pytest.raises(SpecError, match=r"^Each\(\) takes a Ref, another Each, a list or a "
                                        r"tuple, got dict \{'a': 1\}$"):
        Each({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"nest to different depths \[1, 2\]"):
        TaskSpec("x", NOOP, args=(Each(Ref("a")), Each(Each(Ref("b")))))
    assert TaskSpec("x", NOOP, args=([Each(Ref("a"))],)).all_deps == ("a",)
    assert TaskSpec("x", NOOP, kwargs={"k": Each(Ref("a"))}).mapped


def test_an_id_a_child_will_take_is_refused_before_the_run() -> None:
    from orchestrator import TaskGraph
    from orchestrator.model.errors import DuplicateTaskError

    with pytest.raises(DuplicateTaskError, match=r"^task id 'research\[0\]' is taken by a child "
                                                 r"of mapped task 'research'$"):
        TaskGraph(pipeline() + [t("research[0]")])
    assert len(TaskGraph(pipeline() + [t("research[x]"), t("other[0]")])) == 5


def test_add_tasks_admits_new_tasks_into_a_running_graph() -> None:
    h = Harness([t("a"), t("b")], workers=2)
    h.finish("a", value=1)
    added = h.sched.add_tasks([TaskSpec("c", NOOP, args=(Ref("a"),)),
                               TaskSpec("d", NOOP, args=(Ref("c"), Ref("b")))])
    h.step()
    assert [r.id for r in added] == ["c", "d"] and sorted(h.running) == ["b", "c"]
    assert h.ex.attempt_of("c").args == (1,)
    h.finish("c", value=2)
    h.fail("b")
    res = h.result()
    assert res["d"].status.value == "skipped" and res["d"].error is not None
    assert res["d"].error.message == "task 'd' skipped: upstream task 'b' failed"
    from orchestrator.model.errors import MissingDependencyError
    h2 = Harness([t("a")], workers=1)
    with pytest.raises(MissingDependencyError):
        h2.sched.add_tasks([t("x", "nope")])
    assert "x" not in h2.sched._records
