"""A mapped task's children: what ``Each`` expands into once its sequences are known.

Pure functions of a spec and the values its ``Each``s stand for; the scheduler
(``scheduler/expansion.py``) decides when to expand and runs the children. The rules:

* ``Each(Ref("plan"))``: ``plan``'s result must be a list or a tuple (a string is refused: it is
  a sequence, but mapping over characters is never what was meant). Child ``i`` has id
  ``"<task>[i]"`` and element ``i`` in the ``Each``'s place.
* ``Each(Each(x))`` maps two levels: child ``t[i]`` is itself mapped over element ``i`` of ``x``,
  so its children are ``t[i][j]``.
* Several ``Each``s in one task are zipped; sequences of different lengths are an error.
* More than ``limit`` elements (``OrchestrationPolicy.max_expansion``) is an error, and no child
  is made.
* A child is an ordinary ``TaskSpec``: everything else (``fn``, the other arguments, timeout,
  retry, priority, estimate, tags and any later field) is the mapped task's, and its ``deps`` are
  the mapped task's dependencies, all finished when it expands. An element is data: a ``Ref``
  inside one is passed as it is, not resolved. Its element sits in its
  ``args``/``kwargs``, so whatever identifies a task by its arguments (the store's fingerprint)
  tells the children apart by their elements.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .spec import Each, Ref, TaskSpec, find_refs

__all__ = ["ExpansionError", "child_id", "expand_spec"]


class ExpansionError(Exception):
    """A mapped task cannot expand; the message names the task, the source and what it got."""


def child_id(task_id: str, index: int) -> str:
    """The id of child ``index`` of mapped task ``task_id``: ``research[3]``, ``critique[3][1]``."""
    return f"{task_id}[{index}]"


def expand_spec(spec: TaskSpec, resolve: Callable[[str], Any], limit: int) -> list[TaskSpec]:
    """The children of mapped ``spec``, ``resolve(task_id)`` giving a ``Ref``'s value. Raises
    ``ExpansionError`` for a source that is not a list or tuple, zipped sequences of different
    lengths, or more than ``limit`` elements."""
    eaches: list[Each] = []
    _collect(spec.args, eaches)
    _collect(spec.kwargs, eaches)
    sequences: dict[int, Sequence[Any]] = {id(e): _sequence(spec.id, e, resolve) for e in eaches}
    lengths = {len(seq) for seq in sequences.values()}
    if len(lengths) > 1:
        told = ", ".join(f"{_describe(e)} has {len(sequences[id(e)])}" for e in eaches)
        raise ExpansionError(f"task {spec.id!r}: its zipped Each()s have different lengths "
                             f"({told})")
    n = lengths.pop() if lengths else 0
    if n > limit:
        raise ExpansionError(f"task {spec.id!r}: {_describe(eaches[0])} has {n} elements, more "
                             f"than max_expansion={limit}; no child was started")
    deps = spec.all_deps
    # The Refs outside the Eaches stay; an element is data (a Ref inside one is not resolved).
    refs = tuple(dict.fromkeys(find_refs(_swap(spec.args, _blank))
                               + find_refs(_swap(spec.kwargs, _blank))))
    nested = eaches[0].depth > 1
    arguments = _top_level(spec, eaches, sequences) or _anywhere(spec, sequences)
    return [spec.derive(child_id(spec.id, i), *arguments(i), deps, refs, nested)
            for i in range(n)]


Arguments = Callable[[int], tuple[tuple[Any, ...], dict[str, Any]]]


def _anywhere(spec: TaskSpec, sequences: dict[int, Sequence[Any]]) -> Arguments:
    """Child ``i``'s arguments: a copy of the mapped task's with each ``Each`` swapped for its
    ``i``-th element, wherever it sits."""
    def arguments(i: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        def place(e: Each) -> Any:
            return _replace(e, sequences[id(e)][i])
        return _swap(spec.args, place), _swap(spec.kwargs, place)
    return arguments


def _top_level(spec: TaskSpec, eaches: list[Each], sequences: dict[int, Sequence[Any]],
               ) -> Arguments | None:
    """``_anywhere``'s result for the usual shape, each ``Each`` an argument of its own and
    nothing else to copy (a plain tuple and dict, the other arguments no containers): the
    positions are found once, not per child (a third of what expanding cost). None if the
    shape is another."""
    args, kwargs = spec.args, spec.kwargs
    if type(args) is not tuple or type(kwargs) is not dict:
        return None
    values = list(args) + list(kwargs.values())
    if any(isinstance(v, _CONTAINERS) for v in values) or sum(
            isinstance(v, Each) for v in values) != len(eaches):
        return None
    at = [(p, sequences[id(x)], x) for p, x in enumerate(args) if isinstance(x, Each)]
    named = [(k, sequences[id(x)], x) for k, x in kwargs.items() if isinstance(x, Each)]

    def arguments(i: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        child_args = list(args)
        for p, seq, e in at:
            child_args[p] = _replace(e, seq[i])
        child_kwargs = dict(kwargs)
        for k, seq, e in named:
            child_kwargs[k] = _replace(e, seq[i])
        return tuple(child_args), child_kwargs
    return arguments


_CONTAINERS = (list, tuple, set, frozenset, dict)  # what ``_swap`` walks into and copies


def _blank(e: Each) -> None:
    return None


def _innermost(e: Each) -> Each:
    while isinstance(e.source, Each):
        e = e.source
    return e


def _describe(e: Each) -> str:
    source = _innermost(e).source
    return f"the result of task {source.task_id!r}" if isinstance(source, Ref) else "its sequence"


def _sequence(task_id: str, e: Each, resolve: Callable[[str], Any]) -> list[Any] | tuple[Any, ...]:
    source = _innermost(e).source
    value = resolve(source.task_id) if isinstance(source, Ref) else source
    if isinstance(value, (list, tuple)):
        return value
    what = _describe(e)
    hint = ("; a string is not mapped over its characters (return a list)"
            if isinstance(value, (str, bytes)) else "")
    raise ExpansionError(f"task {task_id!r} is mapped over {what}, which is a "
                         f"{type(value).__name__}, not a list or tuple{hint}")


def _unchecked_each(source: Any) -> Each:
    """An ``Each`` over an element not checked yet: the child it sits in refuses it when it
    expands, with the child's id in the message."""
    e = object.__new__(Each)
    object.__setattr__(e, "source", source)
    return e


def _replace(e: Each, element: Any) -> Any:
    """What takes ``e``'s place in a child: the element, or one level less of ``Each``."""
    if not isinstance(e.source, Each):
        return element
    return _unchecked_each(_replace(e.source, element))


def _collect(obj: Any, out: list[Each]) -> None:
    if isinstance(obj, Each):
        out.append(obj)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for x in obj:
            _collect(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _collect(x, out)


def _swap(obj: Any, place: Callable[[Each], Any]) -> Any:
    """A copy of ``obj`` with every outermost ``Each`` replaced by ``place(each)``."""
    if isinstance(obj, Each):
        return place(obj)
    if isinstance(obj, list):
        return [_swap(x, place) for x in obj]
    if isinstance(obj, tuple):
        items = [_swap(x, place) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(_swap(x, place) for x in obj)
    if isinstance(obj, dict):
        return {k: _swap(v, place) for k, v in obj.items()}
    return obj
