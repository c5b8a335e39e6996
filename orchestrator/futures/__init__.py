"""A drop-in ``concurrent.futures`` pool on the engine: ``ProcessPool`` (``pool.py``).

The modules
    ``pool``        ProcessPool (the Executor) and Submitter (``options()``)
    ``driver``      the loop thread: submissions in, futures out; PoolFuture
    ``completion``  the thread that sets futures (done-callbacks run there)
    ``submissions`` what the loop has not taken yet, by priority
    ``tasks``       a call -> its TaskSpec (id, what is sent, per-task options)
    ``mapping``     map: order, timeout, chunks, the lazy "auto" feeder
    ``autosize``    chunksize="auto": chunk sizes from measured task time
    ``errors``      TaskTimeout, WorkerCrashed, TaskKilled, MemoryLimitExceeded,
                    TaskPicklingError
    ``metrics``     pool.metrics(): the run's figures so far
"""

from .errors import (
    MemoryLimitExceeded,
    TaskKilled,
    TaskPicklingError,
    TaskTimeout,
    WorkerCrashed,
)
from .future import PoolFuture
from .pool import ProcessPool, Submitter

__all__ = ["ProcessPool", "Submitter", "PoolFuture", "TaskTimeout", "WorkerCrashed", "TaskKilled",
           "MemoryLimitExceeded", "TaskPicklingError"]
