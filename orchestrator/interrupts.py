"""Turn Ctrl-C and SIGTERM into a request the run loop handles at a safe point.

Raising ``KeyboardInterrupt`` from a signal handler can land between any two bytecodes of the
scheduler and leave its bookkeeping half-updated just when it must kill every worker. Instead,
while a run is in progress in the main thread, SIGINT and SIGTERM only record the signal and wake
the loop; the loop stops the run cleanly (workers and their trees killed, events flushed) and
then raises ``KeyboardInterrupt`` (``RunTerminated`` for SIGTERM) itself. Handlers the program
installed itself are left alone. The exception carries the partial result of the run it stopped
(``partial_result(exc)``): what finished keeps its value, what was cut short ends cancelled.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from .model.results import OrchestrationResult

__all__ = ["RunTerminated", "InterruptFlag", "interrupt_guard", "partial_result",
           "attach_partial_result"]

_PARTIAL = "orchestrator_partial_result"


class RunTerminated(KeyboardInterrupt):
    """The run was stopped by SIGTERM (a KeyboardInterrupt, so the same code paths clean up)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def attach_partial_result(exc: BaseException, result: OrchestrationResult) -> None:
    """Record on ``exc`` the result of the run it interrupted."""
    setattr(exc, _PARTIAL, result)


def partial_result(exc: BaseException) -> OrchestrationResult | None:
    """The result of the run that ``exc`` (a ``KeyboardInterrupt``) stopped, or None."""
    result: OrchestrationResult | None = getattr(exc, _PARTIAL, None)
    return result


class InterruptFlag:
    """Set by the signal handler (or by another thread, for async cancellation)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.cancelled = False

    @property
    def raised(self) -> bool:
        return self.signum is not None or self.cancelled

    def exception(self) -> KeyboardInterrupt:
        if self.signum == signal.SIGTERM:
            return RunTerminated(self.signum)
        return KeyboardInterrupt()


@contextmanager
def interrupt_guard(wakeup: Callable[[], None]) -> Iterator[InterruptFlag]:
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        flag.signum = signum
        wakeup()

    previous: dict[int, Any] = {}
    watched: tuple[tuple[int, Any], ...] = ((signal.SIGINT, signal.default_int_handler),
                                            (signal.SIGTERM, signal.SIG_DFL))
    for signum, default in watched:
        try:
            current = signal.getsignal(signum)
            if current is default:
                previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            pass
    try:
        yield flag
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
