"""Summaries of repeated measurements: median with its spread, percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from typing import Sequence, TypedDict

__all__ = ["Summary", "summarize", "percentile", "fmt", "ratios"]


class Summary(TypedDict):
    """A median of repetitions with its spread; ``samples`` keeps every raw value."""

    median: float
    min: float
    max: float
    n: int
    samples: list[float]


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summarize() needs at least one value")
    vals = [float(v) for v in values]
    return Summary(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals),
                   samples=vals)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile() needs at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q!r}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios of values measured side by side (repetition i with repetition i)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"ratios() needs paired samples, got {len(numerators)} and "
                         f"{len(denominators)}")
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d]


def fmt(summary: Summary, digits: int = 2, scale: float = 1.0) -> str:
    """``median (min-max)``; a single sample prints alone."""
    med = summary["median"] * scale
    if summary["n"] == 1:
        return f"{med:.{digits}f}"
    lo, hi = summary["min"] * scale, summary["max"] * scale
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"
