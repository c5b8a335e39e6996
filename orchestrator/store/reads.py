"""What a function's code reads from outside itself: globals, module attributes, imports.

Read from the bytecode (``dis``), over the code object and every code object nested in it
(lambdas, inner functions, comprehensions):

* ``LOAD_GLOBAL name``: the global (or builtin) ``name``; when it is a module, the attribute
  chain read from it right after (``np.linalg.norm``, ``helpers.compute``);
* ``IMPORT_NAME``/``IMPORT_FROM`` inside the function: the module, the names taken from it,
  and attribute chains read from the local name it is bound to (``import helpers`` then
  ``helpers.compute(x)``). A user module not imported yet is imported to read it (as the
  worker will); a library module is named by its version without being imported.

Each read is a label (``global 'helpers.compute'``) and the object it names now. What the code
reaches only dynamically (``getattr`` with a computed name, ``globals()[...]``, ``eval``) is
not seen: docs/store.md lists it among the fingerprint's limits.
"""

from __future__ import annotations

import builtins
import dis
import importlib.util
import sys
import types
from typing import Any, Iterator, Mapping

from .canonical import Unencodable
from .origin import find_origin

__all__ = ["reads", "MISSING"]

MISSING = object()  # a name the code reads that does not exist (yet): a NameError at run time
_ATTR = ("LOAD_ATTR", "LOAD_METHOD")


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def reads(fn: types.FunctionType) -> dict[str, Any]:
    """label -> object for everything ``fn``'s code reads from outside itself."""
    found: dict[str, Any] = {}
    scope = fn.__globals__
    for code in _codes(fn.__code__):
        _scan(list(dis.get_instructions(code)), scope, found)
    return found


def _scan(instrs: list[dis.Instruction], scope: Mapping[str, Any], found: dict[str, Any]) -> None:
    aliases: dict[str, Any] = {}  # local name -> module imported into it
    for i, ins in enumerate(instrs):
        if ins.opname == "LOAD_GLOBAL":
            _chain(f"global {ins.argval}", _global(ins.argval, scope), instrs, i + 1, found)
        elif ins.opname == "LOAD_FAST" and ins.argval in aliases:
            _chain(f"import {aliases[ins.argval].__name__}", aliases[ins.argval], instrs, i + 1,
                   found)
        elif ins.opname == "IMPORT_NAME":
            module = _import(ins.argval, _level(instrs, i), scope)
            found[f"import {ins.argval}"] = module
            nxt = instrs[i + 1] if i + 1 < len(instrs) else None
            if nxt is not None and nxt.opname in ("STORE_FAST", "STORE_NAME") and isinstance(
                    module, types.ModuleType):
                aliases[nxt.argval] = module
        elif ins.opname == "IMPORT_FROM":
            source = _last_import(instrs, i, scope)
            if isinstance(source, types.ModuleType):
                found[f"import {source.__name__}.{ins.argval}"] = getattr(
                    source, ins.argval, MISSING)


def _global(name: str, scope: Mapping[str, Any]) -> Any:
    if name in scope:
        return scope[name]
    space = scope.get("__builtins__", builtins)
    space = vars(space) if isinstance(space, types.ModuleType) else space
    return space.get(name, MISSING) if isinstance(space, Mapping) else MISSING


def _chain(label: str, obj: Any, instrs: list[dis.Instruction], j: int,
           found: dict[str, Any]) -> None:
    """Record ``obj`` and, while it is a module, the attributes read from it next."""
    found[label] = obj
    while isinstance(obj, types.ModuleType) and j < len(instrs) and instrs[j].opname in _ATTR:
        label = f"{label}.{instrs[j].argval}"
        obj = getattr(obj, instrs[j].argval, MISSING)
        found[label] = obj
        j += 1


def _level(instrs: list[dis.Instruction], i: int) -> int:
    """The relative-import level: the constant loaded two instructions before IMPORT_NAME."""
    if i >= 2 and instrs[i - 2].opname == "LOAD_CONST" and isinstance(instrs[i - 2].argval, int):
        return int(instrs[i - 2].argval)
    return 0


def _import(name: str, level: int, scope: Mapping[str, Any]) -> Any:
    """What ``import`` binds (the top package for ``import a.b``). A module the parent has not
    imported yet is imported now if it is user code (the worker will import it too, and its
    code is what counts); a library module is named by its version instead, unimported."""
    try:
        full = importlib.util.resolve_name("." * level + name, scope.get("__package__"))
        if full not in sys.modules:
            origin = find_origin(full)
            if origin is not None:
                return f"module {full} ({origin})"
            importlib.import_module(full)
    except Exception as exc:
        raise Unencodable(f"cannot import {name!r} to read its code: {type(exc).__name__}: "
                          f"{exc}") from exc
    top = name.partition(".")[0]
    return sys.modules[full] if level or "." not in name else sys.modules.get(top, MISSING)


def _last_import(instrs: list[dis.Instruction], i: int, scope: Mapping[str, Any]) -> Any:
    """The module an IMPORT_FROM reads from: the full module of the nearest IMPORT_NAME
    (imported by then when it is user code; a library module is named by its version)."""
    for k in range(i - 1, -1, -1):
        if instrs[k].opname == "IMPORT_NAME":
            try:
                full = importlib.util.resolve_name("." * _level(instrs, k) + instrs[k].argval,
                                                   scope.get("__package__"))
            except (ImportError, ValueError):
                return MISSING
            return sys.modules.get(full, MISSING)
    return MISSING
