"""The pools a user might pick instead, each driven the idiomatic way for N independent tasks.

Every peer runs ``workers.agents.noop`` (``echo(i)`` for Dask's ``map``) on ``workers`` worker
processes and waits for every result. A peer whose package is not installed is reported as
skipped, never dropped. ``stop()`` shuts the peer's processes (and clusters) down.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any, Callable

from orchestrator import OrchestrationPolicy, TaskSpec, execute_parallel
from orchestrator.telemetry.sinks import MemorySink
from workers.agents import echo, noop

from .workloads import warm_pool

__all__ = ["Peer", "PEERS", "Ours"]


class Peer:
    """One way to run N no-op tasks. ``heavy``: starts a cluster (seconds), run on its own."""

    name = ""
    modules: tuple[str, ...] = ()
    heavy = False
    how = ""

    def missing(self) -> list[str]:
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def start(self, workers: int) -> None:
        raise NotImplementedError

    def run(self, n: int) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Ours(Peer):
    modules = ("orchestrator",)

    def __init__(self, *, timeouts: bool = True, events: bool = True) -> None:
        self.timeouts = timeouts
        self.events = events
        on = [x for x, flag in (("timeouts", timeouts), ("events", events)) if flag]
        self.name = "orchestrator (" + (" + ".join(on) + " on" if on else "bare") + ")"
        self.how = "execute_parallel(TaskSpecs" + (", task_timeout=60" if timeouts else "") + (
            ", on_event=MemorySink()" if events else "") + ")"
        self.policy = OrchestrationPolicy()

    def start(self, workers: int) -> None:
        self.policy = OrchestrationPolicy(max_concurrency=workers,
                                          task_timeout=60.0 if self.timeouts else None)
        warm_pool(workers)

    def run(self, n: int) -> None:
        sink = MemorySink() if self.events else None
        result = execute_parallel([TaskSpec(f"t{i}", noop) for i in range(n)], self.policy,
                                  on_event=sink)
        if not result.ok:
            raise RuntimeError(f"{self.name}: {len(result.failed)} tasks failed")

    def stop(self) -> None:
        return None  # the warm pool stays up for the next benchmark; __main__ shuts it down


class _Futures(Peer):
    """Executors with ``submit``: submit every task, then wait for every result."""

    executor: Any = None

    def run(self, n: int) -> None:
        futures = [self.executor.submit(noop) for _ in range(n)]
        for f in futures:
            f.result()

    def _warm(self, workers: int) -> None:
        for f in [self.executor.submit(noop) for _ in range(workers * 4)]:
            f.result()


class RawLoky(_Futures):
    name = "loky (raw reusable executor)"
    modules = ("loky",)
    how = "get_reusable_executor().submit() per task"

    def start(self, workers: int) -> None:
        import loky

        self.executor = loky.get_reusable_executor(max_workers=workers, reuse=True)
        self._warm(workers)

    def stop(self) -> None:
        self.executor.shutdown(wait=True, kill_workers=True)


class ConcurrentFutures(_Futures):
    name = "concurrent.futures.ProcessPoolExecutor"
    modules = ("concurrent.futures",)
    how = "submit() per task"

    def start(self, workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.executor = ProcessPoolExecutor(max_workers=workers)
        self._warm(workers)

    def stop(self) -> None:
        self.executor.shutdown(wait=True)


class MultiprocessingPool(Peer):
    name = "multiprocessing.Pool"
    modules = ("multiprocessing",)
    how = "apply_async() per task"

    def start(self, workers: int) -> None:
        import multiprocessing

        self.pool = multiprocessing.Pool(workers)
        self.run(workers * 4)

    def run(self, n: int) -> None:
        pending = [self.pool.apply_async(noop) for _ in range(n)]
        for r in pending:
            r.get()

    def stop(self) -> None:
        self.pool.close()
        self.pool.join()


class Joblib(Peer):
    name = "joblib (loky backend)"
    modules = ("joblib",)
    how = "Parallel(n_jobs, backend='loky')(delayed(noop)() ...), automatic batching"

    def start(self, workers: int) -> None:
        self.joblib: Any = importlib.import_module("joblib")
        self.parallel = self.joblib.Parallel(n_jobs=workers, backend="loky")
        self.parallel.__enter__()
        self.run(workers * 4)

    def run(self, n: int) -> None:
        delayed = self.joblib.delayed
        self.parallel(delayed(noop)() for _ in range(n))

    def stop(self) -> None:
        self.parallel.__exit__(None, None, None)
        # joblib keeps its own (vendored) loky executor warm: stop its workers too.
        vendored: Any = importlib.import_module("joblib.externals.loky")
        vendored.get_reusable_executor().shutdown(wait=True, kill_workers=True)


class Pebble(Peer):
    name = "pebble ProcessPool"
    modules = ("pebble",)
    how = "schedule(noop, timeout=60) per task (timeouts on, like ours)"

    def start(self, workers: int) -> None:
        pebble: Any = importlib.import_module("pebble")
        self.pool = pebble.ProcessPool(max_workers=workers)
        self.run(workers * 4)

    def run(self, n: int) -> None:
        futures = [self.pool.schedule(noop, timeout=60) for _ in range(n)]
        for f in futures:
            f.result()

    def stop(self) -> None:
        self.pool.close()
        self.pool.join()


class Dask(Peer):
    name = "Dask distributed LocalCluster"
    modules = ("distributed",)
    heavy = True
    how = "client.map(echo, range(n), pure=False); 1 thread per worker process"

    def start(self, workers: int) -> None:
        dist: Any = importlib.import_module("dask.distributed")
        self.cluster = dist.LocalCluster(n_workers=workers, threads_per_worker=1,
                                         processes=True, dashboard_address=None,
                                         silence_logs=logging.CRITICAL)
        self.client = dist.Client(self.cluster)
        self.run(workers * 4)

    def run(self, n: int) -> None:
        self.client.gather(self.client.map(echo, range(n), pure=False))

    def stop(self) -> None:
        self.client.close()
        self.cluster.close()


class Ray(Peer):
    name = "Ray"
    modules = ("ray",)
    heavy = True
    how = "ray.remote(noop).remote() per task, ray.get(list)"

    def start(self, workers: int) -> None:
        self.ray: Any = importlib.import_module("ray")
        self.ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                      logging_level=logging.ERROR)
        self.fn = self.ray.remote(noop)
        self.run(workers * 4)

    def run(self, n: int) -> None:
        self.ray.get([self.fn.remote() for _ in range(n)])

    def stop(self) -> None:
        self.ray.shutdown()


PEERS: tuple[Callable[[], Peer], ...] = (
    MultiprocessingPool, ConcurrentFutures, RawLoky, Joblib, Pebble,
    Ours, lambda: Ours(timeouts=False, events=False), Dask, Ray,
)
