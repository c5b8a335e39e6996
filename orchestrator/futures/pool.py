"""``ProcessPool``: the engine behind the ``concurrent.futures.Executor`` interface.

Code written for ``ProcessPoolExecutor`` runs unchanged (``submit``, ``map``, ``shutdown``,
``with``, ``wait``, ``as_completed``) and gains what the engine does: a task past its timeout is
killed with its process tree (``TaskTimeout``), a crashed worker fails only its own future
(``WorkerCrashed``) and is replaced, retries, worker recycling, a memory limit, ``kill(future)``
and the run's event stream. One pool is one run, from creation to ``shutdown()``.

The pool in front holds a ``Driver`` (the loop thread, ``driver.py``); the driver holds nothing of
the pool, so a pool dropped without ``shutdown()`` is collected and its finalizer lets the run
end once the submitted tasks have.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from concurrent.futures import Executor
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from ..clock import Clock, MonotonicClock
from ..executors.base import Executor as RunExecutor
from ..model.policy import OrchestrationPolicy, RetryPolicy
from ..model.resources import RateLimit
from ..model.results import RunMetrics
from ..telemetry.events import EventHandler
from .driver import Driver
from .future import PoolFuture
from .mapping import map_results
from .tasks import Options, task_spec

__all__ = ["ProcessPool", "Submitter"]

Chunksize = int | Literal["auto"]

# Tasks taken ahead of free workers, per worker. No-op submits on 2 workers: ~6,000/s with 1.5
# (the stdlib call queue's depth), ~8,200/s with 8.
QUEUED_PER_WORKER = 8


class Submitter:
    """``submit`` and ``map`` with per-task settings (``ProcessPool.options``)."""

    def __init__(self, pool: ProcessPool, options: Options) -> None:
        self._pool = pool
        self._options = options

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> PoolFuture:
        return self._pool._submit(fn, args, kwargs, self._options)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: Chunksize = 1) -> Iterator[Any]:
        return self._pool._map(fn, iterables, timeout, chunksize, self._options)


class ProcessPool(Executor):
    """A ``concurrent.futures.Executor`` on the engine's worker processes.

    ``max_workers``: processes (default: the usable cores). ``task_timeout``: seconds a task may
    run before it is killed, tree included (``TaskTimeout``). ``retry``: a ``RetryPolicy`` for
    every task (default: no retry). ``max_tasks_per_worker``: replace a worker after that many
    tasks. ``memory_limit``: megabytes of resident memory (worker plus children) past which a
    task is killed (``MemoryLimitExceeded``). ``resources`` and ``rate_limits``: capacities and
    token buckets by name, as ``OrchestrationPolicy``'s, for tasks submitted through
    ``options(resources=...)`` (``"cpu"`` defaults to the usable cores). ``on_event``: the
    run's event sinks, as for ``execute_parallel``. ``executor``: where tasks run (default: a
    private ``LocalPool``, closed at shutdown; one given is left open). ``clock``: the run's
    clock (default the monotonic one).
    """

    def __init__(self, max_workers: int | None = None, *, task_timeout: float | None = None,
                 retry: RetryPolicy | None = None, max_tasks_per_worker: int | None = None,
                 memory_limit: float | None = None,
                 resources: Mapping[str, float] | None = None,
                 rate_limits: Mapping[str, RateLimit] | None = None,
                 on_event: EventHandler | Sequence[EventHandler] | None = None,
                 executor: RunExecutor | None = None, clock: Clock | None = None) -> None:
        if max_workers is None:
            max_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else (os.cpu_count() or 1)
        elif not isinstance(max_workers, int) or isinstance(max_workers, bool):
            raise TypeError(f"max_workers must be an integer, got {max_workers!r}")
        elif max_workers <= 0:
            raise ValueError(f"max_workers must be greater than 0, got {max_workers}")
        # Up to QUEUED_PER_WORKER short tasks wait in each worker's pipe (the prefetch rule
        # queues only tasks that recently took under 5 ms): their futures stay cancellable
        # until the worker begins them, and a worker gone idle takes them from a busy one.
        policy = OrchestrationPolicy(
            max_concurrency=max_workers, max_pending=QUEUED_PER_WORKER * max_workers,
            task_timeout=task_timeout,
            retry=retry if retry is not None else RetryPolicy(),
            max_task_memory_mb=memory_limit, max_tasks_per_worker=max_tasks_per_worker,
            resources=dict(resources or {}), rate_limits=dict(rate_limits or {}))
        owns = executor is None
        if executor is None:
            from ..executors.local import LocalPool

            executor = LocalPool(max_tasks_per_worker=max_tasks_per_worker)
        self._max_workers = max_workers
        self._policy = policy
        self._lock = threading.Lock()
        self._shut = False
        self._ids = itertools.count(1)
        self._plain = Options()
        try:
            self._driver = Driver(executor, owns, policy, on_event, clock or MonotonicClock())
            self._driver.start()
        except BaseException:
            if owns:
                executor.close(kill=True)
            raise
        # No shutdown() before the pool is collected: end the run once its tasks have.
        self._finalizer = weakref.finalize(self, self._driver.close, False)

    # -- concurrent.futures.Executor --------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> PoolFuture:
        """Schedule ``fn(*args, **kwargs)``; a ``Future`` for its result."""
        return self._submit(fn, args, kwargs, self._plain)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: Chunksize = 1, buffersize: int | None = None) -> Iterator[Any]:
        """``fn`` over the iterables, results in order, like the builtin ``map``.

        ``timeout``: seconds from this call after which ``next()`` raises ``TimeoutError``.
        ``chunksize``: items per worker call; ``"auto"`` picks it from the measured task time
        (and pulls the input lazily). ``buffersize`` is not supported (use ``"auto"``).
        """
        if buffersize is not None:
            raise TypeError("ProcessPool.map: buffersize is not supported; chunksize='auto' "
                            "pulls the input lazily")
        return self._map(fn, iterables, timeout, chunksize, self._plain)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submissions. ``cancel_futures``: cancel what has not started. ``wait``:
        return once every task ended and the workers are gone (the run's ``run.finished``
        emitted, its sinks flushed)."""
        with self._lock:
            self._shut = True
            self._driver.close(cancel_futures)
        if wait:
            self._driver.join()

    # -- beyond the stdlib ----------------------------------------------------------------------

    def options(self, *, timeout: float | None = None, retry: RetryPolicy | None = None,
                resources: Mapping[str, float] | None = None, priority: int = 0,
                tags: Mapping[str, Any] | None = None) -> Submitter:
        """A submitter whose tasks carry these settings (``timeout`` overrides
        ``task_timeout``; higher ``priority`` starts first)."""
        return Submitter(self, Options.make(timeout=timeout, retry=retry, resources=resources,
                                            priority=priority, tags=tags, policy=self._policy))

    def kill(self, future: PoolFuture) -> bool:
        """Stop ``future``'s task: one not started is cancelled; a running one is killed with its
        process tree and its future raises ``TaskKilled``. False if it had already ended."""
        if future.done():
            return False
        if future.cancel():
            return True
        if not isinstance(future, PoolFuture) or not future.task_id:
            raise TypeError(f"kill() takes a future of this pool, got {future!r}")
        self._driver.kill(future.task_id)
        return True

    def metrics(self) -> RunMetrics:
        """The run's figures so far: wall time, busy (serial) time, attempts, retries, counts."""
        return self._driver.metrics.snapshot()

    @property
    def run_id(self) -> str:
        return self._driver.events.run_id

    @property
    def max_workers(self) -> int:
        return self._max_workers

    # -- internals --------------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
                options: Options) -> PoolFuture:
        if self._shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        n = next(self._ids)
        spec = task_spec(n, fn, args, kwargs, options)
        future = PoolFuture()
        future.task_id = spec.id
        with self._lock:  # with the put: a shutdown can't slip between the check and the queue
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._driver.failure is not None:
                raise RuntimeError(f"the pool's loop stopped: {self._driver.failure!r}")
            self._driver.put(future, spec)
        return future

    def _map(self, fn: Callable[..., Any], iterables: tuple[Iterable[Any], ...],
             timeout: float | None, chunksize: Chunksize, options: Options) -> Iterator[Any]:
        def submit_chunk(chunk: list[tuple[Any, ...]]) -> PoolFuture:
            return self._submit(fn, (), {}, options.with_chunk(chunk))

        def submit_one(args: tuple[Any, ...]) -> PoolFuture:
            return self._submit(fn, args, {}, options)

        return map_results(submit_one, submit_chunk, iterables, timeout=timeout,
                           chunksize=chunksize, workers=self._max_workers)
