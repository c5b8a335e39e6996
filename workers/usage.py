"""What one attempt used, measured in the worker: CPU time and peak resident memory."""

from __future__ import annotations

import os
import sys
import time

__all__ = ["cpu_time", "PeakMemory", "PEAK_RSS_MIN_RUN_S"]

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no waited-for children's CPU
    resource = None  # type: ignore[assignment]

# Attempts shorter than this report no peak memory (``peak_rss`` is None).
PEAK_RSS_MIN_RUN_S = 0.001


def cpu_time() -> float:
    """CPU seconds of this process and of the children it waited for (their CPU is added to
    ours when they are reaped). ``process_time`` has nanosecond resolution (``os.times``
    counts 10 ms clock ticks)."""
    if resource is None:  # pragma: no cover
        return time.process_time()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + usage.ru_utime + usage.ru_stime


class PeakMemory:
    """Peak resident memory of this process during one attempt (Linux: VmHWM, reset per task)."""

    def __init__(self) -> None:
        try:
            self._clear = os.open("/proc/self/clear_refs", os.O_WRONLY)
            self._status = os.open("/proc/self/status", os.O_RDONLY)
        except OSError:
            self._clear = self._status = -1

    def reset(self) -> None:
        if self._clear >= 0:
            try:
                os.write(self._clear, b"5")  # "5": reset the peak RSS counter (Linux >= 4.0)
            except OSError:
                self._clear = -1

    def peak(self) -> int | None:
        if self._status >= 0:
            try:
                text = os.pread(self._status, 8192, 0)
                start = text.index(b"VmHWM:") + 6
                return int(text[start:text.index(b"kB", start)]) * 1024
            except (OSError, ValueError):
                return None
        try:
            scale = 1 if sys.platform == "darwin" else 1024
            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
        except Exception:
            return None
