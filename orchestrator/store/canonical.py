"""A canonical byte encoding of argument values, from a registry of type handlers.

Equal values give equal bytes in every process, whatever ``PYTHONHASHSEED`` or insertion
order: each value is a type tag followed by its content; a dict's entries and a set's elements
are sorted by their own encodings, so neither order counts (a function that depends on a dict's
order is the one case this treats as equal when it is not; docs/store.md). A float is its
8 IEEE bytes, so ``1`` and ``1.0`` and ``True`` stay apart. Pickle bytes are never hashed:
they change with protocol, memo layout and cloudpickle's run-to-run details (prefect#16185).

The handlers, by exact type: ``None``, bools, numbers, ``str``, ``bytes``, lists, tuples,
dicts, sets, ranges, ``Ref`` (as its upstream's fingerprint), and a few stdlib values (dates
and times, ``Decimal``, ``Fraction``, ``UUID``, paths, compiled patterns, loggers by name).
Then, by kind: enum members, dataclass instances and namedtuples (with their class's code),
subclasses of the builtin containers, functions, classes and modules (through the code
fingerprint), numpy arrays and scalars (dtype, shape, bytes; only when numpy is already
imported: an array cannot exist otherwise), and named singletons of library modules
(``dataclasses.MISSING``). A caller may add handlers for its own types. Anything else raises
``Unencodable`` naming its place: ``args[1]: no canonical encoding for socket.socket``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import logging
import pathlib
import re
import struct
import sys
import types
import uuid
from typing import Any, Callable, Mapping

from ..model.spec import Ref

__all__ = ["Encoder", "Unencodable", "Handler", "type_name", "CODE_TYPES"]

Handler = Callable[[Any], Any]  # a value -> something the encoder can encode
_pack_float = struct.Struct("<d").pack


class Unencodable(Exception):
    """``what`` has no canonical encoding; ``path`` says where (``args[1]['client']``).

    The path is built while the error unwinds (``within``), so encoding a value that works
    formats no path at all.
    """

    def __init__(self, what: str, path: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.path = path

    def within(self, segment: str) -> Unencodable:
        """Prefix ``segment`` to the path (the caller's place). Mutates; returns self."""
        self.path = segment + self.path
        return self

    def __str__(self) -> str:
        return f"{self.path}: {self.what}" if self.path else self.what


def type_name(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_STDLIB_TEXT: tuple[type, ...] = (
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone,
    decimal.Decimal, fractions.Fraction, uuid.UUID, pathlib.PurePosixPath,
    pathlib.PureWindowsPath, pathlib.PosixPath, pathlib.WindowsPath,
)
# What ``Encoder.code`` is asked about: functions, classes, modules and builtins.
CODE_TYPES = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
              types.MethodDescriptorType, types.WrapperDescriptorType,
              types.ClassMethodDescriptorType, types.MethodWrapperType)
_CONTAINER_BASES = (dict, list, tuple, set, frozenset, str, bytes, int, float)


class Encoder:
    """Encodes values. ``code(obj)`` gives the bytes for a function, class or module,
    ``ref(task_id)`` those for a ``Ref``; both raise ``Unencodable``. ``handlers`` add types
    (by exact type) or replace the built-in ones."""

    def __init__(self, code: Callable[[Any], bytes], ref: Callable[[str], bytes],
                 handlers: Mapping[type, Handler] | None = None) -> None:
        self.code = code
        self.ref = ref
        self.handlers = handlers or {}
        self._active: set[int] = set()  # containers being encoded: a cycle is unencodable

    def encode(self, obj: Any, path: str) -> bytes:
        """The canonical bytes of ``obj``, found at ``path``; raises ``Unencodable``."""
        out: list[bytes] = []
        try:
            self.write(obj, out)
        except Unencodable as exc:
            raise exc.within(path)
        except RecursionError:
            raise Unencodable("nested too deeply to encode", path) from None
        return b"".join(out)

    def _part(self, obj: Any, segment: str, out: list[bytes]) -> None:
        try:
            self.write(obj, out)
        except Unencodable as exc:
            raise exc.within(segment)

    def _bytes(self, obj: Any, segment: str) -> bytes:
        out: list[bytes] = []
        self._part(obj, segment, out)
        return b"".join(out)

    def write(self, obj: Any, out: list[bytes]) -> None:
        """Append the canonical bytes of ``obj`` to ``out``. Mutates ``out``."""
        cls = type(obj)
        simple = _SIMPLE.get(cls)
        if simple is not None:
            out.append(simple(obj))
            return
        if cls in self.handlers:
            out.append(b"X" + _text(type_name(cls)))
            self._part(self.handlers[cls](obj), f" (as {type_name(cls)})", out)
            return
        container = _CONTAINERS.get(cls)
        if container is not None:
            self._nested(obj, out, container)
            return
        if cls is Ref:
            out.append(b"R" + self.ref(obj.task_id))
            return
        self._by_kind(obj, out)

    def _nested(self, obj: Any, out: list[bytes], how: _Nested) -> None:
        if id(obj) in self._active:
            raise Unencodable("the value contains itself")
        self._active.add(id(obj))
        try:
            how(self, obj, out)
        finally:
            self._active.discard(id(obj))

    def _sequence(self, obj: Any, out: list[bytes], tag: bytes = b"l") -> None:
        out.append(b"%s%d:" % (tag, len(obj)))
        write = self.write
        for i, item in enumerate(obj):
            try:
                write(item, out)
            except Unencodable as exc:
                raise exc.within(f"[{i}]")

    def _tuple(self, obj: Any, out: list[bytes]) -> None:
        self._sequence(obj, out, b"t")

    def _mapping(self, obj: Any, out: list[bytes], ordered: bool = False) -> None:
        entries = []
        for key, value in obj.items():
            part: list[bytes] = []
            try:
                self.write(key, part)
            except Unencodable as exc:
                raise exc.within(f" key {_short(key)}")
            entries.append((b"".join(part), key, value))
        if not ordered:
            entries.sort(key=_first)
        out.append(b"%s%d:" % (b"o" if ordered else b"d", len(entries)))
        for key_bytes, key, value in entries:
            out.append(key_bytes)
            try:
                self.write(value, out)
            except Unencodable as exc:
                raise exc.within(f"[{_short(key)}]")

    def _set(self, obj: Any, out: list[bytes]) -> None:
        items = []
        for item in obj:
            part: list[bytes] = []
            try:
                self.write(item, part)
            except Unencodable as exc:
                raise exc.within(f"{{{_short(item)}}}")
            items.append(b"".join(part))
        items.sort()
        out.append(b"%s%d:" % (b"S" if type(obj) is set else b"Z", len(items)))
        out.extend(items)

    def _by_kind(self, obj: Any, out: list[bytes]) -> None:
        cls = type(obj)
        if isinstance(obj, enum.Enum):
            out.append(b"e" + self.code(cls) + _text(obj.name))
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            self._nested(obj, out, Encoder._dataclass)
        elif isinstance(obj, tuple) and hasattr(cls, "_fields"):
            out.append(b"n" + self.code(cls))
            self._nested(obj, out, Encoder._tuple)
        elif isinstance(obj, CODE_TYPES):
            out.append(b"C" + self.code(obj))
        elif isinstance(obj, types.MethodType):
            out.append(b"m" + self._bytes(obj.__func__, ""))
            self._part(obj.__self__, ".__self__", out)
        elif isinstance(obj, functools.partial):
            out.append(b"P" + self._bytes(obj.func, ".func"))
            self._part(obj.args, ".args", out)
            self._part(obj.keywords, ".keywords", out)
        elif isinstance(obj, _STDLIB_TEXT):
            out.append(b"x" + _text(type_name(cls)) + _text(str(obj)))
        elif isinstance(obj, re.Pattern):
            out.append(b"p" + _text(str(obj.pattern)) + b"%d;" % obj.flags)
        elif isinstance(obj, logging.Logger):
            out.append(b"g" + _text(obj.name))
        elif cls is object:
            out.append(b"O")  # a bare sentinel: it has no state, only its place
        elif not self._numpy(obj, out) and not self._subclass(obj, out):
            singleton = _named_singleton(obj)
            if singleton is None:
                raise Unencodable(f"no canonical encoding for {type_name(cls)}")
            out.append(b"k" + _text(singleton))

    def _dataclass(self, obj: Any, out: list[bytes]) -> None:
        fields = dataclasses.fields(obj)
        out.append(b"D" + self.code(type(obj)) + b"%d:" % len(fields))
        for f in fields:
            out.append(_text(f.name))
            self._part(getattr(obj, f.name), f".{f.name}", out)

    def _subclass(self, obj: Any, out: list[bytes]) -> bool:
        """A subclass of a builtin container or scalar: its class's code, its content as the
        base type, and its instance attributes."""
        base = next((b for b in _CONTAINER_BASES if isinstance(obj, b)), None)
        if base is None:
            return False
        out.append(b"u" + self.code(type(obj)))
        if isinstance(obj, collections.OrderedDict):
            self._nested(obj, out, lambda e, o, w: e._mapping(o, w, ordered=True))
        elif isinstance(obj, collections.defaultdict):
            factory = obj.default_factory
            out.append(b"N" if factory is None else self._bytes(factory, ".default_factory"))
            self._nested(obj, out, Encoder._mapping)
        else:
            self.write(base(obj), out)
        state = getattr(obj, "__dict__", None)
        self._part(dict(state) if state else None, ".__dict__", out)
        return True

    def _numpy(self, obj: Any, out: list[bytes]) -> bool:
        np = sys.modules.get("numpy")
        if np is None:
            return False
        if isinstance(obj, np.ndarray):
            dtype = obj.dtype
            out.append(b"A" + _text(str(dtype.descr)) + self._bytes(obj.shape, ".shape"))
            if dtype.hasobject:  # its bytes are pointers: encode the elements instead
                self.write(obj.tolist(), out)
            else:
                out.append(np.ascontiguousarray(obj).tobytes())
            return True
        if isinstance(obj, np.generic):
            out.append(b"a" + _text(str(obj.dtype.descr)) + obj.tobytes())
            return True
        return False


def _first(entry: tuple[bytes, Any, Any]) -> bytes:
    return entry[0]


def _text(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"%d:%s" % (len(data), data)


def _bytes(tag: bytes) -> Callable[[Any], bytes]:
    return lambda b: b"%s%d:%s" % (tag, len(b), bytes(b))


_SIMPLE: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda _: b"N",
    bool: lambda b: b"T" if b else b"F",
    int: lambda i: b"i%d;" % i,
    float: lambda f: b"f" + _pack_float(f),
    complex: lambda c: b"c" + _pack_float(c.real) + _pack_float(c.imag),
    str: lambda s: b"s" + _text(s),
    bytes: _bytes(b"b"),
    bytearray: _bytes(b"y"),
    type(Ellipsis): lambda _: b"E",
    range: lambda r: b"r%d:%d:%d;" % (r.start, r.stop, r.step),
}

_Nested = Callable[[Encoder, Any, list[bytes]], None]
_CONTAINERS: dict[type, _Nested] = {
    list: Encoder._sequence, tuple: Encoder._tuple, dict: Encoder._mapping,
    set: Encoder._set, frozenset: Encoder._set,
}


def _named_singleton(obj: Any) -> str | None:
    """``module.name`` when ``obj`` is a module-level object of its class's (library) module
    (a sentinel such as ``dataclasses.MISSING``): such an object is that name."""
    from .origin import module_origin

    module_name = type(obj).__module__
    if module_origin(module_name) is None:
        return None  # a user object: its state is what counts, not its name
    module = sys.modules.get(module_name)
    for name, value in vars(module).items() if module is not None else ():
        if value is obj:
            return f"{module_name}.{name}"
    return None
