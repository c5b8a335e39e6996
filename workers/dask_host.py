"""What runs inside a Dask worker for ``orchestrator.executors.dask``: a host of warm runner
processes (a Dask worker plugin), the task body that hands one attempt to a runner, and the
control call the orchestrator makes through ``client.run`` (kill, watch memory).

Dask cannot stop a running task (distributed#2617, #391), and restarting a worker fails or
re-runs whatever else it was running (#7154). So no attempt runs in the Dask worker itself: each
runs in a *runner*, a child process started by ``workers.spawn`` that is the local pool's worker
(``workers.runner``: its own session, subreaper, lifeline, leftovers killed after each task).
A kill stops exactly that runner's tree, and the Dask worker carries on. Runners are warm: the
plugin starts one per worker thread when it is set up (which also proves at registration that
runners can start there), a dead or retired one is replaced at once, and a reaper (the pool's,
``workers.reaper``) kills them all if the Dask worker dies while a runner holds its GIL.

The task body ``run_attempt`` never raises and retries nothing: it returns the outcome as data,
so Dask never sees an exception. Every deadline, retry and attempt count stays with the
orchestrator's scheduler. Two checks here are backstops only, for an orchestrator that is gone:
a runner whose task Dask released (the client went away, or cancelled it) is killed at once
(``transition``), and one that outlives its deadline by ``BACKSTOP_S`` (``workers.host``: the
orchestrator's kill never came) is killed too.

An attempt's outcome that pickles to at most ``workers.host.EVENT_LIMIT`` bytes (nearly all: a
small value, an error, a death) is published as an event and the task returns ``SENT``:
the orchestrator has it one hop after the attempt ended, without a round trip to fetch the
task's result. A larger one is the task's result, fetched as Dask fetches any. The runners
themselves, and the rules for killing them, are ``workers.host``.

Published on the executor's topic (``Worker.log_event``; lists, as msgpack carries them):

    ["up", address, nthreads]              the host is ready on a worker
    ["started", run, ticket, pid, address] an attempt was handed to runner ``pid``
    ["memory", run, ticket, rss]           a watched attempt's tree grew or shrank
    ["outcome", run, ticket, pickled]      an attempt's outcome, pickled
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

from .host import Host, Outcome

if TYPE_CHECKING:
    from distributed import Worker

__all__ = ["RunnerHost", "run_attempt", "control", "package_version"]


def package_version() -> str | None:
    """The installed orchestrator-engine version, if it is installed as a distribution."""
    try:
        from importlib.metadata import version

        return version("orchestrator-engine")
    except Exception:
        return None


class RunnerHost(WorkerPlugin):
    """The Dask worker plugin: one host of runners per worker, for one orchestrator executor
    (``name``). Registered by the executor at open, torn down at its close."""

    def __init__(self, name: str, topic: str, version: str | None) -> None:
        self.name = name
        self.topic = topic
        self.version = version
        self.host: Host | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "topic": self.topic, "version": self.version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.host = None

    async def setup(self, worker: Worker) -> None:
        """Refuse a worker that cannot host runners; start one runner per thread."""
        if not hasattr(os, "setsid") or not hasattr(os, "killpg"):
            raise RuntimeError(f"Dask worker {worker.address} runs on {sys.platform}: runners "
                               f"need POSIX sessions and process groups to be killed")
        mine = package_version()
        if self.version is not None and mine is not None and mine != self.version:
            raise RuntimeError(f"Dask worker {worker.address} has orchestrator-engine {mine}, "
                               f"the orchestrator {self.version}: install the same version")
        host = Host(worker.address, self.topic, worker.log_event)
        nthreads = int(worker.state.nthreads)
        try:
            await asyncio.get_running_loop().run_in_executor(None, host.warm, nthreads)
        except BaseException:
            host.close()
            raise
        self.host = host
        worker.log_event(self.topic, ["up", worker.address, nthreads])

    def teardown(self, worker: Worker) -> None:
        if self.host is not None:
            self.host.close()
            self.host = None

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        # Dask let go of a task that is still executing (its client is gone, or cancelled it):
        # nobody will read the outcome, so the runner must not keep going. Off the worker's
        # event loop: a kill walks the process table.
        if start == "executing" and finish in ("released", "cancelled") and self.host:
            threading.Thread(target=self.host.kill, args=(key, signal.SIGKILL),
                             name="runner-kill", daemon=True).start()


def _host(worker: Worker, name: str) -> Host | None:
    plugin = worker.plugins.get(name)
    return plugin.host if isinstance(plugin, RunnerHost) else None


def run_attempt(name: str, key: Any, run: int, ticket: int, task_id: str, attempt: int,
                timeout: float | None, fn: tuple[Any, int, Any], args: bytes,
                limit: int | None) -> Outcome:
    """The Dask task: run one attempt in a runner of executor ``name``'s host on this worker.
    ``fn`` is ``(key, kind, payload)`` as DEFINE sends it; ``args`` the pickled arguments."""
    from distributed import get_worker

    worker = get_worker()
    host = _host(worker, name)
    if host is None:
        return ("lost", worker.address, None, None, None,
                f"the orchestrator's runner host is not set up on Dask worker {worker.address}")
    return host.run(key, run, ticket, task_id, attempt, timeout, fn, args, limit)


async def control(name: str, op: str, key: Any, arg: Any,
                  dask_worker: Worker | None = None) -> Any:
    """Run through ``client.run`` on one worker: ``kill`` (``arg``: the signal; returns the
    pids signalled) or ``watch`` (``arg``: the sampling interval) the attempt ``key``. A kill
    runs on a thread: the worker's event loop, which carries every outcome, is never blocked
    by the walk of the process table, and kills of several runners proceed at once."""
    host = None if dask_worker is None else _host(dask_worker, name)
    if host is None:
        return []
    if op == "kill":
        return await asyncio.get_running_loop().run_in_executor(None, host.kill, key, int(arg))
    if op == "watch":
        host.watch(key, float(arg))
        return []
    raise ValueError(f"unknown control operation {op!r}")
