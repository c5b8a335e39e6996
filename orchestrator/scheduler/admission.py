"""Admission: which ready task may start now, given its resources and its rate limits.

An attempt starts only when a worker slot and every resource it names are free, and it takes
them together (``take``, when the executor accepts it); ``release`` gives them back when the
attempt leaves the attempt table, whichever way it ends, so nothing is ever held by an attempt
that is gone. A rate-limited name has a token bucket: each attempt start takes one token.

Order and starvation
    The ready queue keeps one heap per request, so only each heap's head is asked whether it
    fits, best first; a head that does not fit does not block smaller heads behind it. A head
    that has waited ``STARVE_AFTER_S`` seconds for a resource or a token holds the run's one
    reservation (the one that has waited longest): while it does, nothing else that names any
    of its resources is admitted, so what those resources free up goes to it; tasks that share
    no name with it still start, and it takes the first worker slot once it fits. So a task
    waits at most the bound, plus the time the attempts holding its resources take to end,
    plus the same for each task that held the reservation before it.

Waking
    Nothing polls. A release happens inside a scheduler step, which dispatches right after; a
    head short of tokens leaves ``wake_at``, the time its bucket's next token is due, for the
    scheduler to arm as a timer.

Figures
    Per name: the peak and the time-weighted mean in use, and the total time tasks waited for
    it (a task's wait, from when it was first found unable to start to its admission, counts
    for the name that stopped it first).
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING

from ..clock import Clock
from ..model.policy import OrchestrationPolicy
from ..model.resources import RateLimit, Request, ResourceUsage
from ..telemetry.events import EventType
from .emitter import RunEvents
from .records import TaskRecord
from .state import TaskState

if TYPE_CHECKING:
    from .ready import ReadyQueue

__all__ = ["Admission", "TokenBucket", "STARVE_AFTER_S"]

STARVE_AFTER_S = 1.0
_EPS = 1e-9  # float slack: amounts are summed and tokens refilled in floating point


class TokenBucket:
    """``limit.size`` tokens at most, refilled at ``limit.per_second``; ``pause`` empties it
    until a time, after which one start may go at once and the refill goes on."""

    __slots__ = ("limit", "tokens", "stamp", "paused_until")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.size
        self.stamp = now  # the time ``tokens`` was counted at
        self.paused_until = -math.inf

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.limit.size,
                              self.tokens + (now - self.stamp) * self.limit.per_second)
            self.stamp = now

    def due(self, now: float) -> float:
        """When the next token is there (``now`` if it is)."""
        if now < self.paused_until:
            return self.paused_until
        self._refill(now)
        if self.tokens >= 1.0 - _EPS:
            return now
        return self.stamp + (1.0 - self.tokens) / self.limit.per_second

    def take(self, now: float) -> None:
        """Take one token (the caller checked ``due``). Mutates."""
        self._refill(now)
        self.tokens -= 1.0

    def pause(self, now: float, until: float) -> bool:
        """No token before ``until``; whether this moved the pause later. Mutates."""
        if until <= max(now, self.paused_until):
            return False
        self._refill(now)
        self.paused_until = until
        self.tokens = 1.0
        self.stamp = until
        return True


class _Usage:
    __slots__ = ("in_use", "peak", "area", "since", "waited")

    def __init__(self, now: float) -> None:
        self.in_use = 0.0
        self.peak = 0.0
        self.area = 0.0  # integral of in_use over time
        self.since = now
        self.waited = 0.0

    def change(self, delta: float, now: float) -> None:
        self.area += self.in_use * (now - self.since)
        self.since = now
        use = self.in_use + delta
        self.in_use = 0.0 if abs(use) < _EPS else use
        self.peak = max(self.peak, self.in_use)


class Admission:
    """The capacities, what is in use, the token buckets and who waits for what."""

    def __init__(self, policy: OrchestrationPolicy, clock: Clock, events: RunEvents) -> None:
        now = clock.now()
        self.clock = clock
        self.events = events
        self.capacity: dict[str, float] = dict(policy.resources)
        for name in policy.rate_limits:
            self.capacity.setdefault(name, math.inf)
        self.buckets = {name: TokenBucket(limit, now)
                        for name, limit in policy.rate_limits.items()}
        self.usage = {name: _Usage(now) for name in self.capacity}
        self.held: dict[int, Request] = {}  # ticket -> what its attempt holds
        self.waiting: dict[str, tuple[float, str, str]] = {}  # task id -> (since, name, kind)
        # (since, mark order, record) of every waiting mark, oldest first; stale entries are
        # dropped when met (``_reservation``).
        self._oldest: list[tuple[float, int, TaskRecord]] = []
        self._marks = itertools.count()
        self.wake_at: float | None = None  # the next token due that a head waits for
        self.used = False  # whether any attempt held a resource

    # -- choosing ------------------------------------------------------------------------------

    def choose(self, ready: ReadyQueue, plain_only: bool) -> TaskRecord | None:
        """Pop the best ready task that may start now, or None (``plain_only``: only a task
        that names no resource, e.g. one queued behind a busy worker). Mutates."""
        if ready.plain_only:
            return ready.pop(())  # the common case: nobody asks for resources
        now = self.clock.now()
        self.wake_at = None
        reserved = None if plain_only else self._reservation(ready, now)
        names: frozenset[str] = frozenset()
        if reserved is not None:
            if self._blocker(reserved, now) is None:
                return ready.pop(reserved.request)
            names = frozenset(name for name, _ in reserved.request)
        # name -> the smallest amount of it found not to fit in this pass (0: no token), so a
        # head asking as much or more is skipped without looking again.
        short: dict[str, float] = {}
        for rec in ready.heads():
            request = rec.request
            if not request:
                return ready.pop(request)
            if plain_only or rec is reserved:
                continue
            found = self._known_blocker(request, names, short)
            if found is None:
                found = self._blocker(rec, now)
                if found is None:
                    return ready.pop(request)
                name, kind = found
                amount = 0.0 if kind == "rate" else dict(request)[name]
                short[name] = min(short.get(name, amount), amount)
            if rec.spec.id not in self.waiting:
                self._mark_waiting(ready, rec, found[0], found[1], now)
        return None

    @staticmethod
    def _known_blocker(request: Request, names: frozenset[str],
                       short: dict[str, float]) -> tuple[str, str] | None:
        """What this pass already knows stops ``request``: a reserved name, or an amount at
        least as large as one that did not fit."""
        for name, amount in request:
            if name in names:
                return name, "reserved"
            least = short.get(name)
            if least is not None and amount >= least - _EPS:
                return name, "capacity" if least else "rate"
        return None

    def _reservation(self, ready: ReadyQueue, now: float) -> TaskRecord | None:
        """The head of the request of the task that has waited longest (of equal waits, the
        first marked), once it has waited ``STARVE_AFTER_S`` or more; None before."""
        oldest = self._oldest
        while oldest:
            since, _, rec = oldest[0]
            mark = self.waiting.get(rec.spec.id)
            if mark is None or mark[0] != since or rec.state is not TaskState.READY:
                heapq.heappop(oldest)  # admitted or ended since: stale
                continue
            if since > now - STARVE_AFTER_S:
                return None
            head = ready.head(rec.request)
            if head is None:
                heapq.heappop(oldest)
                continue
            return head
        return None

    def _blocker(self, rec: TaskRecord, now: float) -> tuple[str, str] | None:
        """The first name ``rec`` cannot have now and why (``"capacity"``: not enough free;
        ``"rate"``: no token yet), or None."""
        usage = self.usage
        capacity = self.capacity
        for name, amount in rec.request:
            if usage[name].in_use + amount > capacity[name] + _EPS:
                return name, "capacity"
        for name, _ in rec.request:
            bucket = self.buckets.get(name)
            if bucket is not None:
                due = bucket.due(now)
                if due > now:
                    self.wake_at = due if self.wake_at is None else min(self.wake_at, due)
                    return name, "rate"
        return None

    def _mark_waiting(self, ready: ReadyQueue, head: TaskRecord, name: str, kind: str,
                      now: float) -> None:
        """``head`` cannot start for ``name``: so cannot any task with its request; each is
        marked (and announced) once. Mutates."""
        for rec in ready.members(head.request):
            if rec.spec.id not in self.waiting:
                self._joined(rec, name, kind, now)

    def _joined(self, rec: TaskRecord, name: str, kind: str, now: float) -> None:
        """``rec`` waits for ``name`` from ``now``: one ``task.waiting``. Mutates."""
        self.waiting[rec.spec.id] = (now, name, kind)
        heapq.heappush(self._oldest, (now, next(self._marks), rec))
        if self.events.handler is not None:
            capacity = self.capacity[name]
            self.events.task_event(EventType.TASK_WAITING, rec, reason=name, data={
                "resource": name, "kind": kind, "amount": dict(rec.request)[name],
                "in_use": self.usage[name].in_use,
                "capacity": None if math.isinf(capacity) else capacity})

    def queued(self, rec: TaskRecord, head: TaskRecord) -> None:
        """``rec`` joined the ready queue behind ``head`` (same request): if ``head`` waits,
        so does ``rec``. Mutates."""
        mark = self.waiting.get(head.id)
        if mark is not None and rec is not head and rec.spec.id not in self.waiting:
            self._joined(rec, mark[1], mark[2], self.clock.now())

    # -- holding -------------------------------------------------------------------------------

    def take(self, ticket: int, rec: TaskRecord) -> None:
        """The attempt ``ticket`` of ``rec`` was accepted: it holds its request. Mutates."""
        mark = self.waiting.pop(rec.spec.id, None)
        request = rec.request
        if not request:
            return
        now = self.clock.now()
        if mark is not None:
            self.usage[mark[1]].waited += now - mark[0]
        self.held[ticket] = request
        self.used = True
        for name, amount in request:
            self.usage[name].change(amount, now)
            bucket = self.buckets.get(name)
            if bucket is not None:
                bucket.take(now)

    def release(self, ticket: int) -> None:
        """The attempt ``ticket`` is gone: what it held is free. Mutates."""
        request = self.held.pop(ticket, None)
        if request is None:
            return
        now = self.clock.now()
        for name, amount in request:
            self.usage[name].change(-amount, now)

    def release_all(self) -> None:
        """Every attempt is gone (the run gave up waiting for its kills). Mutates."""
        for ticket in list(self.held):
            self.release(ticket)

    def forget_waiting(self) -> None:
        """The run stops: nobody waits any more. Mutates."""
        self.waiting.clear()
        self._oldest.clear()

    def pause(self, rec: TaskRecord, seconds: float) -> None:
        """``rec`` raised ``RetryAfter(seconds)``: pause every bucket it uses. Mutates."""
        now = self.clock.now()
        for name, _ in rec.request:
            bucket = self.buckets.get(name)
            if bucket is not None and bucket.pause(now, now + seconds):
                self.events.task_event(EventType.RATE_PAUSED, rec, reason=name, data={
                    "resource": name, "seconds": seconds})

    # -- figures -------------------------------------------------------------------------------

    def in_use(self) -> dict[str, float]:
        """name -> amount held now (every value 0 once the run is over)."""
        return {name: usage.in_use for name, usage in self.usage.items()}

    def figures(self, started_at: float, now: float) -> dict[str, ResourceUsage]:
        """name -> its usage over ``[started_at, now]``; only names some attempt held or some
        task waited for."""
        out: dict[str, ResourceUsage] = {}
        span = now - started_at
        for name, usage in self.usage.items():
            if usage.peak == 0 and usage.waited == 0:
                continue
            area = usage.area + usage.in_use * (now - usage.since)
            capacity = self.capacity[name]
            out[name] = ResourceUsage(None if math.isinf(capacity) else capacity, usage.peak,
                                      area / span if span > 0 else 0.0, usage.waited)
        return out
