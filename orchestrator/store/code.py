"""The code fingerprint: what a function (or class) will do, without its line numbers.

A user function (``origin.py``) is a **node**. Its local part is the sha256 of:

* its name, and its code object: bytecode, constants, names, argument counts, flags and
  exception table, recursively into nested code objects (lambdas, inner functions,
  comprehensions), never the line table, first line or file name: moving a function down a
  file changes nothing, while editing its body does (joblib#680);
* its default arguments and keyword defaults, and its closure's cell contents (prefect#23062);
* everything its code reads from outside itself (``reads.py``): module-level helper
  functions, classes and constants, module attributes, imported names (joblib#1287).

A user class is a node too: its name, bases and metaclass, its methods (static, class,
property accessors included) and its data attributes. Dunder data the class statement makes
(``__module__``, ``__dict__``, ``__dataclass_fields__``, ...) and its slot descriptors are
left out; a dataclass's fields are in its generated ``__init__``.

Inside a local part, another user function or class is written as a reference (its name) and
becomes an edge. A root's fingerprint hashes its own local part, then the sorted local parts of
every node it reaches. So mutual recursion needs no special case, and the result does not
depend on which function was fingerprinted first (a DFS digest would). Library objects are
leaves: module, qualified name and version (``origin.py``); their code is not read.

Any part with no canonical encoding (a lock in a global, say) makes the function not
cacheable, with a reason naming the function and the part. Results are memoised per object
for the run (a run fingerprints many tasks of few functions); globals are read once then.
"""

from __future__ import annotations

import abc
import collections
import functools
import hashlib
import types
from typing import Any, Callable, Mapping

from .canonical import CODE_TYPES, Encoder, Handler, Unencodable, type_name
from .origin import is_user_module, module_origin
from .reads import MISSING, reads

__all__ = ["CodeFingerprints", "identity"]

# Descriptors and records a class statement (or namedtuple, or ABCMeta) makes from the class's
# own definition: identified by their type, since their content follows from what is hashed.
_MACHINERY: tuple[type, ...] = (types.MemberDescriptorType, types.GetSetDescriptorType,
                                type(collections.namedtuple("_T", "a").a),  # type: ignore[attr-defined]
                                type(abc.ABC._abc_impl))  # type: ignore[attr-defined]


