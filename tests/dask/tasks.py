"""Task functions for the Dask tests (imported inside runners on the cluster: keep it light)."""

from __future__ import annotations

import ctypes
import os
from typing import Any


def c_sleep(seconds: int = 3600, ready: str | None = None) -> None:
    """Sleep inside one C call (libc ``sleep``): no Python code runs until it is killed."""
    if ready is not None:
        with open(ready, "w") as f:
            f.write(f"{os.getpid()}\n")
    ctypes.CDLL(None).sleep(seconds)


def pid() -> int:
    return os.getpid()


def square(x: int) -> int:
    return x * x


def total(*values: Any) -> Any:
    return sum(values)
