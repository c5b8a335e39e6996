"""The executor's link to one Dask cluster: the client (and the ``LocalCluster`` it started, if
any), the runner hosts' plugin, the topics it listens to, and the calls it makes on the
client's event loop.

Nothing here blocks the scheduler's loop for a round trip: a submit only queues a message, and
fetching a result, a kill and a memory watch are coroutines on the client's own event loop.
What they learn, and what the hosts publish, goes into ``inbox`` (appended on the client's
threads, read on the scheduler's) and sets ``wake``, which the executor's ``wait`` blocks on.

Inbox messages: ``["started", run, ticket, pid, address]``, ``["memory", run, ticket, rss]``,
``["outcome", run, ticket, pickled]``, ``["up", address, nthreads]`` (as the hosts publish
them, ``workers.dask_host``), ``("gone", address)`` (the scheduler removed a worker),
``("finished", run, ticket, future)`` (a task's future is done, however it ended) and
``("fetched", run, ticket, result)`` (what ``fetch`` got: the task's result, or the exception
its future raised).
"""

from __future__ import annotations

import collections
import functools
import threading
from dataclasses import dataclass
from typing import Any, Callable, Deque

from workers.dask_host import RunnerHost, control, package_version, run_attempt

from ...model.errors import PoolError

__all__ = ["Cluster", "LocalSpec"]

LOST_CLOSE_S = 2.0  # how long closing a client that lost its scheduler may take


@dataclass(frozen=True)
class LocalSpec:
    """A ``LocalCluster`` to start on 127.0.0.1 at open (``DaskExecutor.local``)."""

    n_workers: int
    threads_per_worker: int

    def start(self) -> Any:
        import dask
        from distributed import LocalCluster

        # The cluster is ours: Dask must not run an attempt again when its worker dies (the
        # orchestrator's retry policy decides), so a task on a dead worker fails at once.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            return LocalCluster(n_workers=self.n_workers,  # type: ignore[no-untyped-call]
                                threads_per_worker=self.threads_per_worker, processes=True,
                                host="127.0.0.1", scheduler_port=0, dashboard_address=None)

    def __str__(self) -> str:
        return f"local:{self.n_workers}"


