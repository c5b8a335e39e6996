"""``run_until_quiet``: the test kit's stepper, driven here by a stand-in for the scheduler (the
scheduler's own tests use the real one)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from orchestrator.executors.base import Attempt, AttemptFinished, AttemptStarted
from orchestrator.testing import FakeClock, ScriptedExecutor, run_until_quiet


@dataclass
class _Record:
    id: str


class _Chain:
    """Runs ``ids`` one after another: each finish is reported by the next step, which
    submits the next id; the executor reports that start to the step after."""

    def __init__(self, ex: ScriptedExecutor, ids: list[str]) -> None:
        self.ex = ex
        self.todo = list(ids)
        self.seen: list[type] = []
        self.steps = 0
        self._submit()

    def _submit(self) -> None:
        if self.todo:
            task_id = self.todo.pop(0)
            self.ex.submit(Attempt(len(self.todo), task_id, 1, "workers.agents:noop", (), {}))

    def step(self, timeout: float | None = 0.0) -> list[_Record]:
        self.steps += 1
        done: list[_Record] = []
        for event in self.ex.wait(timeout):
            self.seen.append(type(event))
            if isinstance(event, AttemptFinished):
                done.append(_Record(self.ex.submitted[-1]))
                self._submit()
        return done


def _executor() -> ScriptedExecutor:
    ex = ScriptedExecutor(workers=1)
    ex.open(FakeClock(), 1)
    return ex


def test_steps_until_the_executor_is_quiet_and_returns_the_finished_ids() -> None:
    ex = _executor()
    chain = _Chain(ex, ["a", "b"])
    assert run_until_quiet(chain, ex) == []
    assert (chain.steps, chain.seen, ex.quiet) == (1, [AttemptStarted], True)
    ex.finish("a")
    assert not ex.quiet
    assert run_until_quiet(chain, ex) == ["a"]
    # the finish, then b's start reported to a second step
    assert chain.steps == 3 and chain.seen[1:] == [AttemptFinished, AttemptStarted]
    assert ex.running() == ["b"] and ex.quiet


def test_gives_up_when_the_two_never_settle() -> None:
    ex = _executor()

    class _Restless:
        def step(self, timeout: float | None = 0.0) -> list[_Record]:
            ex.wait(timeout)
            ex.crash(ex.running()[0])  # a new worker starts; the task waits for it
            ex.submit(Attempt(0, "a", 1, "workers.agents:noop", (), {}))
            return []

    ex.submit(Attempt(0, "a", 1, "workers.agents:noop", (), {}))
    message = "the scheduler and the executor still exchange events after 5 steps"
    with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
        run_until_quiet(_Restless(), ex, max_steps=5)
