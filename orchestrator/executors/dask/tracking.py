"""What the Dask executor knows, and what each thing it hears does: the flights (one per attempt
sent), the workers and their threads, and the deadlines of its own.

``Tracking`` is the executor's lower layer, as ``Endings`` is the scheduler's: it holds the
state and turns each inbox message (``cluster``) into executor events; ``DaskExecutor`` above
it is the protocol. The executor's own deadlines: a SIGKILL whose outcome never comes back
(``KILL_CONFIRM_S``: a frozen or cut-off worker), a cluster left without workers, and a client
that lost its scheduler (both ``no_workers_timeout``).
"""

from __future__ import annotations

import pickle
import signal
from typing import Any

from workers.host import SENT

from ...clock import Clock, MonotonicClock
from ...model.errors import PoolError
from ..base import AttemptStarted, ExecutorEvent
from ..local.wire import FunctionTable
from .cluster import Cluster
from .flights import Flight, lost_event, outcome_event

__all__ = ["Tracking", "KILL_CONFIRM_S"]

# A SIGKILL's outcome not back after this long: the worker is frozen or cut off; the attempt
# is reported lost (its host's backstop still kills the runner if the worker comes back).
KILL_CONFIRM_S = 10.0


class Tracking:
    """The executor's state, and its reactions to the cluster. ``only``: the worker addresses
    it may use (None: all)."""

    def __init__(self, cluster: Cluster, only: list[str] | None,
                 no_workers_timeout: float) -> None:
        self.no_workers_timeout = no_workers_timeout
        self._cluster = cluster
        self._only = only
        self._clock: Clock = MonotonicClock()
        self._size = 1
        self._task_limit: int | None = None
        self._threads: dict[str, int] = {}
        self._flights: dict[int, Flight] = {}
        self._functions = FunctionTable()
        self._run = 0
        self._empty_since: float | None = None  # when the last worker left
        self._lost_since: float | None = None  # when the client was seen without its scheduler
        self._connected = False
        self._closed = False

    def _mine(self, threads: dict[str, int]) -> dict[str, int]:
        only = self._only
        return {a: n for a, n in threads.items() if only is None or a in only}

    def _handle(self, msg: Any, now: float, events: list[ExecutorEvent]) -> None:
        """One inbox message (see ``cluster``). Mutates."""
        kind = msg[0]
        if kind == "outcome":
            self._on_outcome(msg[1], msg[2], pickle.loads(msg[3]), now, events)
        elif kind == "finished":
            flight = self._flights.get(msg[2]) if msg[1] == self._run else None
            if flight is not None:  # no outcome by event: a large one, or the worker died
                self._cluster.fetch(msg[1], msg[2], msg[3])
        elif kind == "fetched":
            if isinstance(msg[3], BaseException) and self._lost_since is None \
                    and not self._cluster.connected():
                self._lost_since = now  # the client cancelled every future it held
            if msg[3] != SENT:  # else the outcome came, or is coming, as an event
                self._on_outcome(msg[1], msg[2], msg[3], now, events)
        elif kind == "started":
            self._on_started(msg[1], msg[2], msg[3], msg[4], now, events)
        elif kind == "memory":
            flight = self._flights.get(msg[2]) if msg[1] == self._run else None
            if flight is not None:
                flight.rss = int(msg[3])
        elif kind == "up":
            if self._only is None or msg[1] in self._only:
                self._threads[msg[1]] = int(msg[2])
                self._empty_since = None
        elif kind == "gone":
            self._on_gone(msg[1], now, events)

    def _on_outcome(self, run: int, ticket: int, outcome: Any, now: float,
                    events: list[ExecutorEvent]) -> None:
        flight = self._flights.pop(ticket, None) if run == self._run else None
        if flight is not None:
            events.append(outcome_event(flight, outcome, now))

    def _on_started(self, run: int, ticket: int, pid: int, worker: str, now: float,
                    events: list[ExecutorEvent]) -> None:
        flight = self._flights.get(ticket) if run == self._run else None
        if flight is None or flight.started:
            # Nobody waits for this one (let go, or Dask ran it again after its worker died):
            # it must not run on.
            self._cluster.control(worker, "kill", f"{self._cluster.name}-{run}-{ticket}",
                                  int(signal.SIGKILL))
            return
        flight.started, flight.worker, flight.pid = True, worker, pid
        events.append(AttemptStarted(ticket, pid, now, worker=worker))

    def _on_gone(self, worker: str, now: float, events: list[ExecutorEvent]) -> None:
        """The scheduler removed ``worker``: its started attempts are lost (Dask must not run
        them again: they are let go). Mutates."""
        self._threads.pop(worker, None)
        if not self._threads and self._empty_since is None:
            self._empty_since = now
        lost = [f for f in self._flights.values() if f.started and f.worker == worker]
        for flight in lost:
            del self._flights[flight.attempt.ticket]
            events.append(lost_event(flight, now, "its Dask worker left the cluster"))
        self._cluster.cancel([f.future for f in lost])

    def _next_due(self) -> float | None:
        dues = [f.confirm_by for f in self._flights.values() if f.confirm_by is not None]
        for since in (self._empty_since, self._lost_since):
            if since is not None:
                dues.append(since + self.no_workers_timeout)
        return min(dues) if dues else None

    def _check_due(self, now: float, events: list[ExecutorEvent]) -> None:
        """Report the kills that were never confirmed; fail the run when the cluster has been
        without workers too long. Mutates."""
        late = [f for f in self._flights.values()
                if f.confirm_by is not None and f.confirm_by <= now]
        for flight in late:
            del self._flights[flight.attempt.ticket]
            events.append(lost_event(
                flight, now, f"its Dask worker did not confirm the kill within "
                             f"{KILL_CONFIRM_S:g}s (frozen, or cut off from the scheduler)"))
        self._cluster.cancel([f.future for f in late])
        if self._lost_since is not None and now - self._lost_since >= self.no_workers_timeout:
            raise PoolError(f"the connection to the Dask scheduler at {self._cluster.where} was "
                            f"lost {now - self._lost_since:.0f}s ago (the client is "
                            f"{self._cluster.status()}); {len(self._flights)} attempts could "
                            f"not run")
        if self._empty_since is not None and now - self._empty_since >= self.no_workers_timeout:
            raise PoolError(f"the Dask cluster at {self._cluster.where} has had no workers for "
                            f"{now - self._empty_since:.0f}s; {len(self._flights)} attempts "
                            f"could not run")