class Cluster:
    """One connection, opened by ``connect`` and ended by ``close``; ``name`` is the executor's
    (its plugin, its topic and the prefix of its keys).

    The client and its futures are typed ``Any``: distributed's ``Client`` is only partly
    annotated, and every call on it would need an exemption under mypy's strict mode.
    """

    def __init__(self, target: Any, name: str, connect_timeout: float) -> None:
        self.target = target
        self.name = name
        self.connect_timeout = connect_timeout
        self.inbox: Deque[Any] = collections.deque()
        self.wake = threading.Event()
        self.client: Any = None
        self._own_client = False
        self._local: Any = None
        self._previous_all: Callable[[Any], Any] | None = None

    @property
    def where(self) -> str:
        """The scheduler's address (or what was asked for), for messages."""
        if self.client is not None:
            try:
                return str(self.client.scheduler.address)
            except Exception:
                pass
        return str(self.target)

    def connect(self) -> dict[str, int]:
        """Connect, listen, install the runner hosts on every worker; threads per worker.
        Raises ``PoolError`` saying what failed."""
        client = self._client()
        self.client = client
        client.subscribe_topic(self.name, self._on_host)
        handlers = getattr(client, "_event_handlers", {})
        self._previous_all = handlers.get("all")  # the caller's own, if any: kept, and called
        client.subscribe_topic("all", self._on_cluster)
        try:
            client.register_plugin(RunnerHost(self.name, self.name, package_version()),
                                   name=self.name)
        except Exception as exc:
            raise PoolError(f"the Dask workers at {self.where} cannot host the orchestrator's "
                            f"runners: {type(exc).__name__}: {exc}") from exc
        return self.threads()

    def _client(self) -> Any:
        from distributed import Client

        target = self.target
        if isinstance(target, Client):
            if target.asynchronous:
                raise PoolError("DaskExecutor needs a synchronous distributed.Client "
                                "(asynchronous=False): its loop runs the scheduler's thread")
            if target.status not in ("running", "connecting", "newly-created"):
                raise PoolError(f"the distributed.Client given to DaskExecutor is "
                                f"{target.status}")
            return target
        try:
            if isinstance(target, LocalSpec):
                self._local = target.start()
                client = Client(self._local, set_as_default=False)  # type: ignore[no-untyped-call]
            else:
                client = Client(  # type: ignore[no-untyped-call]
                    target, timeout=self.connect_timeout, set_as_default=False)
        except Exception as exc:
            self._close_local()
            raise PoolError(f"cannot connect to the Dask scheduler at {target}: "
                            f"{type(exc).__name__}: {exc}") from exc
        self._own_client = True
        return client

    def connected(self) -> bool:
        """Whether the client is connected to its scheduler (it cancels every future it holds
        when the connection drops)."""
        return self.status() == "running"

    def status(self) -> str:
        return "closed" if self.client is None else str(self.client.status)

    def threads(self) -> dict[str, int]:
        """Threads per worker, as the scheduler knows them now (a round trip)."""
        assert self.client is not None
        try:
            counts = self.client.nthreads()
        except Exception as exc:
            raise PoolError(f"cannot reach the Dask scheduler at {self.where}: "
                            f"{type(exc).__name__}: {exc}") from exc
        return {str(k): int(v) for k, v in counts.items()}

    def wait_for_workers(self, timeout: float) -> None:
        """Block until the cluster has a worker; raises ``PoolError`` after ``timeout``."""
        assert self.client is not None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except Exception:
            raise PoolError(f"the Dask cluster at {self.where} has no workers (waited "
                            f"{timeout:g}s)") from None

    # -- what happens on the client's event loop -------------------------------------------------

    def _on_host(self, event: tuple[float, Any]) -> None:
        self.inbox.append(event[1])
        self.wake.set()

    def _on_cluster(self, event: tuple[float, Any]) -> None:
        msg = event[1]
        if isinstance(msg, dict) and msg.get("action") == "remove-worker":
            self.inbox.append(("gone", str(msg.get("worker"))))
            self.wake.set()
        if self._previous_all is not None:
            self._previous_all(event)

    def submit(self, key: str, run: int, ticket: int, task_id: str, attempt: int,
               timeout: float | None, fn: tuple[Any, int, Any], args: bytes,
               limit: int | None, workers: list[str] | None) -> Any:
        """Submit one attempt's task body and follow it to its outcome."""
        assert self.client is not None
        client = self.client
        future = client.submit(run_attempt, self.name, key, run, ticket, task_id, attempt,
                               timeout, fn, args, limit, key=key, pure=False, retries=0,
                               workers=workers, allow_other_workers=False)
        # Dask calls this on a thread of its own once the future is done, however it ended.
        future.add_done_callback(functools.partial(self._on_done, run, ticket))
        return future

    def _on_done(self, run: int, ticket: int, future: Any) -> None:
        self.inbox.append(("finished", run, ticket, future))
        self.wake.set()

    def fetch(self, run: int, ticket: int, future: Any) -> None:
        """Fetch the result of the done ``future`` (or the exception it raised) into the
        inbox."""
        assert self.client is not None
        self.client.loop.add_callback(self._fetch, self.client, run, ticket, future)

    async def _fetch(self, client: Any, run: int, ticket: int, future: Any) -> None:
        try:
            result = await client.gather(future, asynchronous=True)
        except BaseException as exc:  # KilledWorker, cancelled, ...: the attempt's worker
            result = exc
        self.inbox.append(("fetched", run, ticket, result))
        self.wake.set()

    def control(self, address: str, op: str, key: str, arg: Any) -> None:
        """Ask the host on worker ``address`` to ``kill``/``watch`` the attempt ``key``,
        without waiting for the answer (a frozen worker never gives one)."""
        assert self.client is not None
        self.client.loop.add_callback(self._control, self.client, address, op, key, arg)

    async def _control(self, client: Any, address: str, op: str, key: str, arg: Any) -> None:
        try:
            await client.run(control, self.name, op, key, arg, workers=[address],
                             on_error="return", asynchronous=True)
        except Exception:
            pass  # the worker is gone: its removal, or the kill's deadline, ends the attempt

    def cancel(self, futures: list[Any]) -> None:
        """Let go of ``futures``: Dask forgets them, and a host kills a runner whose task is
        let go while it runs."""
        if futures and self.client is not None:
            self.client.loop.add_callback(self._cancel, self.client, futures)

    async def _cancel(self, client: Any, futures: list[Any]) -> None:
        try:
            await client.cancel(futures, asynchronous=True)
        except Exception:
            pass  # the scheduler is gone: so is every task it held

    # -- the end ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the runner hosts (each kills its runners), stop listening, and close the
        client and cluster this link started."""
        client, self.client = self.client, None
        if client is None:
            self._close_local()
            return
        # A client that lost its scheduler waits out its reconnect timeout (30 s) on every
        # round trip: without one, there is nothing to tidy up there.
        connected = client.status == "running"
        if connected:
            self._tidy(client)
        if self._own_client:
            client.close(timeout=None if connected else LOST_CLOSE_S)
        self._close_local()

    def _tidy(self, client: Any) -> None:
        """Take this link's plugin and topics off a connected scheduler."""
        try:
            client.unregister_worker_plugin(self.name)
        except Exception:
            pass  # never registered, or the cluster is gone (its workers took the runners)
        for topic in (self.name, "all"):
            try:
                if topic == "all" and self._previous_all is not None:
                    client.subscribe_topic("all", self._previous_all)
                else:
                    client.unsubscribe_topic(topic)
            except Exception:
                pass

    def _close_local(self) -> None:
        local, self._local = self._local, None
        if local is not None:
            local.close()
