"""The local pool: worker processes the parent owns, one private pipe each, and the reaper.

Why not a loky ``ProcessPoolExecutor``: killing one of its workers breaks the whole executor
(every pending future fails with ``TerminatedWorkerError``). Here each worker is a slot: a process
started with loky's process context (a fresh interpreter on every platform), a duplex pipe that
only it and the parent hold, and its sentinel. So the parent always knows which process runs which
attempt; a timeout kills exactly that process tree and nothing else in flight is touched.

One ``selectors`` object watches every pipe and sentinel, plus a self-pipe for ``wakeup``: the
scheduler blocks in one ``select`` until a worker reports, a worker dies, or its next timer is due.
No polling.

Start times are inferred, not reported: a worker runs what it is sent in order, so the head of a
slot's queue starts when it is sent to an idle worker, when the worker becomes ready, or when the
previous attempt's result arrives. That saves a message per task on the hot path.

Prefetch: an attempt may be queued behind a busy worker (``submit(queue=True)``) so the worker
never waits for the parent between short tasks. When that worker dies, the attempts queued behind
the lost one come back as ``AttemptRequeued`` (never started, never charged). Until the worker
begins one, the parent can take it back (``revoke``: the worker's fence, ``workers.fence``), and a
worker gone idle takes the last ones queued behind a worker whose attempt has run 10 ms
(``slots.steal_plan``).
A step's frames for one worker go in one write, at the start of the next ``wait``.

Dead or retired workers are replaced at once; after the first death a spare worker is kept warm
(more during a burst of deaths), so the next replacement is ready immediately instead of after an
interpreter start.

The rooms: ``pool`` (the Executor protocol over slots), ``slots`` (one worker slot and its
states), ``supervisor`` (spawn, retire, replace, spares, the reaper), ``wire`` (the parent's side
of ``workers.protocol``), ``warm`` (the shared pool, interpreter exit), ``registry`` (the pools
not yet closed: closed at exit, disowned by a forked child). A worker's tree is
killed and measured by ``workers.tree``, which the Dask executor's runner hosts share.
"""

from .pool import LocalPool

__all__ = ["LocalPool"]
