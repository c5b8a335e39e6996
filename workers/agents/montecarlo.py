"""A fan-out/fan-in simulation for examples/fan-out-fan-in.json: estimate pi by Monte Carlo.

``plan`` splits a number of samples into chunks with their own seeds; each ``simulate`` task
draws its chunk (pure-Python, CPU-bound); ``combine`` adds the counts up and gives the estimate
with its standard error; ``check`` fails when the estimate is further from pi than ``sigmas``
standard errors. Seeds make every run give the same numbers.
"""

from __future__ import annotations

import math
import random
from typing import Any, Mapping, Sequence

__all__ = ["plan", "simulate", "combine", "check"]


def plan(samples: int, chunks: int, seed: int = 0) -> dict[str, Any]:
    """Split ``samples`` into ``chunks`` nearly equal parts, each with its own seed."""
    if samples < 1 or chunks < 1:
        raise ValueError(f"samples and chunks must be >= 1, got {samples!r} and {chunks!r}")
    size, extra = divmod(samples, chunks)
    return {"chunks": [{"seed": seed * 1_000_003 + i, "samples": size + (i < extra)}
                       for i in range(chunks)]}


def simulate(plan: Mapping[str, Any], chunk: int) -> dict[str, int]:
    """Throw this chunk's points at the unit square; count those inside the quarter circle."""
    spec = plan["chunks"][chunk]
    rng = random.Random(spec["seed"])
    rand = rng.random
    inside = 0
    for _ in range(spec["samples"]):
        x, y = rand(), rand()
        inside += x * x + y * y <= 1.0
    return {"inside": inside, "samples": spec["samples"]}


def combine(parts: Sequence[Mapping[str, int]]) -> dict[str, Any]:
    """Pool every chunk: the estimate of pi and its standard error."""
    inside = sum(p["inside"] for p in parts)
    samples = sum(p["samples"] for p in parts)
    p = inside / samples
    return {"pi": 4 * p, "stderr": 4 * math.sqrt(p * (1 - p) / samples), "samples": samples,
            "chunks": len(parts)}


def check(estimate: Mapping[str, Any], sigmas: float = 4.0) -> str:
    """Fail unless the estimate is within ``sigmas`` standard errors of pi."""
    off = abs(estimate["pi"] - math.pi)
    if off > sigmas * estimate["stderr"]:
        raise ValueError(f"estimate {estimate['pi']:.5f} is {off:.5f} from pi, more than "
                         f"{sigmas} standard errors ({estimate['stderr']:.5f})")
    return (f"pi ~ {estimate['pi']:.5f} +/- {estimate['stderr']:.5f} from "
            f"{estimate['samples']} samples in {estimate['chunks']} chunks")
