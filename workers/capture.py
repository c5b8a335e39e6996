"""Turn a raised exception into a plain error tuple that always crosses the process boundary.

The exception object itself is pickled too when it survives a round trip here (some cannot be
pickled, e.g. ones holding a lock; some cannot be unpickled, e.g. ones with required constructor
arguments); the type name, message and traceback text travel in any case.
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


def _pickled_if_round_trips(exc: BaseException) -> bytes | None:
    try:
        data = pickle.dumps(exc, PICKLE_PROTOCOL)
        pickle.loads(data)
    except Exception:
        return None
    return data
