"""The task fingerprint: one sha256 over everything that decides what a task returns.

In order, each part length-prefixed and type-tagged (``canonical.py``):

1. the key's format version (``KEY_FORMAT``: raise it when any part's encoding changes);
2. the function's identity: its import path, or ``module:qualname``;
3. its code fingerprint (``code.py``: bytecode without line numbers, closures, defaults, and
   the user code it reads, recursively) with the Python version, since bytecode is only
   comparable within one; or, when the task gives ``version="..."``, that string instead;
4. ``args`` and ``kwargs``, canonically encoded (a ``Ref`` is its upstream's fingerprint, so a
   change upstream reruns everything downstream of it);
5. the fingerprints of its explicit ``deps`` (a dependency without a Ref is still an input:
   it usually leaves something the task reads), sorted;
6. its timeout and retry policy, which decide what it may return.

If any part cannot be encoded the task is ``NotCacheable`` and the reason names the part. A
key is never silently partial (prefect#15861); the task simply runs.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping, Sequence

from ..model.policy import RetryPolicy
from ..model.spec import Ref, TaskSpec
from .canonical import Encoder, Handler, Unencodable
from .code import CodeFingerprints, identity
from .keys import Fingerprint, Key, NotCacheable
from .origin import PYTHON

__all__ = ["Fingerprinter", "KEY_FORMAT", "failed_upstream", "mapped_key"]

KEY_FORMAT = 1


def failed_upstream(task_id: str, status: str) -> NotCacheable:
    """The key to pass for an upstream that did not succeed: a Ref to it resolves to its
    ``TaskError`` (``on_failure="continue"``), which is no input to cache by."""
    return NotCacheable(f"task {task_id!r} {status}, so a Ref to it is its error, not a value")


def mapped_key(children: Sequence[tuple[str, Key | None]]) -> Key:
    """The key of a mapped task that succeeded: its value is its children's values in index
    order, so it is the children's keys in that order (each covers its element and the rest of
    its inputs). A downstream ``Ref`` to it is then keyed like any other, and a resume reuses it."""
    h = hashlib.sha256(b"orchestrator mapped task key %d\n" % KEY_FORMAT)
    for child_id, key in children:
        if not isinstance(key, Fingerprint):
            why = key.reason if isinstance(key, NotCacheable) else "it has no key"
            return NotCacheable(f"its child {child_id!r} is not cacheable: {why}")
        h.update(key.digest)
    return Fingerprint(h.digest())


class Fingerprinter:
    """Task fingerprints for one run. It remembers each function's code fingerprint (and
    what its globals held) for the run: a run has many tasks and few functions.

    ``handlers``: canonical encodings for more types, by exact type: a function from the
    value to something encodable (a tuple of its defining fields, say).
    """

    def __init__(self, handlers: Mapping[type, Handler] | None = None) -> None:
        self._code = CodeFingerprints(handlers)
        self._resolved: dict[str, Any] = {}
        # Parts most tasks of a run share (its function, its retry policy), encoded once:
        # id -> (the object, kept so the id stays its own; its bytes or why it has none).
        self._shared: dict[int, tuple[Any, bytes | Unencodable]] = {}
        # One encoder for the run, its Refs resolved against the task being keyed (the loop's
        # thread owns it): making one per task, and encoding the empty kwargs and deps and the
        # same timeout again each time, was half of a task's key (~50 us of ~100 us).
        self._upstream: Mapping[str, Key] = {}
        self._enc = self._code.encoder(self._ref)
        self._no_kwargs = self._enc.encode({}, "kwargs")
        self._no_deps = self._enc.encode([], "deps")
        self._timeouts: dict[tuple[type, float | None], bytes] = {}

    def task(self, spec: TaskSpec, upstream: Mapping[str, Key] | None = None, *,
             timeout: float | None = None, retry: RetryPolicy | None = None,
             version: str | None = None) -> Key:
        """The key of ``spec`` as it will run: ``timeout``/``retry`` are the effective ones
        (the task's, else the run's); ``upstream`` maps each task it depends on to its key
        (use ``failed_upstream`` for one that did not succeed)."""
        self._upstream = upstream or {}
        try:
            return Fingerprint(self._digest(spec, timeout, retry, version))
        except Unencodable as exc:
            return NotCacheable(str(exc))
        finally:
            self._upstream = {}

    def _ref(self, task_id: str) -> bytes:
        key = self._upstream.get(task_id)
        if isinstance(key, Fingerprint):
            return key.digest
        if key is None:
            raise Unencodable(f"Ref({task_id!r}): no key was given for task {task_id!r}")
        raise Unencodable(f"Ref({task_id!r}) stands for task {task_id!r}, which is not "
                          f"cacheable")

    def _digest(self, spec: TaskSpec, timeout: float | None, retry: RetryPolicy | None,
                version: str | None) -> bytes:
        enc = self._enc
        h = hashlib.sha256(b"orchestrator task key %d\n" % KEY_FORMAT)
        h.update(self._function_part(spec.fn, version))
        h.update(enc.encode(spec.args, "args"))
        kwargs, deps = spec.kwargs, spec.deps
        h.update(enc.encode(dict(kwargs), "kwargs") if kwargs else self._no_kwargs)
        h.update(enc.encode(sorted(enc.encode(Ref(dep), f"deps[{i}]")
                                   for i, dep in enumerate(deps)), "deps") if deps
                 else self._no_deps)
        h.update(self._timeout(timeout))
        h.update(self._shared_part(retry, lambda: enc.encode(retry, "retry")))
        return h.digest()

    def _timeout(self, timeout: float | None) -> bytes:
        """The encoding of ``timeout`` (a run has few distinct ones), remembered."""
        memo = (type(timeout), timeout)  # 60 and 60.0 encode apart
        found = self._timeouts.get(memo)
        if found is None:
            found = self._timeouts[memo] = self._enc.encode(timeout, "timeout")
        return found

    def _function_part(self, fn: Any, version: str | None) -> bytes:
        """Identity, then the code fingerprint or the ``version`` string."""

        def name(enc: Encoder) -> bytes:
            return enc.encode(fn if isinstance(fn, str) else _identity(fn), "fn")

        if version is not None:
            enc = self._code.encoder(_no_refs)
            return name(enc) + b"v" + enc.encode(version, "version")

        def make() -> bytes:
            enc = self._code.encoder(_no_refs)
            return (name(enc) + b"c" + enc.encode(PYTHON, "fn")
                    + enc.encode(self._resolve(fn), "fn"))

        return self._shared_part(fn, make)

    def _shared_part(self, obj: Any, make: Callable[[], bytes]) -> bytes:
        memo = self._shared.get(id(obj))
        if memo is None:
            try:
                part: bytes | Unencodable = make()
            except Unencodable as exc:
                part = exc
            memo = self._shared[id(obj)] = (obj, part)
        if isinstance(memo[1], Unencodable):
            raise Unencodable(memo[1].what, memo[1].path)  # a copy: never alter the memo
        return memo[1]

    def _resolve(self, fn: Any) -> Any:
        """The callable behind an import path (imported here, as the CLI's check already
        does before a run), else ``fn``."""
        if not isinstance(fn, str):
            return fn
        if fn not in self._resolved:
            from workers.resolve import resolve

            try:
                self._resolved[fn] = resolve(fn)
            except ImportError as exc:
                self._resolved[fn] = Unencodable(f"cannot import it: {exc}")
        found = self._resolved[fn]
        if isinstance(found, Unencodable):
            raise Unencodable(found.what, "fn")
        return found


def _no_refs(task_id: str) -> bytes:
    raise Unencodable(f"Ref({task_id!r}) outside a task's arguments")


def _identity(fn: Any) -> str:
    target = getattr(fn, "__func__", None) or getattr(fn, "func", None) or fn
    if not callable(target) or not hasattr(target, "__qualname__"):
        target = type(fn)
    return identity(target)

