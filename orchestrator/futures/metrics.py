"""``ProcessPool.metrics()``: the run's figures so far, kept as running sums (a pool forgets
each task once its future is set, so the figures cannot be derived from stored results). The
definitions are ``RunMetrics``'s (``telemetry/metrics.py``)."""

from __future__ import annotations

import threading

from ..clock import Clock
from ..model.results import RunMetrics
from ..scheduler.records import TaskRecord
from ..scheduler.state import TaskState

__all__ = ["MetricsSoFar"]


class MetricsSoFar:
    """Sums over the tasks that ended, updated on the loop thread, read from any thread."""

    def __init__(self, workers: int, clock: Clock) -> None:
        self._workers = workers
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock.now()
        self._ended: float | None = None
        self._serial = 0.0
        self._cpu = 0.0
        self._longest = 0.0
        self._attempts = 0
        self._attempted = 0
        self._retries = 0
        self._counts: dict[TaskState, int] = {}

    def add(self, records: list[TaskRecord]) -> None:
        """Count the tasks that ended (a step's: one lock for all)."""
        counts = self._counts
        serial = cpu = 0.0  # summed in locals, stored once: this runs over every task
        attempts = attempted = retries = 0
        with self._lock:  # ``snapshot`` reads from other threads
            longest = self._longest
            for rec in records:
                busy = rec.busy_time
                serial += busy
                if busy > longest:
                    longest = busy
                if rec.cpu_time:
                    cpu += rec.cpu_time
                if rec.attempt:
                    attempts += rec.attempt
                    attempted += 1
                if rec.retry_delays:
                    retries += len(rec.retry_delays)
                state = rec.state  # the member: ``.value`` is a Python property
                counts[state] = counts.get(state, 0) + 1
            self._serial += serial
            self._longest = longest
            self._cpu += cpu
            self._attempts += attempts
            self._attempted += attempted
            self._retries += retries

    def end(self) -> None:
        self._ended = self._clock.now()

    def snapshot(self) -> RunMetrics:
        with self._lock:
            wall = (self._ended if self._ended is not None else self._clock.now()) - self._started
            workers = self._workers
            used = max(1, min(workers, self._attempted)) if self._attempted else max(1, workers)
            parallelism = self._serial / wall if wall > 0 else 0.0  # busy/wall
            return RunMetrics(
                wall_time=wall, serial_time=self._serial, parallelism=parallelism,
                efficiency=parallelism / used,
                utilization=self._serial / (workers * wall) if wall > 0 and workers else 0.0,
                workers=workers, tasks=sum(self._counts.values()), attempts=self._attempts,
                retries=self._retries,
                counts={state.value: n for state, n in self._counts.items()},
                critical_path=self._longest,  # a flat batch: its longest task
                cpu_time=self._cpu)
