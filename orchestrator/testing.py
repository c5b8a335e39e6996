"""The public kit for deterministic tests of the scheduler (ours and our users'): no processes,
no sleeps. ``FakeClock`` moves only when told; ``ScriptedExecutor`` lets the test decide every
outcome and its order; ``run_until_quiet`` steps a scheduler until nothing is left to happen;
``task_error`` builds the error a worker would report.
"""

from __future__ import annotations

from .clock import FakeClock
from .executors.scripted import ScriptedExecutor, run_until_quiet, task_error

__all__ = ["FakeClock", "ScriptedExecutor", "run_until_quiet", "task_error"]
