"""A small end-to-end run: a fan-out of CPU-heavy agents, a flaky one retried, a merge step.

    python examples/quickstart.py
"""

from __future__ import annotations

from orchestrator import OrchestrationPolicy, Ref, RetryPolicy, TaskSpec, execute_graph


def main() -> int:
    shards = [TaskSpec(f"score-{i}", "workers.agents:burn_cpu", args=(0.25,), estimate=0.25)
              for i in range(8)]
    flaky = TaskSpec("fetch", "workers.agents:flaky", args=(2, 10),
                     retry=RetryPolicy(max_attempts=3, backoff="exponential", base_delay=0.05))
    merge = TaskSpec("merge", "workers.agents:add",
                     args=([Ref(s.id) for s in shards], Ref("fetch")))
    policy = OrchestrationPolicy(max_concurrency=4, task_timeout=30, global_timeout=120)
    result = execute_graph(shards + [flaky, merge], policy, on_event=None)
    for r in result:
        print(f"{r.id:10} {r.status.value:10} attempts={r.attempts} "
              f"duration={r.duration or 0:.3f}s pid={r.worker_pid}")
    m = result.metrics
    print(f"wall {m.wall_time:.2f}s  serial {m.serial_time:.2f}s  "
          f"speedup {m.speedup_vs_serial:.2f}x  attempts {m.attempts}  ok={result.ok}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
