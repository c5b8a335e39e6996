"""Task functions for the futures suite: module-level, so both the stdlib's pool and ours can
pickle them. Blocking ones wait on a file the test creates (no sleeps in the test itself).
And ``tracked_reachable``, what a future costs the garbage collector."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path


def square(x: int) -> int:
    return x * x


def mul(x: int, y: int = 1) -> int:
    return x * y


def raise_value(message: str) -> None:
    raise ValueError(message)


def raise_at(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x


def getpid() -> int:
    return os.getpid()


def block(ready: str | None, release: str, value: object = None, limit: float = 60.0) -> object:
    """Say it runs (a file at ``ready``), then wait until ``release`` exists (at most
    ``limit`` seconds: a stuck test ends)."""
    if ready is not None:
        Path(ready).write_text(str(os.getpid()))
    end = time.monotonic() + limit
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.005)
    return value


def block_on(x: int, blocked: int, release: str) -> int:
    """``x``, but item ``blocked`` waits for ``release``."""
    if x == blocked:
        block(None, release)
    return x


class Holder:
    """A picklable object whose bound method is submitted (the stale-reference check)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def get(self) -> int:
        return self.value


class Payload:
    """A result that can be weakly referenced."""

    def __init__(self, n: int) -> None:
        self.n = n


def make_payload(n: int) -> Payload:
    return Payload(n)


def wait_at_zero(x: int, release: str) -> int:
    """``x``; item 0 waits for ``release`` (so no chunk after it can be measured yet)."""
    if x == 0:
        block(None, release)
    return x


def log(path: str, tag: str) -> str:
    """Append ``tag`` to the file at ``path`` (the order tasks ran in)."""
    with open(path, "a") as f:
        f.write(tag + "\n")
    return tag


def tracked_reachable(obj: object) -> int:
    """Objects the garbage collector tracks that ``obj`` holds, itself included (not through
    classes and modules, which every future shares)."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type) or not gc.is_tracked(item):
            continue
        seen.add(id(item))
        stack.extend(gc.get_referents(item))
    return len(seen)
