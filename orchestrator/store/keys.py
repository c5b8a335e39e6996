"""A task's cache key: a ``Fingerprint``, or ``NotCacheable`` with the reason. Nothing between.

``fingerprint.py`` computes them; the store records either (the reason is kept in the task's
row, and the run says it once in an event). A key is never partial: when any part of a task
cannot be encoded, the whole task is not cacheable and always runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["Fingerprint", "NotCacheable", "Key"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The sha256 of everything that decides what a task returns (``digest``: 32 bytes)."""

    digest: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != 32:
            raise ValueError(f"Fingerprint.digest must be 32 bytes, got {self.digest!r}")

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @classmethod
    def from_hex(cls, text: str) -> Fingerprint:
        return cls(bytes.fromhex(text))

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        return f"Fingerprint({self.hex[:16]}...)"


@dataclass(frozen=True, slots=True)
class NotCacheable:
    """Why a task has no fingerprint, naming the part: ``args[1]: no canonical encoding for
    socket.socket``."""

    reason: str

    def __str__(self) -> str:
        return self.reason


Key = Union[Fingerprint, NotCacheable]
