"""A Scheduler wired to a ScriptedExecutor and a FakeClock, with short verbs for scheduler tests.

Every verb does what a test says (``finish``, ``fail``, ``crash``, ``advance``...) and then
``step``s the scheduler until the ScriptedExecutor has nothing more to report: a step handles an
outcome and dispatches more work or kills, and the executor reports those starts and deaths to
the next step. So after any verb, ``h.running`` and the scheduler's own states agree.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from orchestrator import OrchestrationPolicy, TaskGraph, TaskSpec
from orchestrator.model.results import OrchestrationResult, TaskError
from orchestrator.scheduler.loop import Scheduler
from orchestrator.scheduler.state import TaskState
from orchestrator.telemetry.sinks import MemorySink
from orchestrator.testing import FakeClock, ScriptedExecutor

NOOP = "workers.agents:noop"


def exactly(message: str) -> str:
    """An anchored regex matching ``message`` literally (for ``pytest.raises(match=...)``)."""
    return "^" + re.escape(message) + "$"


def t(task_id: str, *deps: str, **fields: Any) -> TaskSpec:
    """A task that depends on ``deps`` (its function never runs under ScriptedExecutor)."""
    return TaskSpec(task_id, NOOP, deps=deps, **fields)


class Harness:
    def __init__(self, tasks: Iterable[TaskSpec], *, workers: int = 2, flat: bool = False,
                 retain: bool = True, obey_kills: bool = True, start: bool = True,
                 on_event: Any = None, prefetch_below_s: float | None = None,
                 **policy: Any) -> None:
        policy.setdefault("max_concurrency", workers)
        self.policy = OrchestrationPolicy(**policy)
        self.clock = FakeClock()
        self.ex = ScriptedExecutor(self.policy.max_concurrency, obey_kills=obey_kills)
        if prefetch_below_s is not None:  # as an executor with a slower round trip says
            self.ex.prefetch_below_s = prefetch_below_s  # type: ignore[attr-defined]
        self.sink = MemorySink()
        source: Any = tasks if flat else TaskGraph(tasks)
        self.sched = Scheduler(source, self.policy, self.ex, self.clock,
                               on_event=self.sink if on_event is None else on_event,
                               retain=retain)
        self.ex.open(self.clock, self.policy.max_concurrency)
        self.completed: list[str] = []  # task ids in the order they reached a terminal state
        if start:
            self.start()

    # -- driving -------------------------------------------------------------------------------

    def start(self) -> list[str]:
        self.sched.start()
        return self.step()

    def step(self) -> list[str]:
        """Step until the executor is quiet; return the ids that reached a terminal state."""
        ids: list[str] = []
        for _ in range(1000):
            ids += [rec.id for rec in self.sched.step()]
            if not self.ex._events:  # what the next wait() would return
                break
        else:
            raise AssertionError("the scheduler and the executor keep exchanging events")
        self.completed += ids
        return ids

    def finish(self, task_id: str, value: Any = None, **kw: Any) -> list[str]:
        self.ex.finish(task_id, value, **kw)
        return self.step()

    def fail(self, task_id: str, error: TaskError | BaseException | str = "boom",
             **kw: Any) -> list[str]:
        self.ex.fail(task_id, error, **kw)
        return self.step()

    def crash(self, task_id: str, **kw: Any) -> list[str]:
        self.ex.crash(task_id, **kw)
        return self.step()

    def die(self, task_id: str) -> list[str]:
        self.ex.die(task_id)
        return self.step()

    def advance(self, seconds: float) -> list[str]:
        self.clock.advance(seconds)
        return self.step()

    def advance_to(self, when: float) -> list[str]:
        return self.advance(when - self.clock.now())

    # -- looking -------------------------------------------------------------------------------

    @property
    def running(self) -> list[str]:
        return self.ex.running()

    @property
    def done(self) -> bool:
        return self.sched.done

    def result(self) -> OrchestrationResult:
        return self.sched.result()

    def state(self, task_id: str) -> TaskState:
        # No public accessor gives a non-terminal task's state (TaskResult only has terminal
        # statuses), so look at the scheduler's record.
        return self.sched._records[task_id].state

    def states(self) -> dict[str, str]:
        """id -> state value of every task the scheduler holds."""
        return {tid: rec.state.value for tid, rec in self.sched._records.items()}

    def types(self, task_id: str | None = None) -> list[str]:
        return self.sink.types(task_id)
