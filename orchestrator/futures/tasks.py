"""How a pool call becomes a ``TaskSpec``: its id, the function sent, the per-task options.

A plain module-level function with plain arguments is sent as itself (a worker keeps the
function for the run: sent once). Anything else (a bound method, a lambda, a closure, a
callable object; container arguments; a ``map`` chunk) travels packed, as the argument of
``workers.calls.call``: the worker and the parent drop it with its task, and the parent never
walks the arguments (``workers/calls.py`` says why).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from workers.calls import Packed

from ..model.policy import OrchestrationPolicy, RetryPolicy
from ..model.resources import check_fits
from ..model.spec import TaskSpec

__all__ = ["Options", "task_spec"]

_CALL = "workers.calls:call"
_CALL_CHUNK = "workers.calls:call_chunk"


@dataclass(frozen=True)
class Options:
    """Per-task settings (``ProcessPool.options``); ``chunk``: a ``map`` chunk's argument
    tuples, the task then being ``fn`` over each."""

    timeout: float | None = None
    retry: RetryPolicy | None = None
    priority: int = 0
    tags: Mapping[str, Any] = field(default_factory=dict)
    chunk: list[tuple[Any, ...]] | None = None
    # A TaskSpec with these settings, validated once: each call's spec is a copy of it with
    # its id, function and arguments (``task_spec``).
    template: TaskSpec = field(default_factory=lambda: TaskSpec(id="options", fn=_CALL),
                               repr=False, compare=False)

    @classmethod
    def make(cls, *, timeout: float | None, retry: RetryPolicy | None,
             resources: Mapping[str, float] | None, priority: int,
             tags: Mapping[str, Any] | None, policy: OrchestrationPolicy) -> Options:
        """Checked settings: a bad one raises here, naming it, before anything is submitted
        (a resource the pool has no capacity for, or more of it than there is, too: such a
        task could never start)."""
        probe = TaskSpec(id="options", fn=_CALL, timeout=timeout, retry=retry,
                         priority=priority, tags=dict(tags or {}), resources=dict(resources or {}))
        check_fits(probe, policy.resources, policy.rate_limits)
        return cls(timeout=probe.timeout, retry=probe.retry, priority=probe.priority,
                   tags=probe.tags, template=probe)

    def with_chunk(self, chunk: list[tuple[Any, ...]]) -> Options:
        return replace(self, chunk=chunk)


_PLAIN = (int, float, str, bytes, bool, type(None))


def _sent_as_itself(fn: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """A module-level function (kept by a worker for the run without keeping alive anything a
    user drops) with arguments that are not containers (nothing to walk)."""
    if not (isinstance(fn, types.FunctionType) and fn.__closure__ is None
            and "<" not in fn.__qualname__ and "." not in fn.__qualname__):
        return False
    for a in args:  # loops, not all(): a generator costs more than the check, once a submit
        if type(a) not in _PLAIN:
            return False
    if kwargs:
        for v in kwargs.values():
            if type(v) not in _PLAIN:
                return False
    return True


def task_spec(n: int, fn: Callable[..., Any], args: tuple[Any, ...],
              kwargs: Mapping[str, Any], options: Options) -> TaskSpec:
    """The ``n``-th call's task."""
    if not callable(fn):
        raise TypeError(f"{fn!r} is not callable")
    name = getattr(fn, "__name__", None) or type(fn).__name__
    chunk = options.chunk
    if chunk is not None:
        task_id = f"{name}[{len(chunk)}]-{n}"
        target: Any = _CALL_CHUNK
        args, kwargs = (Packed(fn, chunk, {}),), {}
    elif _sent_as_itself(fn, args, kwargs):
        task_id = f"{name}-{n}"
        target = fn
    else:
        task_id = f"{name}-{n}"
        target = _CALL
        args, kwargs = (Packed(fn, args, kwargs),), {}
    return _copy(options.template, task_id, target, args, kwargs)


def _copy(template: TaskSpec, task_id: str, fn: Any, args: tuple[Any, ...],
          kwargs: Mapping[str, Any]) -> TaskSpec:
    """``template`` with another id, function and arguments, without ``TaskSpec``'s checks
    (13x cheaper: most of what a submit cost). Sound because the template passed them, and
    what differs is checked here: the id is ours, ``fn`` is callable or the import path of
    ``workers.calls``, and the arguments are plain values or one ``Packed`` (no ``Ref`` in
    them, no container to copy)."""
    spec: TaskSpec = object.__new__(TaskSpec)
    state = spec.__dict__
    state.update(template.__dict__)
    state["id"] = task_id
    state["fn"] = fn
    state["args"] = args
    state["kwargs"] = dict(kwargs)
    return spec
