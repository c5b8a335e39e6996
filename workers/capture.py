"""Turn a raised exception into a plain error tuple that always crosses the process boundary.

The exception object itself is pickled too when it survives a round trip here; the type name,
message and traceback text travel in any case. Exceptions go through the same serialisation as
values: the C pickler first, cloudpickle when that fails or names ``__main__`` (a class defined
in the user's script or notebook travels by value, and cloudpickle's class tracking gives the
parent back its own class, so ``except Fatal:`` matches). In the cloudpickle pass an exception is
rebuilt without calling its ``__init__`` or ``__setattr__`` (``_rebuild_exception``), so frozen
dataclass exceptions and ones with required constructor arguments come back as themselves.
Still lost: one holding something unpicklable (a lock, a socket).
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

from .protocol import PICKLE_PROTOCOL, ErrorTuple


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:  # a __str__ that raises must not take the worker down
        return f"<str() failed: {type(exc).__name__}>"


def capture(exc: BaseException, kind: str = "exception") -> ErrorTuple:
    cls = type(exc)
    try:
        tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    except Exception:
        tb = None
    chain = tuple(qualified_name(c) for c in cls.__mro__ if c is not object)
    return (kind, cls.__qualname__, safe_str(exc), tb, chain, _pickled_if_round_trips(exc))


def plain_error(kind: str, type_name: str, message: str) -> ErrorTuple:
    return (kind, type_name, message, None, (), None)


def dumps_value(value: Any) -> bytes:
    """Pickle a result (or reports): the C pickler, cloudpickle for what it cannot do (lambdas,
    closures, classes defined on the fly). Raises what pickling raises."""
    try:
        return pickle.dumps(value, PICKLE_PROTOCOL)
    except Exception:
        import cloudpickle

        return cloudpickle.dumps(value, PICKLE_PROTOCOL)  # type: ignore[no-any-return]


def _pickled_if_round_trips(exc: BaseException) -> bytes | None:
    # BaseException: a __reduce__ that calls sys.exit() must not end the worker (SIGINT is
    # ignored here, so no KeyboardInterrupt is swallowed).
    try:
        data = pickle.dumps(exc, PICKLE_PROTOCOL)
        if b"__main__" not in data:
            pickle.loads(data)
            return data
    except BaseException:
        pass
    try:
        data = _exception_pickler_dumps(exc)
        pickle.loads(data)
    except BaseException:
        return None
    return data


def _exception_pickler_dumps(exc: BaseException) -> bytes:
    import io

    import cloudpickle

    class _Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, BaseException):
                state = dict(getattr(obj, "__dict__", {}))
                return _rebuild_exception, (type(obj), obj.args, state)
            return super().reducer_override(obj)

    buf = io.BytesIO()
    _Pickler(buf, protocol=PICKLE_PROTOCOL).dump(exc)
    return buf.getvalue()


def _rebuild_exception(cls: type[BaseException], args: tuple[Any, ...],
                       state: dict[str, Any]) -> BaseException:
    """An exception of ``cls`` with ``args`` and attributes ``state``, made without its
    ``__init__`` (required arguments) or ``__setattr__`` (a frozen dataclass)."""
    try:
        exc = cls.__new__(cls, *args)
    except Exception:
        exc = BaseException.__new__(cls)
    BaseException.__setattr__(exc, "args", args)  # not the class's: it may be frozen
    for name, value in state.items():
        object.__setattr__(exc, name, value)
    return exc
