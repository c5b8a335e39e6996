"""Submit five tasks and exit without shutdown(): ``python -m tests.futures.exit_script KIND
OUT`` (the pool must finish them first, as the stdlib's does)."""

import concurrent.futures as cf
import sys

from orchestrator import ProcessPool
from tests.futures import helpers as h

if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    pool = ProcessPool(1) if kind == "engine" else cf.ProcessPoolExecutor(1)
    futures = [pool.submit(h.log, out, str(i)) for i in range(5)]
