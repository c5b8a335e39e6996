"""Turn ``"pkg.mod:func"`` into the callable, with an error that names the path and the part."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def resolve(path: str) -> Callable[..., Any]:
    """Import ``pkg.mod`` and walk ``func`` (dotted attributes allowed)."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise ImportError(f"import path {path!r} must look like 'pkg.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(
                f"{path!r}: {type(obj).__name__} {getattr(obj, '__name__', obj)!r} "
                f"has no attribute {part!r}"
            ) from None
    if not callable(obj):
        raise ImportError(f"{path!r} is not callable (it is a {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]
