"""Ctrl-C during a run is honoured at a safe point, gates included (in-process, no workers)."""

from __future__ import annotations

import os
import signal

import pytest

from orchestrator import InlineExecutor, OrchestrationPolicy, TaskSpec, execute_parallel
from orchestrator.interrupts import partial_result


def test_ctrl_c_during_a_gate_stops_the_run_after_that_gate() -> None:
    judged: list[str] = []

    def interrupting_gate(result: object) -> bool:
        judged.append("first")
        os.kill(os.getpid(), signal.SIGINT)  # the guard only records it: this gate finishes
        return True

    def second_gate(result: object) -> bool:
        judged.append("second")
        return True

    with pytest.raises(KeyboardInterrupt) as info:
        execute_parallel([TaskSpec("a", "workers.agents:echo", args=(1,))],
                         OrchestrationPolicy(max_concurrency=1), executor=InlineExecutor(),
                         gates=[interrupting_gate, second_gate])
    assert judged == ["first"]
    partial = partial_result(info.value)
    assert partial is not None and partial["a"].value == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # guard restored
