"""OrchestratorEngine: run many CPU-heavy Python callables in true parallel on local processes.

    from orchestrator import TaskSpec, Ref, execute_graph, OrchestrationPolicy, RetryPolicy

    tasks = [
        TaskSpec("a", "workers.agents:burn_cpu", args=(0.5,)),
        TaskSpec("b", "workers.agents:burn_cpu", args=(0.5,)),
        TaskSpec("sum", "workers.agents:add", args=(Ref("a"), Ref("b"))),
    ]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2, task_timeout=10))
    assert result.ok, result.failed

On a Dask cluster: ``execute_graph(tasks, policy, executor=DaskExecutor("tcp://host:8786"))``
(``pip install 'orchestrator-engine[dask]'``; ``DaskExecutor`` is imported on first use, so
the core never imports Dask).
"""

from typing import TYPE_CHECKING, Any

from workers.retry import RetryAfter

from .api import (
    execute_graph,
    execute_graph_async,
    execute_parallel,
    execute_parallel_async,
    iter_parallel,
)
from .clock import Clock, FakeClock, MonotonicClock
from .executors.base import Executor
from .executors.inline import InlineExecutor
from .executors.local.pool import LocalPool
from .executors.local.warm import shutdown_shared_pool
from .futures import (
    MemoryLimitExceeded,
    PoolFuture,
    ProcessPool,
    TaskKilled,
    TaskPicklingError,
    TaskTimeout,
    WorkerCrashed,
)
from .gating.gates import (
    AllSucceeded,
    GateVerdict,
    MaxFailureRate,
    MinSpeedup,
    WorkerGate,
    in_worker,
)
from .interrupts import RunTerminated
from .model.errors import (
    CycleError,
    DuplicateTaskError,
    EventLogError,
    GateRejected,
    GraphError,
    MissingDependencyError,
    OrchestratorError,
    PolicyError,
    PoolError,
    SpecError,
    TaskFailedError,
)
from .model.graph import TaskGraph
from .model.policy import OrchestrationPolicy, RetryPolicy
from .model.resources import RateLimit, ResourceUsage
from .model.results import OrchestrationResult, RunMetrics, TaskError, TaskResult, TaskStatus
from .model.spec import Each, Ref, TaskSpec
from .report import write_report
from .telemetry.costs import CostAdapter, CostModel, CpuTimeCost, ReportedCost, SumCost
from .telemetry.events import SCHEMA_VERSION, Event, EventType
from .telemetry.reader import RunSummary, metrics_from_events, read_events, summarize
from .telemetry.sinks import CallbackSink, JsonLinesSink, MemorySink, SinkError, SinkWarning
from .telemetry.trace import chrome_trace, write_chrome_trace

if TYPE_CHECKING:
    from .executors.dask import DaskExecutor as DaskExecutor

__version__ = "0.1.0"

__all__ = [
    "TaskSpec", "Ref", "Each", "TaskGraph", "RetryPolicy", "OrchestrationPolicy", "RateLimit",
    "RetryAfter", "ResourceUsage",
    "execute_graph", "execute_parallel", "iter_parallel", "execute_graph_async",
    "execute_parallel_async",
    "TaskResult", "TaskStatus", "TaskError", "OrchestrationResult", "RunMetrics",
    "Event", "EventType", "SCHEMA_VERSION",
    "MemorySink", "CallbackSink", "JsonLinesSink", "SinkError", "SinkWarning",
    "read_events", "metrics_from_events", "summarize", "RunSummary",
    "chrome_trace", "write_chrome_trace", "write_report",
    "CostModel", "CostAdapter", "CpuTimeCost", "ReportedCost", "SumCost",
    "GateVerdict", "WorkerGate", "in_worker", "AllSucceeded", "MaxFailureRate", "MinSpeedup",
    "Executor", "InlineExecutor", "LocalPool", "shutdown_shared_pool",
    "Clock", "MonotonicClock", "FakeClock",
    "OrchestratorError", "SpecError", "PolicyError", "GraphError", "DuplicateTaskError",
    "MissingDependencyError", "CycleError", "PoolError", "TaskFailedError", "GateRejected",
    "EventLogError",
    "RunTerminated",
    "ProcessPool", "PoolFuture", "TaskTimeout", "WorkerCrashed", "TaskKilled",
    "MemoryLimitExceeded", "TaskPicklingError",
]


def __getattr__(name: str) -> Any:
    # DaskExecutor loads Dask distributed (~1 s); only a program that uses it pays for that.
    if name == "DaskExecutor":
        try:
            from .executors.dask import DaskExecutor
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in ("distributed", "dask", "tornado"):
                raise
            raise ImportError(f"DaskExecutor needs Dask distributed, which is not installed "
                              f"({exc}): pip install 'orchestrator-engine[dask]'") from exc
        return DaskExecutor
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "DaskExecutor"])
