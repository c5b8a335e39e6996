"""The Dask executor: the same runs, policies and events on a Dask distributed cluster, with
kills that stay surgical. An optional extra (``pip install 'orchestrator-engine[dask]'``); the
core never imports it.

Dask cannot stop a running task (distributed#2617), has no per-task timeout (#391), and a
worker restart fails or re-runs everything else it was running (#7154) and never happens to a
worker stuck in a GIL-holding loop (#8537). So the Dask worker never runs an attempt itself.
At open the executor registers a worker plugin, the *runner host* (``workers.dask_host``), on
every worker (and on those that join later): it starts one warm runner process per worker
thread, the local pool's worker (own session, subreaper, lifeline, reaper), and refuses a
worker that cannot. The Dask task is a small body that hands its attempt to a runner, publishes
``started(run, ticket, pid, worker)`` through ``Worker.log_event``, and returns the outcome as
data (value, error, or lost with its exit status): Dask never sees an exception and retries
nothing (``retries=0``; a ``LocalCluster`` of ours also has ``allowed-failures: 0``). The
scheduler keeps every deadline, retry and attempt count, as with the local pool.

The parent side opens no listener. It hears the hosts through ``Client.subscribe_topic`` and
the scheduler's ``remove-worker`` events (topic ``all``), follows each future to its outcome
with a coroutine on the client's event loop, and kills with ``client.run(control, ...,
workers=[address])``, which signals exactly that runner's process tree (SIGTERM, then SIGKILL
as the scheduler asks). All of it lands in one inbox that ``wait`` blocks on with the
scheduler's timeout: nothing polls.

What can go wrong on a cluster, and what happens:

* A worker dies (or is removed): its started attempts are lost (retried per the policy's
  ``retry_on_crash``) and let go, so Dask cannot run them again; one that Dask starts again
  anyway is killed at its start. The others go on.
* A worker freezes: Dask removes it after its ``worker-ttl``; an attempt with a timeout ends at
  its deadline, once the SIGKILL has gone unconfirmed for ``KILL_CONFIRM_S``.
* Every worker is gone: the run fails with ``PoolError`` after ``no_workers_timeout``.
* The orchestrator dies: the scheduler lets go of its tasks and each host kills the runners of
  tasks let go while running; a runner past its deadline by ``BACKSTOP_S`` is killed anyway.

The rooms: ``executor`` (the protocol, the flights, the executor's own deadlines), ``flights``
(one attempt in flight, and what its outcome becomes), ``cluster`` (the client, the plugin,
the topics and the calls on the client's loop).
"""

from .executor import DaskExecutor

__all__ = ["DaskExecutor"]