def identity(obj: Any) -> str:
    """``module:qualname`` of a function, class or module (its import path, roughly)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    owner = getattr(obj, "__objclass__", None)
    module = getattr(obj, "__module__", None) or getattr(owner, "__module__", None) or "?"
    return f"{module}:{getattr(obj, '__qualname__', None) or getattr(obj, '__name__', '?')}"


def _text(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"%d:%s" % (len(data), data)


class _Node:
    __slots__ = ("local", "edges")

    def __init__(self, local: bytes, edges: list[Any]) -> None:
        self.local = local
        self.edges = edges


class CodeFingerprints:
    """Code fingerprints for one run; ``handlers`` are the value encoder's extra types."""

    def __init__(self, handlers: Mapping[type, Handler] | None = None) -> None:
        self.handlers = dict(handlers or {})
        self._roots: dict[int, tuple[Any, bytes | Unencodable]] = {}
        self._nodes: dict[int, tuple[Any, _Node | Unencodable]] = {}

    def encoder(self, ref: Callable[[str], bytes]) -> Encoder:
        """A value encoder whose functions and classes are fingerprinted here."""
        return Encoder(self.digest, ref, self.handlers)

    def digest(self, obj: Any) -> bytes:
        """What identifies a function, class or module: its fingerprint for user code, its
        name and version for library code. Raises ``Unencodable``."""
        memo = self._roots.get(id(obj))
        if memo is None:
            try:
                result: bytes | Unencodable = self._root(obj) if _is_node(obj) else _leaf(obj)
            except Unencodable as exc:
                result = exc
            memo = self._roots[id(obj)] = (obj, result)  # obj kept: its id stays its own
        result = memo[1]
        if isinstance(result, Unencodable):
            raise Unencodable(result.what, result.path)  # a copy: the caller adds its place
        return result

    def _root(self, obj: Any) -> bytes:
        first = self._node(obj)
        seen = {id(obj)}
        stack = list(first.edges)
        others: list[bytes] = []
        while stack:
            item = stack.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            node = self._node(item)
            others.append(node.local)
            stack.extend(node.edges)
        h = hashlib.sha256(b"root" + first.local)
        for local in sorted(others):
            h.update(local)
        return b"F" + h.digest()

    def _node(self, obj: Any) -> _Node:
        memo = self._nodes.get(id(obj))
        if memo is None:
            edges: list[Any] = []

            def code(item: Any) -> bytes:
                if _is_node(item):
                    edges.append(item)
                    return b"@" + _text(identity(item))
                return _leaf(item)

            enc = Encoder(code, _no_ref, self.handlers)
            try:
                local = (self._function(obj, enc) if isinstance(obj, types.FunctionType)
                         else self._class(obj, enc))
                result: _Node | Unencodable = _Node(hashlib.sha256(local).digest(), edges)
            except Unencodable as exc:
                result = Unencodable(f"{identity(obj)} {exc}")
            memo = self._nodes[id(obj)] = (obj, result)
        if isinstance(memo[1], Unencodable):
            raise Unencodable(memo[1].what)
        return memo[1]

    def _function(self, fn: types.FunctionType, enc: Encoder) -> bytes:
        code = fn.__code__
        out = [b"function", _text(identity(fn)), _code(code, enc)]
        defaults = fn.__defaults__ or ()
        names = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
        for name, value in zip(names, defaults, strict=True):
            out.append(_text(name) + enc.encode(value, f"default argument {name!r}"))
        for name, value in sorted((fn.__kwdefaults__ or {}).items()):
            out.append(_text(name) + enc.encode(value, f"default argument {name!r}"))
        for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
            try:
                content = cell.cell_contents
            except ValueError:  # a cell not assigned yet
                out.append(_text(name) + b"empty")
                continue
            out.append(_text(name) + enc.encode(content, f"closure variable {name!r}"))
        for label, value in sorted(reads(fn).items()):
            kind, _, name = label.partition(" ")
            out.append(_text(label) + (b"?" if value is MISSING else enc.encode(
                value, f"reads {kind} {name!r}")))
        return b"".join(out)

    def _class(self, cls: type, enc: Encoder) -> bytes:
        out = [b"class", _text(identity(cls))]
        out.extend(enc.encode(base, "base class") for base in cls.__bases__)
        if type(cls) is not type:
            out.append(enc.encode(type(cls), "metaclass"))
        for name, value in sorted(vars(cls).items()):
            where = f"attribute {name!r}"
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = (value.fget, value.fset, value.fdel)
            elif isinstance(value, functools.cached_property):
                value = value.func
            elif isinstance(value, _MACHINERY):
                out.append(_text(name) + _text(type_name(value)))
                continue
            elif name.startswith("__") and name.endswith("__") and not callable(value):
                continue  # made by the class statement: __module__, __dict__, __slots__, ...
            out.append(_text(name) + enc.encode(value, where))
        return b"".join(out)


def _is_node(obj: Any) -> bool:
    return isinstance(obj, (types.FunctionType, type)) and is_user_module(
        getattr(obj, "__module__", None))


def _leaf(obj: Any) -> bytes:
    """A library function, class or module, or a user module: its name and origin."""
    if isinstance(obj, types.ModuleType):
        return b"M" + _text(obj.__name__) + _text(module_origin(obj.__name__) or "user")
    bound = isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType))
    owner = obj.__self__ if bound else None
    if not isinstance(obj, CODE_TYPES) or not isinstance(owner, (types.ModuleType, type,
                                                                 type(None))):
        what = type_name(obj) if owner is None else f"a method bound to a {type_name(owner)}"
        raise Unencodable(f"no canonical encoding for {what}")
    module = identity(obj).partition(":")[0]
    return b"L" + _text(identity(obj)) + _text(module_origin(module) or "user")


def _no_ref(task_id: str) -> bytes:
    raise Unencodable(f"Ref({task_id!r}) outside a task's arguments")


def _code(code: types.CodeType, enc: Encoder) -> bytes:
    """A code object without its line numbers or file name."""
    out = [b"code", _text(code.co_name),
           b"%d:%d:%d:%d;" % (code.co_argcount, code.co_posonlyargcount,
                              code.co_kwonlyargcount, code.co_flags),
           b"%d:" % len(code.co_code), code.co_code,
           enc.encode((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars),
                      "names"),
           getattr(code, "co_exceptiontable", b"")]
    for const in code.co_consts:
        out.append(_code(const, enc) if isinstance(const, types.CodeType)
                   else enc.encode(const, "constant"))
    return b"".join(out)
