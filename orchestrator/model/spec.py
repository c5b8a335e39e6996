"""TaskSpec, Ref and Each: what to run, validated when it is built.

A ``TaskSpec`` is frozen and picklable. ``fn`` is a callable or an import path ``"pkg.mod:func"``
that the worker resolves. ``Ref("other")`` anywhere inside ``args``/``kwargs`` (also nested in
lists, tuples and dicts) stands for the result of task ``other``; it implies the dependency.
``Each(Ref("plan"))`` in the same places marks the task as *mapped*: it runs once per element of
``plan``'s result (``model/each.py`` builds the children; docs/workflow.md has the rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Union

from .errors import CycleError, SpecError, short_repr
from .resources import check_request

if TYPE_CHECKING:
    from .policy import RetryPolicy

__all__ = [
    "Ref", "Each", "TaskSpec", "TaskFn", "find_refs", "substitute_refs", "as_task_spec",
    "as_flat_task",
]

TaskFn = Union[Callable[..., Any], str]

# "package.module:attribute.path" - the form setuptools entry points use.
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


@dataclass(frozen=True, slots=True)
class Ref:
    """Stands for the result value of task ``task_id``; resolved just before dispatch."""

    task_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise SpecError(f"Ref.task_id must be a non-empty string, got {self.task_id!r}")


@dataclass(frozen=True, slots=True)
class Each:
    """Marks a task as mapped over ``source``: a ``Ref`` (the task's result must be a list or
    tuple), a list or tuple given here, or another ``Each`` (``Each(Each(Ref("r")))`` maps over
    every element of every element: children ``t[i][j]``). Child ``i`` gets element ``i`` in its
    place. Two ``Each``s in one task zip their sequences."""

    source: Any

    def __post_init__(self) -> None:
        src = self.source
        if not isinstance(src, (Ref, Each, list, tuple)):
            raise SpecError(f"Each() takes a Ref, another Each, a list or a tuple, got "
                            f"{type(src).__name__} {src!r}")
        if isinstance(src, list):
            object.__setattr__(self, "source", tuple(src))

    @property
    def depth(self) -> int:
        """How many levels of mapping this stands for (``Each(Each(x))``: 2)."""
        return 1 + (self.source.depth if isinstance(self.source, Each) else 0)


def find_refs(obj: Any, eaches: list[Each] | None = None) -> list[str]:
    """Ids of every ``Ref`` inside ``obj`` (through lists, tuples, sets, dict values and
    ``Each``), in the order they appear; the outermost ``Each``s go to ``eaches`` if given."""
    found: list[str] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            found.append(item.task_id)
        elif isinstance(item, Each):
            if eaches is not None:
                eaches.append(item)
            inner = item.source
            while isinstance(inner, Each):
                inner = inner.source
            stack.append(inner)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))  # reversed: pop() then visits them in order
        elif isinstance(item, (set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return found


def substitute_refs(obj: Any, resolve: Callable[[str], Any]) -> Any:
    """A copy of ``obj`` with every ``Ref`` replaced by ``resolve(ref.task_id)``."""
    if isinstance(obj, Ref):
        return resolve(obj.task_id)
    if isinstance(obj, list):
        return [substitute_refs(x, resolve) for x in obj]
    if isinstance(obj, tuple):
        items = [substitute_refs(x, resolve) for x in obj]
        # Keep namedtuples namedtuples.
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(substitute_refs(x, resolve) for x in obj)
    if isinstance(obj, dict):
        return {k: substitute_refs(v, resolve) for k, v in obj.items()}
    return obj


_INT64 = 2**63  # an event log's integers stay 64-bit


def _check_fn(fn: Any, task_id: str) -> None:
    if isinstance(fn, str):
        if not _IMPORT_PATH.match(fn):
            raise SpecError(
                f"task {task_id!r}: fn must be a callable or an import path "
                f"'pkg.module:function', got {fn!r}"
            )
    elif not callable(fn):
        raise SpecError(f"task {task_id!r}: fn must be callable or an import path, got {fn!r}")


def _check_seconds(value: Any, name: str, task_id: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    from .policy import MAX_SECONDS, _is_number

    ok = _is_number(value, MAX_SECONDS) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(f"task {task_id!r}: {name} must be a number of seconds {bound} and "
                        f"<= {MAX_SECONDS:g}, or None, got {short_repr(value)}")


@dataclass(frozen=True)
class TaskSpec:
    """One unit of work.

    ``timeout`` and ``retry`` override the run's policy for this task. ``priority``: higher
    starts first. ``estimate``: expected run time in seconds, used to find the critical path.
    ``max_memory_mb``: kill the task when its worker (with its children) passes this resident size.
    ``resources``: named amounts (``{"cpu": 1, "api": 1}``) held while an attempt runs, on top of
    the worker slot; each name needs a capacity in the policy (``model/resources.py``).
    ``cache``: with a run store, reuse a succeeded result of the same fingerprint from any run
    (``True``), never reuse one, not even on resume (``False``: its output must be fresh each
    run), or follow the run's ``cache=`` (``None``). ``version``: stands for the function's
    code in its fingerprint (docs/store.md): change it to make stored results stale.
    """

    id: str
    fn: TaskFn
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    timeout: float | None = None
    retry: RetryPolicy | None = None
    priority: int = 0
    estimate: float | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)
    max_memory_mb: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    cache: bool | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        from .policy import RetryPolicy

        tid = self.id
        if not isinstance(tid, str) or not tid.strip():
            raise SpecError(f"TaskSpec.id must be a non-empty string, got {tid!r}")
        _check_fn(self.fn, tid)
        # A mapping or a set iterates, but as keys or in no set order: a mistake, not args.
        if (isinstance(self.args, (str, bytes, Mapping, set, frozenset))
                or not _is_iterable(self.args)):
            raise SpecError(f"task {tid!r}: args must be a tuple or list, got {self.args!r}")
        object.__setattr__(self, "args", tuple(self.args))
        if not isinstance(self.kwargs, Mapping):
            raise SpecError(f"task {tid!r}: kwargs must be a mapping, got {self.kwargs!r}")
        for key in self.kwargs:
            if not isinstance(key, str):
                raise SpecError(f"task {tid!r}: kwargs keys must be strings, got {key!r}")
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "deps", _checked_deps(self.deps, tid))
        _check_seconds(self.timeout, "timeout", tid)
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise SpecError(
                f"task {tid!r}: retry must be a RetryPolicy or None, got {self.retry!r}")
        p = self.priority
        if not isinstance(p, int) or isinstance(p, bool) or not -_INT64 <= p <= _INT64:
            raise SpecError(f"task {tid!r}: priority must be an integer between -2**63 and "
                            f"2**63, got {short_repr(p)}")
        _check_seconds(self.estimate, "estimate", tid, allow_zero=True)
        if not isinstance(self.tags, Mapping):
            raise SpecError(f"task {tid!r}: tags must be a mapping, got {self.tags!r}")
        object.__setattr__(self, "tags", dict(self.tags))
        if self.max_memory_mb is not None:
            m = self.max_memory_mb
            from .policy import _is_number

            if not _is_number(m) or not m > 0:
                raise SpecError(f"task {tid!r}: max_memory_mb must be > 0 or None, "
                                f"got {short_repr(m)}")
        object.__setattr__(self, "resources", check_request(self.resources, tid))
        _check_store_fields(self.cache, self.version, tid)
        refs, mapped = _scan_arguments(self.args, self.kwargs, tid)
        object.__setattr__(self, "_refs", refs)
        object.__setattr__(self, "_mapped", mapped)
        if tid in self.all_deps:  # the shortest cycle, as graphlib reports {1: {1}}
            raise CycleError([tid, tid])

    # ``_refs`` is set in __post_init__; dataclass fields stay the public constructor.
    _refs: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _mapped: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def mapped(self) -> bool:
        """Whether an ``Each`` in ``args``/``kwargs`` makes this a mapped task."""
        return self._mapped

    @property
    def has_refs(self) -> bool:
        return bool(self._refs)

    @property
    def all_deps(self) -> tuple[str, ...]:
        """Explicit ``deps`` plus the ids named by ``Ref``s, without repeats, in order."""
        if not self._refs:
            return self.deps
        return tuple(dict.fromkeys(self.deps + self._refs))

    def derive(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
               deps: tuple[str, ...], refs: tuple[str, ...], mapped: bool) -> TaskSpec:
        """A copy with another id, arguments, deps, ``Ref`` ids and mapped flag: a mapped
        task's child, whose fields the caller knows to be valid (every other field was checked
        when this spec was built; a full check costs ~10x as much per child)."""
        child: TaskSpec = object.__new__(TaskSpec)
        fields = child.__dict__
        fields.update(self.__dict__)
        fields.update(id=task_id, args=args, kwargs=kwargs, deps=deps, _refs=refs,
                      _mapped=mapped)
        return child

    @property
    def fn_name(self) -> str:
        fn = self.fn
        if isinstance(fn, str):
            return fn
        module = getattr(fn, "__module__", None) or "?"
        return f"{module}:{getattr(fn, '__qualname__', repr(fn))}"

    # Frozen but holding dicts: hash by identity so specs can sit in sets.
    __hash__ = object.__hash__


def as_task_spec(item: object) -> TaskSpec:
    """``item``, checked to be a ``TaskSpec`` (every way in takes nothing else)."""
    if not isinstance(item, TaskSpec):
        raise SpecError(f"expected a TaskSpec, got {item!r}")
    return item


def as_flat_task(item: object) -> TaskSpec:
    """``item``, checked to be a task of a flat batch: a ``TaskSpec`` without dependencies."""
    if type(item) is TaskSpec and not (item.deps or item._refs or item._mapped):
        return item  # the common case, without the calls below (a pool's every submit)
    spec = as_task_spec(item)
    if spec.mapped:
        raise SpecError(
            f"task {spec.id!r} is mapped (Each); a flat batch takes independent tasks, and "
            f"expanding one needs a graph (use execute_graph)")
    if spec.all_deps:
        raise SpecError(
            f"task {spec.id!r} has dependencies {list(spec.all_deps)}; flat batches take "
            f"independent tasks (use execute_graph for dependencies)")
    return spec


def _checked_deps(deps: Any, tid: str) -> tuple[str, ...]:
    if isinstance(deps, str) or not _is_iterable(deps):
        raise SpecError(f"task {tid!r}: deps must be a list of task ids, got {deps!r}")
    checked: tuple[str, ...] = tuple(deps)
    for dep in checked:
        if not isinstance(dep, str) or not dep:
            raise SpecError(f"task {tid!r}: every dependency must be a task id, got {dep!r}")
    return checked


def _check_store_fields(cache: Any, version: Any, tid: str) -> None:
    if cache is not None and not isinstance(cache, bool):
        raise SpecError(f"task {tid!r}: cache must be True, False or None, got {cache!r}")
    if version is not None and (not isinstance(version, str) or not version):
        raise SpecError(f"task {tid!r}: version must be a non-empty string or None, "
                        f"got {version!r}")


def _scan_arguments(args: Any, kwargs: Any, task_id: str) -> tuple[tuple[str, ...], bool]:
    """The ids the ``Ref``s name (in order, without repeats), and whether an ``Each`` makes the
    task mapped; zipped ``Each``s must nest to the same depth."""
    eaches: list[Each] = []
    refs = find_refs(args, eaches) + find_refs(kwargs, eaches)
    depths = sorted({e.depth for e in eaches})
    if len(depths) > 1:
        raise SpecError(f"task {task_id!r}: its Each()s nest to different depths {depths}; "
                        f"zipped Each()s must nest alike")
    return tuple(dict.fromkeys(refs)), bool(depths)


def _is_iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True
