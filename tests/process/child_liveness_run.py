"""A program for the liveness tests to SIGKILL: it runs hanging tasks on its own pool after
putting that pool in a bad spot.

    python -m tests.process.child_liveness_run MODE BEACON

MODE ``fork-helper``: once the pool is warm, fork a ``multiprocessing`` helper (fork context)
that sleeps for an hour, holding whatever the program had open; it prints ``helper PID``.
MODE ``reaper-killed``: once the pool is warm, SIGKILL the pool's reaper and run a batch, during
which the pool must notice and start another; it prints ``reaper OLD NEW``.
Then it runs two hanging tasks (one stuck in C holding its GIL, one asleep) that report on
BEACON, and waits to be killed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

from orchestrator import LocalPool, OrchestrationPolicy, TaskSpec, execute_parallel


def _warm(pool: LocalPool) -> None:
    specs = [TaskSpec(f"warm-{i}", "workers.agents:noop") for i in range(4)]
    execute_parallel(specs, OrchestrationPolicy(max_concurrency=2), executor=pool)


def main() -> int:
    mode, beacon = sys.argv[1], sys.argv[2]
    pool = LocalPool()
    _warm(pool)
    if mode == "fork-helper":
        helper = multiprocessing.get_context("fork").Process(target=time.sleep, args=(3600,))
        helper.start()
        print(f"helper {helper.pid}", flush=True)
    else:
        old = pool.helper_pids[0]
        os.kill(old, signal.SIGKILL)
        while True:  # until it has exited (a zombie: the pool reaps it)
            try:
                with open(f"/proc/{old}/stat") as f:
                    if f.read().split(")")[-1].split()[0] in "ZX":
                        break
            except OSError:
                break
            time.sleep(0.005)
        _warm(pool)
        print(f"reaper {old} {pool.helper_pids[0] if pool.helper_pids else 0}", flush=True)
    specs = [TaskSpec("in-c", "workers.agents:hang_in_c", kwargs={"ready": beacon}),
             TaskSpec("sleepy", "workers.agents:hang", kwargs={"ready": beacon})]
    execute_parallel(specs, OrchestrationPolicy(max_concurrency=2), executor=pool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
