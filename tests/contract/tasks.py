"""Task functions for the executor contract (imported inside workers too: keep it light)."""

from __future__ import annotations

from typing import Any

from workers import current_task


def whoami() -> tuple[str, int]:
    ctx = current_task()
    return ctx.id, ctx.attempt


def reporting(cost: float) -> str:
    ctx = current_task()
    ctx.report(cost=cost, tokens=3)
    ctx.report(cost=cost, model="m1")
    return "reported"


class Transient(ValueError):
    pass


def raise_transient(message: str) -> None:
    raise Transient(message)


def exits() -> None:
    raise SystemExit(4)


def error_type(value: Any) -> str:
    """Given a Ref to a failed task (on_failure='continue'), returns its error's type name."""
    return f"{type(value).__name__}:{value.type}"
