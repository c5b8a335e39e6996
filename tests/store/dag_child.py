"""Runs the durable-run DAG with a store, as its own program (so a test can SIGKILL it).

    python -m tests.store.dag_child DB SIDE GATE [RESUME]

RESUME: "newest" resumes the newest run of the DAG's name, anything else that run id. Prints
the result as JSON (id -> [status, attempts, reused_from, value]) on the last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator import OrchestrationPolicy, execute_graph
from tests.store.dag_tasks import dag


def main() -> int:
    db, side, gate = sys.argv[1:4]
    resume: bool | str | None = None
    if len(sys.argv) > 4:
        resume = True if sys.argv[4] == "newest" else sys.argv[4]
    result = execute_graph(dag(Path(side), Path(gate)), OrchestrationPolicy(max_concurrency=2),
                           store=db, run_name="dag12", resume=resume)
    print(json.dumps({r.id: [r.status.value, r.attempts, r.reused_from, r.value]
                      for r in result}), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
