"""What a ``ProcessPool`` sends when a call cannot go as ``fn(*args)`` itself.

A worker keeps each function it was given for the whole run (by identity, so a function is sent
once). That is right for module-level functions, but it would keep a bound method's object, or
every new lambda, alive until the pool shuts down. Such callables travel inside a ``Packed``,
pickled with each task and dropped with it (as ``concurrent.futures`` does). Arguments that are
containers travel packed too: the parent then never walks them looking for ``Ref``s (a pool's
arguments are the user's, never a dependency), which for a ``map`` chunk of 100,000 items would
cost more than sending it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

__all__ = ["Packed", "call", "call_chunk"]


class Packed:
    """``fn`` with its arguments (for ``call_chunk``: ``args`` is the list of argument
    tuples), opaque to the parent's checks."""

    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        return (Packed, (self.fn, self.args, self.kwargs))


def call(packed: Packed) -> Any:
    return packed.fn(*packed.args, **packed.kwargs)


def call_chunk(packed: Packed) -> list[Any]:
    """``fn`` over a chunk of ``map``'s argument tuples, in order (one worker call)."""
    fn = packed.fn
    return [fn(*args) for args in packed.args]
