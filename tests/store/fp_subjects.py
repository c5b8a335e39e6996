"""Functions and values to fingerprint, here and in child processes (the cross-process and
hash-seed test prints ``keys()`` in several interpreters and compares)."""

from __future__ import annotations

import dataclasses
import enum
import threading
from typing import Any

from orchestrator.model.policy import RetryPolicy
from orchestrator.model.spec import Ref, TaskSpec
from orchestrator.store.fingerprint import Fingerprinter
from orchestrator.store.keys import Key

LIMIT = 3
LOCK = threading.Lock()
TABLE = {"alpha": {"x", "y", "z"}, "beta": frozenset({"p", "q"})}


def helper(x: int) -> int:
    return x * LIMIT


@dataclasses.dataclass(frozen=True)
class Params:
    n: int = 1
    names: tuple[str, ...] = ()

    def scaled(self) -> int:
        return self.n * 2


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def task(x: Any, p: Params = Params(), *, k: Any = None) -> Any:
    return helper(len(str(x))) + p.scaled() + len(TABLE)


def uses_lock(x: int) -> int:
    with LOCK:
        return x


def make(n: int) -> Any:
    def inner(x: int) -> int:
        return x + n
    return inner


def specs() -> list[TaskSpec]:
    words = {"apple", "pear", "fig", "kiwi", "plum", "date", "lime"}
    return [
        TaskSpec("a", task, args=(1,)),
        TaskSpec("b", task, args=({"k": words, "n": [1, 2.5, None, True]},),
                 kwargs={"k": frozenset(words)}),
        TaskSpec("c", task, args=(Params(3, ("u", "v")),), kwargs={"k": Color.BLUE}),
        TaskSpec("d", "tests.store.fp_subjects:task", args=(b"raw", (1, (2, 3)))),
        TaskSpec("e", make(7), args=(1,)),
        TaskSpec("f", task, args=(Ref("a"),), deps=("c",)),
    ]


def keys() -> list[Key]:
    fingerprinter = Fingerprinter()
    out: dict[str, Key] = {}
    for spec in specs():
        out[spec.id] = fingerprinter.task(spec, out, timeout=5.0, retry=RetryPolicy(3))
    return list(out.values())

