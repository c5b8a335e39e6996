"""Signal a set of processes deepest first, skipping those already gone.

Shared by the worker (its leftovers, its own tree when the parent dies), the reaper and the
parent's ``orchestrator.executors.local.kill``. Import it lazily in a worker: psutil costs
~10 ms to import.
"""

from __future__ import annotations

import signal
from typing import Sequence

import psutil

__all__ = ["signal_all"]


def signal_all(procs: Sequence[psutil.Process], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to ``procs``, given in psutil's ``children(recursive=True)`` order (parents
    before their children); sent in reverse, so nobody re-spawns what was just killed.
    psutil checks each pid still belongs to the process it names."""
    for proc in reversed(procs):
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass
