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
from .errors import (
    CycleError,
    DuplicateTaskError,
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
from .gates import GateVerdict
from .graph import TaskGraph
from .interrupts import RunTerminated
from .policy import OrchestrationPolicy, RetryPolicy
from .pool import LocalPool, shutdown_shared_pool
from .results import OrchestrationResult, RunMetrics, TaskError, TaskResult, TaskStatus
from .spec import Ref, TaskSpec

__version__ = "0.1.0"

__all__ = [
    "TaskSpec", "Ref", "TaskGraph", "RetryPolicy", "OrchestrationPolicy",
    "execute_graph", "execute_parallel", "iter_parallel", "execute_graph_async",
    "execute_parallel_async",
    "TaskResult", "TaskStatus", "TaskError", "OrchestrationResult", "RunMetrics",
    "Event", "EventType", "SCHEMA_VERSION", "GateVerdict",
    "Executor", "InlineExecutor", "LocalPool", "shutdown_shared_pool",
    "Clock", "MonotonicClock", "FakeClock",
    "OrchestratorError", "SpecError", "PolicyError", "GraphError", "DuplicateTaskError",
    "MissingDependencyError", "CycleError", "PoolError", "TaskFailedError", "GateRejected",
    "RunTerminated",
]
