"""OrchestratorEngine: run many CPU-heavy Python callables in true parallel on local processes.

    from orchestrator import TaskSpec, Ref, execute_graph, OrchestrationPolicy, RetryPolicy

    tasks = [
        TaskSpec("a", "workers.agents:burn_cpu", args=(0.5,)),
        TaskSpec("b", "workers.agents:burn_cpu", args=(0.5,)),
        TaskSpec("sum", "workers.agents:add", args=(Ref("a"), Ref("b"))),
    ]
    result = execute_graph(tasks, OrchestrationPolicy(max_concurrency=2, task_timeout=10))
    assert result.ok, result.failed
"""

from .api import (
    execute_graph,
    execute_graph_async,
    execute_parallel,
    execute_parallel_async,
    iter_parallel,
)
from .clock import Clock, FakeClock, MonotonicClock
from .costs import CostAdapter, CostModel, CpuTimeCost, ReportedCost, SumCost
from .errors import (
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
from .events import SCHEMA_VERSION, Event, EventType
from .executor import Executor, InlineExecutor
from .gates import (
    AllSucceeded,
    GateVerdict,
    MaxFailureRate,
    MinSpeedup,
    WorkerGate,
    in_worker,
)
from .graph import TaskGraph
from .interrupts import RunTerminated
from .policy import OrchestrationPolicy, RetryPolicy
from .pool import LocalPool
from .results import OrchestrationResult, RunMetrics, TaskError, TaskResult, TaskStatus
from .sinks import CallbackSink, JsonLinesSink, MemorySink, SinkError
from .spec import Ref, TaskSpec
from .telemetry import RunSummary, metrics_from_events, read_events, summarize
from .trace import chrome_trace, write_chrome_trace
from .warm_pool import shutdown_shared_pool

__version__ = "0.1.0"

__all__ = [
    "TaskSpec", "Ref", "TaskGraph", "RetryPolicy", "OrchestrationPolicy",
    "execute_graph", "execute_parallel", "iter_parallel", "execute_graph_async",
    "execute_parallel_async",
    "TaskResult", "TaskStatus", "TaskError", "OrchestrationResult", "RunMetrics",
    "Event", "EventType", "SCHEMA_VERSION",
    "MemorySink", "CallbackSink", "JsonLinesSink", "SinkError",
    "read_events", "metrics_from_events", "summarize", "RunSummary",
    "chrome_trace", "write_chrome_trace",
    "CostModel", "CostAdapter", "CpuTimeCost", "ReportedCost", "SumCost",
    "GateVerdict", "WorkerGate", "in_worker", "AllSucceeded", "MaxFailureRate", "MinSpeedup",
    "Executor", "InlineExecutor", "LocalPool", "shutdown_shared_pool",
    "Clock", "MonotonicClock", "FakeClock",
    "OrchestratorError", "SpecError", "PolicyError", "GraphError", "DuplicateTaskError",
    "MissingDependencyError", "CycleError", "PoolError", "TaskFailedError", "GateRejected",
    "EventLogError",
    "RunTerminated",
]
