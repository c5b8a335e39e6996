"""What a user builds and gets back: pure data, validated on construction.

``spec`` (TaskSpec, Ref), ``graph`` (TaskGraph: the validated DAG and its ranks), ``policy``
(RetryPolicy, OrchestrationPolicy), ``results`` (TaskResult, TaskError, RunMetrics,
OrchestrationResult) and ``errors`` (the OrchestratorError tree). Nothing here runs anything.
"""
