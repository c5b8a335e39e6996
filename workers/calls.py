"""What a ``ProcessPool`` sends when the task function is not a plain module-level function.

A worker keeps each function it was given for the whole run (by identity, so a function is sent
once). That is right for module-level functions, but it would keep a bound method's object, or
every new lambda, alive until the pool shuts down. Such callables travel as an argument of
``call`` instead: pickled with each task, dropped with it (as ``concurrent.futures`` does).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

__all__ = ["call", "call_chunk"]


def call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    return fn(*args, **kwargs)


def call_chunk(fn: Callable[..., Any], chunk: Iterable[tuple[Any, ...]]) -> list[Any]:
    """``fn`` over a chunk of ``map``'s argument tuples, in order (one worker call)."""
    return [fn(*args) for args in chunk]
