"""``RetryAfter``: what a task raises to say "try me again after this long" (an HTTP 429 with a
``Retry-After`` header). It lives here, with no imports, so a worker pays nothing for it; the
parent reads ``seconds`` back from the pickled exception (``orchestrator.model.resources``).
"""

from __future__ import annotations

import math

__all__ = ["RetryAfter", "RETRY_AFTER_TYPE"]

# The qualified name the worker's error capture records in the exception's type chain.
RETRY_AFTER_TYPE = "workers.retry.RetryAfter"


class RetryAfter(Exception):
    """Raise from a task: the attempt fails (retryable, whatever ``retry_on`` says), the next
    attempt waits at least ``seconds``, and every rate-limited resource the task holds pauses
    for that long for every task that uses it."""

    def __init__(self, seconds: float, message: str | None = None) -> None:
        if (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                or not math.isfinite(seconds) or seconds < 0):
            raise ValueError(f"RetryAfter: seconds must be a number >= 0, got {seconds!r}")
        self.seconds = float(seconds)
        self.detail = message
        text = f"retry after {self.seconds:g} s" + (f": {message}" if message else "")
        super().__init__(text)

    def __reduce__(self) -> tuple[type[RetryAfter], tuple[float, str | None]]:
        return (RetryAfter, (self.seconds, self.detail))
