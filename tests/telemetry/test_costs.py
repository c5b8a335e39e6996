"""Cost adapters: priced CPU, summed reports, composition, validation, wiring into metrics."""

from __future__ import annotations

import math

import pytest

from orchestrator import (
    CpuTimeCost,
    InlineExecutor,
    MemorySink,
    OrchestrationPolicy,
    PolicyError,
    ReportedCost,
    SumCost,
    TaskResult,
    TaskSpec,
    TaskStatus,
    execute_parallel,
)
from orchestrator.telemetry.costs import as_cost_model

from .scenarios import SCENARIOS


def r(tid, cpu=None, **reports):
    return TaskResult(tid, TaskStatus.SUCCEEDED, cpu_time=cpu, reports=reports)


RESULTS = [r("a", 1800.0, cost=0.5, tokens=100), r("b", 900.0, cost=0.25),
           r("c", None, tokens=20), r("d", 0.0)]


def test_cpu_time_cost_prices_cpu_hours():
    assert CpuTimeCost(per_cpu_hour=2.0).estimate(RESULTS) == 1.5  # 0.75 h x 2
    assert CpuTimeCost(per_cpu_hour=0).estimate(RESULTS) == 0.0


def test_reported_cost_sums_a_key_with_a_scale():
    assert ReportedCost().estimate(RESULTS) == 0.75
    assert ReportedCost("tokens", scale=0.01).estimate(RESULTS) == pytest.approx(1.2)
    assert ReportedCost("missing").estimate(RESULTS) is None  # nobody reported it: unknown


def test_a_value_that_is_not_a_number_is_left_out_with_a_warning():
    with pytest.warns(RuntimeWarning, match=r"^task 'x' reported cost='free', which is not a "
                                            r"number; ReportedCost left it out$"):
        assert ReportedCost().estimate([r("x", cost="free"), r("y", cost=2)]) == 2.0


def test_adapters_compose_with_plus_and_with_functions():
    combined = CpuTimeCost(per_cpu_hour=2.0) + ReportedCost() + (lambda rs: len(rs))
    assert isinstance(combined, SumCost)
    assert combined.estimate(RESULTS) == 1.5 + 0.75 + 4
    assert "CpuTimeCost(per_cpu_hour=2.0)" in repr(combined)


def test_sums_do_not_depend_on_order():
    many = [r(f"t{i}", 0.1 * (i % 7) + 1e-9 * i) for i in range(1000)]
    cost = CpuTimeCost(per_cpu_hour=3600.0)
    assert cost.estimate(many) == cost.estimate(list(reversed(many)))
    assert cost.estimate(many) == math.fsum(x.cpu_time for x in many)


@pytest.mark.parametrize("make, message", [
    (lambda: CpuTimeCost(per_cpu_hour=-1), r"^CpuTimeCost.per_cpu_hour must be a finite "
                                           r"number >= 0, got -1$"),
    (lambda: CpuTimeCost(per_cpu_hour=float("nan")), r"got nan$"),
    (lambda: ReportedCost(""), r"^ReportedCost.key must be a non-empty string, got ''$"),
    (lambda: ReportedCost(scale="x"), r"^ReportedCost.scale must be a finite number, got 'x'$"),
    (lambda: as_cost_model(3), r"^cost must be a cost adapter .* got 3$"),
])
def test_bad_settings_are_named(make, message):
    with pytest.raises(PolicyError, match=message):
        make()


def test_cost_reaches_result_metrics_and_run_finished():
    from workers import current_task

    def agent(tokens):
        current_task().report(cost=tokens * 0.001, tokens=tokens)
        return tokens

    sink = MemorySink()
    tasks = [TaskSpec(f"t{n}", agent, args=(n,)) for n in (100, 250, 650)]
    result = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1), on_event=sink,
                              executor=InlineExecutor(), cost=ReportedCost())
    assert result.metrics.cost_estimate == pytest.approx(1.0)
    [finished] = sink.of_type("run.finished")
    assert finished.data["cost_estimate"] == result.metrics.cost_estimate
    plain = execute_parallel(tasks, OrchestrationPolicy(max_concurrency=1),
                             executor=InlineExecutor())
    assert plain.metrics.cost_estimate is None


def test_the_scripted_scenario_prices_cpu_and_reports():
    result, events = SCENARIOS["retries_timeouts_and_skips"]()
    # cpu 0.375 s at 36/h = 0.00375, reports 0.25 + 0.5
    assert result.metrics.cost_estimate == pytest.approx(0.75375)
    assert events[-1].data["cost_estimate"] == result.metrics.cost_estimate
