"""A stand-in for a remote model call that fails transiently, for examples/flaky-batch.toml.

``classify`` scores a text against a few keyword lists (CPU work in place of the model) and
returns a label. The first ``failures`` attempts of a task raise ``TransientError`` (an
overloaded endpoint, say), so a retry policy with ``retry_on = ["TransientError"]`` sees every
task through, while any other exception would not be retried. Failures are planned per task,
not random, so the example's outcome is the same on every run. Like a real model call, each
attempt reports its token use and price (``current_task().report``), failed ones included, so the
run's cost (``orchestrator run ... ``: the metrics line) counts what the retries cost too.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..context import current_task

__all__ = ["TransientError", "classify", "LABELS", "PRICE_PER_1K_TOKENS"]

PRICE_PER_1K_TOKENS = 0.002  # a made-up list price, in dollars

LABELS: dict[str, tuple[str, ...]] = {
    "outage": ("down", "outage", "unavailable", "restart", "crash", "timeout", "error"),
    "billing": ("invoice", "charge", "refund", "payment", "price", "billing"),
    "feature": ("would like", "please add", "support for", "feature", "option", "request"),
}


class TransientError(Exception):
    """The (pretend) model endpoint could not answer this time; trying again may work."""


def classify(text: str, failures: int = 0, work: float = 0.05) -> dict[str, Any]:
    """Label ``text``; fail the first ``failures`` attempts; spend ``work`` CPU seconds."""
    task = current_task()
    attempt = task.attempt
    words = re.findall(r"[a-z']+", text.lower())
    task.report(tokens=len(words), cost=len(words) / 1000 * PRICE_PER_1K_TOKENS)
    if attempt <= failures:
        raise TransientError(f"model endpoint overloaded (attempt {attempt}, "
                             f"{failures} planned failures)")
    end = time.process_time() + work
    rounds = 0
    while time.process_time() < end:  # the "inference": hash the tokens until the budget is spent
        rounds += sum(hash((w, rounds)) & 1 for w in words) + 1
    lowered = " ".join(words)
    scores = {label: sum(lowered.count(k) for k in keys) for label, keys in LABELS.items()}
    label = max(scores, key=lambda k: (scores[k], k)) if any(scores.values()) else "other"
    total = sum(scores.values())
    return {"label": label, "confidence": round(scores.get(label, 0) / total, 2) if total else 0.0,
            "attempt": attempt, "tokens": len(words)}
