"""How a task's value becomes bytes in the store, and back; each row names its serialiser.

The pickling that already carries results: the C pickler (protocol 5), and cloudpickle when it
fails or when the pickle refers to ``__main__`` (a later program that resumes has another
``__main__``, so such a class must travel by value). ``bytes`` values are stored as they are
(``raw``): the pool already receives a large ``bytes`` result as a raw frame, and a pickle of it
would only be a copy. Both pickle forms load with ``pickle.loads`` (cloudpickle's output needs
cloudpickle importable, which it is: it is a dependency).

Bytes a worker already produced can be passed in as an ``Encoded`` (see ``RunWriter.record``),
so the parent does not pickle the value a second time.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..executors.pickling import PROTOCOL

__all__ = ["Encoded", "NotStorable", "encode", "decode", "SERIALIZERS"]

PICKLE, CLOUDPICKLE, RAW = "pickle", "cloudpickle", "raw"
SERIALIZERS = (PICKLE, CLOUDPICKLE, RAW)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A value's stored form: ``data`` as written by ``serializer`` (one of ``SERIALIZERS``)."""

    serializer: str
    data: bytes

    def __post_init__(self) -> None:
        if self.serializer not in SERIALIZERS:
            raise ValueError(f"Encoded.serializer must be one of {SERIALIZERS}, "
                             f"got {self.serializer!r}")


class NotStorable(Exception):
    """The value cannot be pickled; the message says why (the task is "succeeded, not
    stored")."""


def encode(value: Any) -> Encoded:
    """``value`` as stored bytes; raises ``NotStorable``."""
    if type(value) is bytes:
        return Encoded(RAW, value)
    try:
        data = pickle.dumps(value, PROTOCOL)
    except Exception:
        data = None
    if data is not None and b"__main__" not in data:
        return Encoded(PICKLE, data)
    try:
        return Encoded(CLOUDPICKLE, cloudpickle.dumps(value, PROTOCOL))
    except Exception as exc:
        raise NotStorable(f"its value (a {type(value).__qualname__}) cannot be pickled: "
                          f"{type(exc).__name__}: {exc}") from exc


def decode(serializer: str, data: bytes) -> Any:
    """The value ``data`` holds; raises whatever unpickling raises (the caller names the
    task)."""
    if serializer == RAW:
        return bytes(data)
    if serializer in (PICKLE, CLOUDPICKLE):
        return pickle.loads(data)
    raise ValueError(f"unknown serializer {serializer!r} (written by a newer orchestrator?)")
