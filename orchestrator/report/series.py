"""Use over time as a step function: how many attempts run (or how much of a resource is held)
from each instant on, built from the spans that hold it."""

from __future__ import annotations

from typing import Iterable

__all__ = ["Series", "step_series", "peak"]

Series = tuple[tuple[float, float], ...]
"""``((t, value), ...)``: ``value`` holds from ``t`` until the next point's ``t``."""


def step_series(spans: Iterable[tuple[float, float, float]]) -> Series:
    """The sum of ``amount`` over the spans ``(start, end, amount)`` that hold at each instant.

    A span holds on ``[start, end)``: one that ends when another starts on the same worker is
    not counted twice. One point per instant where the sum changes, starting at the first start.
    """
    changes: dict[float, float] = {}
    for start, end, amount in spans:
        if end <= start:
            continue
        changes[start] = changes.get(start, 0.0) + amount
        changes[end] = changes.get(end, 0.0) - amount
    out: list[tuple[float, float]] = []
    level = 0.0
    for t in sorted(changes):
        level += changes[t]
        level = round(level, 9)  # sums of float amounts must come back to exactly 0
        if not out or out[-1][1] != level:
            out.append((t, level))
    return tuple(out)


def peak(series: Series) -> float:
    """The largest value of ``series`` (0 for an empty one)."""
    return max((v for _, v in series), default=0.0)
