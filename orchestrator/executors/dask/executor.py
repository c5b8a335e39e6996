"""DaskExecutor: the Executor protocol on a Dask distributed cluster (the design is in
``executors/dask/__init__``).

``wait`` turns what the cluster link heard (``Cluster.inbox``) into executor events through
``Tracking`` (the state, and what each message and deadline does), and blocks until the next
message or the next of its own deadlines.
"""

from __future__ import annotations

import atexit
import signal
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Sequence, cast

from ...clock import Clock
from ...model.errors import PoolError
from ..base import Attempt, ClosesOnExit, ExecutorEvent
from ..pickling import dumps_arguments
from .cluster import Cluster, LocalSpec
from .flights import Flight
from .tracking import KILL_CONFIRM_S, Tracking

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskExecutor", "close_all_executors", "MEMORY_SAMPLE_S"]

# How often a host samples the memory of an attempt the scheduler watches.
MEMORY_SAMPLE_S = 0.05
# Only small attempts wait in Dask's queue for a busy thread (as the local pool's prefetch).
QUEUE_LIMIT_BYTES = 32 * 1024
# The scheduler queues attempts in Dask's queue while recent ones take under this (the local
# pool: 5 ms). An attempt's end reaches the parent and the next one reaches a thread in
# 100-150 ms here (client, scheduler, worker, runner and back, on 2 loaded cores), so each wave
# of 0.25 s tasks lost a third of its time; queued, the next attempt starts as soon as a thread
# frees (Dask's scheduler holds the queue and gives it to whichever thread frees first, so
# none waits behind a busy one while another idles). Its deadline starts when its runner
# reports it started. Above 1 s the round trip costs under ~10%, and the scheduler keeps
# its own order (priorities) instead.
PREFETCH_BELOW_S = 1.0


