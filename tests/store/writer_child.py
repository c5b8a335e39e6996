"""A program that writes one run into a store, for the tests that run writers side by side or
kill one mid-stream.

    python -m tests.store.writer_child DB RUN_ID TASKS BATCH BIG_EVERY

Waits for a line on stdin before it opens the store (so several children race from the open
on), then records TASKS outcomes, BATCH per commit, every BIG_EVERY-th one with a value over
the blob threshold (0: none), reads the cache between commits, and prints ``stored N`` after
each commit (N: outcomes committed so far), then ``done``.
"""

from __future__ import annotations

import sys

from orchestrator.store import RunStore
from tests.store.helpers import fp, result


def value(run_id: str, i: int, big_every: int) -> bytes:
    size = (1 << 20) + 16 if big_every and i % big_every == 0 else 64
    return f"{run_id}:{i}:".encode().ljust(size, b".")


def main() -> int:
    db, run_id, tasks, batch, big_every = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    sys.stdin.readline()
    with RunStore(db) as store:
        writer = store.start_run(run_id, "wf")
        for i in range(tasks):
            writer.record(result(f"t{i}", value=value(run_id, i, big_every)), fp(f"{run_id}{i}"))
            if (i + 1) % batch == 0 or i + 1 == tasks:
                reason = writer.commit()
                if reason is not None:
                    print(reason, file=sys.stderr)
                    return 1
                store.cached(fp(f"{run_id}{i // 2}"))
                print(f"stored {writer.stored}", flush=True)
        writer.finish("succeeded", {"succeeded": tasks})
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
