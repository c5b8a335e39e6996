"""A program that runs a batch under the library, for the parent-fault tests to signal or kill.

    python -m tests.process.child_run BEACON EVENTS_FILE

Starts four hanging tasks (one with two levels of children, one that ignores SIGTERM, one stuck
in a C call that holds the GIL, one plain) at concurrency 4, with three more tasks queued behind
them; each hanging task reports on BEACON once it is set up. The JSON Lines event log goes to
EVENTS_FILE. Prints how the call ended and exits 130 (KeyboardInterrupt) or 143 (RunTerminated,
i.e. SIGTERM), as a CLI would.
"""

from __future__ import annotations

import sys

from orchestrator import OrchestrationPolicy, RunTerminated, TaskSpec, execute_parallel
from orchestrator.telemetry.sinks import JsonLinesSink


def main() -> int:
    beacon, events = sys.argv[1], sys.argv[2]
    specs = [
        TaskSpec("tree", "workers.agents:spawn_children",
                 kwargs={"count": 1, "depth": 2, "ready": beacon}),
        TaskSpec("deaf", "workers.agents:ignore_sigterm", kwargs={"ready": beacon}),
        TaskSpec("in-c", "workers.agents:hang_in_c", kwargs={"ready": beacon}),
        TaskSpec("sleepy", "workers.agents:hang", kwargs={"ready": beacon}),
    ] + [TaskSpec(f"queued-{i}", "workers.agents:noop") for i in range(3)]
    sink = JsonLinesSink(events)
    try:
        execute_parallel(specs, OrchestrationPolicy(max_concurrency=4), on_event=sink)
    except RunTerminated as exc:
        print(f"raised RunTerminated: {exc}", flush=True)
        return 143
    except KeyboardInterrupt:
        print("raised KeyboardInterrupt", flush=True)
        return 130
    finally:
        sink.close()
    print("returned", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