class DaskExecutor(Tracking, ClosesOnExit):
    """Runs attempts on a Dask cluster: ``DaskExecutor("tcp://10.0.0.5:8786")``, or a
    ``distributed.Client`` you made (for TLS: ``Client(address, security=Security(...))``).

    ``workers``: run only on these worker addresses. ``no_workers_timeout``: how long a run
    waits with no worker in the cluster before it fails; ``connect_timeout``: how long open
    tries to reach the scheduler. ``capacity`` is the cluster's thread
    count (of ``workers``), and follows workers joining and leaving. Each attempt runs in a
    runner process beside a Dask worker thread, so a timeout kills exactly that attempt's
    process tree and the Dask worker stays up. Use as a context manager, or call ``close()``.
    """

    prefetch_below_s = PREFETCH_BELOW_S

    def __init__(self, address_or_client: str | Client, *, workers: Sequence[str] | None = None,
                 no_workers_timeout: float = 30.0, connect_timeout: float = 30.0) -> None:
        if not isinstance(address_or_client, str) and not hasattr(address_or_client, "submit"):
            raise TypeError(f"DaskExecutor takes a scheduler address ('tcp://host:8786') or a "
                            f"distributed.Client, got {address_or_client!r}")
        if workers is not None and (isinstance(workers, str) or not workers):
            raise ValueError(f"workers must be a non-empty list of worker addresses, got "
                             f"{workers!r}")
        self._init(address_or_client, workers, no_workers_timeout, connect_timeout)

    def _init(self, target: Any, workers: Sequence[str] | None, no_workers_timeout: float,
              connect_timeout: float) -> None:
        for name, value in (("no_workers_timeout", no_workers_timeout),
                            ("connect_timeout", connect_timeout)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.name = f"orchestrator-{uuid.uuid4().hex[:12]}"
        super().__init__(Cluster(target, self.name, float(connect_timeout)),
                         None if workers is None else sorted(set(workers)),
                         float(no_workers_timeout))
        _live.add(self)

    @classmethod
    def local(cls, n_workers: int = 2, threads_per_worker: int = 1) -> DaskExecutor:
        """An executor on a ``LocalCluster`` of ``n_workers`` processes on 127.0.0.1, started
        at open and closed with the executor: for trying the cluster path on one machine."""
        for name, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        executor = cls.__new__(cls)
        executor._init(LocalSpec(n_workers, threads_per_worker), None, 30.0, 60.0)
        return executor

    # -- what the executor knows ---------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return sum(self._threads.values())

    @property
    def workers(self) -> dict[str, int]:
        """Threads per worker address, of the workers this executor runs on."""
        return dict(self._threads)

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return self._cluster.where

    @property
    def client(self) -> Client | None:
        """The ``distributed.Client`` in use (None before the first open)."""
        return cast("Client | None", self._cluster.client)

    # -- Executor protocol ---------------------------------------------------------------------

    def connect(self) -> DaskExecutor:
        """Connect now (``open`` does it on first use), install the runner hosts, learn the
        workers; raises ``PoolError`` when the cluster cannot serve (unreachable, no worker
        within ``no_workers_timeout``, a worker that cannot start runners, an unknown
        ``workers``). Later calls count the workers again."""
        if self._closed:
            raise PoolError("this DaskExecutor is closed")
        cluster = self._cluster
        if not self._connected:
            self._connected = True
            threads = cluster.connect()
        else:
            cluster.inbox.clear()  # between runs: the fresh count below says what it says
            threads = cluster.threads()
        if not self._mine(threads):
            cluster.wait_for_workers(self.no_workers_timeout)
            threads = cluster.threads()
        missing = sorted(set(self._only or ()) - set(threads))
        if missing:
            raise PoolError(f"no worker at {', '.join(missing)} in the Dask cluster at "
                            f"{self.address} (it has {', '.join(sorted(threads)) or 'none'})")
        self._threads = self._mine(threads)
        self._empty_since = self._lost_since = None
        return self

    def open(self, clock: Clock, size: int, *, max_tasks_per_worker: int | None = None,
             max_worker_memory_mb: float | None = None) -> None:
        """Be ready for a run of at most ``size`` attempts at once (``connect``)."""
        if size < 1:
            raise PoolError(f"a run needs at least 1 worker thread, got {size}")
        self.connect()
        self._clock = clock
        self._size = size
        self._task_limit = max_tasks_per_worker

    def prepare(self, attempt: Attempt) -> None:
        if attempt.prepared is not None:
            return
        attempt.prepared = dumps_arguments(attempt.task_id, attempt.args, attempt.kwargs)
        self._functions.add(attempt.task_id, attempt.fn)

    def idle(self) -> int:
        if self._lost_since is not None:
            return 0
        return max(0, min(self._size, self.capacity) - len(self._flights))

    def submit(self, attempt: Attempt, *, queue: bool = False) -> bool:
        if attempt.prepared is None:
            self.prepare(attempt)
        if self.idle() == 0 and (not queue or not self._threads or self._lost_since is not None
                                 or len(attempt.prepared) > QUEUE_LIMIT_BYTES):
            return False
        if not self._cluster.connected():
            self._lost_since = self._clock.now()
            return False
        key = f"{self.name}-{self._run}-{attempt.ticket}"
        future = self._cluster.submit(key, self._run, attempt.ticket, attempt.task_id,
                                      attempt.attempt, attempt.timeout,
                                      self._functions[attempt.fn], attempt.prepared,
                                      self._task_limit, self._only)
        self._flights[attempt.ticket] = Flight(attempt, key, future)
        return True

    def kill(self, ticket: int, *, force: bool) -> list[int]:
        flight = self._flights.get(ticket)
        if flight is None or not flight.started or flight.worker is None:
            return []
        sig = signal.SIGKILL if force else signal.SIGTERM
        flight.kill = int(sig)
        if force and flight.confirm_by is None:
            flight.confirm_by = self._clock.now() + KILL_CONFIRM_S
        self._cluster.control(flight.worker, "kill", flight.key, int(sig))
        return [] if flight.pid is None else [flight.pid]

    def revoke(self, ticket: int) -> bool:
        """Let go of an attempt that has not started; False: its end still comes as an event
        (requeued if Dask dropped it in time, else it starts, and is killed)."""
        flight = self._flights.get(ticket)
        if flight is not None and not flight.started:
            self._cluster.cancel([flight.future])
        return False

    def memory(self, ticket: int) -> int | None:
        """The last sample of the attempt's tree; the first call asks its host to sample."""
        flight = self._flights.get(ticket)
        if flight is None or not flight.started or flight.worker is None:
            return None
        if not flight.watched:
            flight.watched = True
            self._cluster.control(flight.worker, "watch", flight.key, MEMORY_SAMPLE_S)
        return flight.rss

    def wait(self, timeout: float | None) -> list[ExecutorEvent]:
        cluster = self._cluster
        inbox = cluster.inbox
        if not inbox:
            due = self._next_due()
            if due is not None:
                left = max(0.0, due - self._clock.now())
                timeout = left if timeout is None else min(timeout, left)
            cluster.wake.wait(timeout)
        cluster.wake.clear()
        events: list[ExecutorEvent] = []
        now = self._clock.now()
        while inbox:
            self._handle(inbox.popleft(), now, events)
        self._check_due(now, events)
        return events

    def wakeup(self) -> None:
        self._cluster.wake.set()

    def begin_run(self) -> None:
        """A new run: new keys, and the runners forget the last run's functions."""
        self._run += 1
        self._functions.clear()

    def end_run(self) -> None:
        """Let go of whatever is still in flight (its runners are killed)."""
        self._functions.clear()
        flights, self._flights = self._flights, {}
        self._cluster.cancel([f.future for f in flights.values()])

    def close(self, *, kill: bool = False) -> None:
        """Let go of every attempt, remove the runner hosts (each kills its runners), and
        close the client and cluster this executor started. ``kill``: the same (a runner is
        never left to finish after its executor closed)."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        self.end_run()
        self._cluster.close()

    def __repr__(self) -> str:
        if self._closed:
            return "<DaskExecutor closed>"
        if not self._connected:
            return f"<DaskExecutor {self._cluster.target} (not connected)>"
        return (f"<DaskExecutor {self.address}: {len(self._threads)} workers, "
                f"{self.capacity} threads>")


# Every executor not yet closed, so that interpreter exit removes their runner hosts.
_live: weakref.WeakSet[DaskExecutor] = weakref.WeakSet()


@atexit.register  # registered after distributed's own, so it runs first: the client still works
def close_all_executors() -> None:
    """Close every DaskExecutor still open (at interpreter exit)."""
    for executor in list(_live):
        try:
            executor.close(kill=True)
        except Exception:
            pass
