"""What the figures were measured on: cores, CPU model, Python, package versions, load."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

import psutil

__all__ = ["describe", "usable_cores", "header_lines", "load_average"]

_PACKAGES = ("orchestrator-engine", "loky", "cloudpickle", "psutil", "joblib", "pebble", "dask",
             "distributed", "ray", "matplotlib")


def usable_cores() -> int:
    """Cores this process may run on (affinity), which is what parallel speedup is capped by."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average() -> float | None:
    """The 1-minute load average: how busy the machine was (other users included)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def describe() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable_cores(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "load_average": list(load) if load else None,
        "packages": {name: _version(name) for name in _PACKAGES},
    }


def header_lines(info: dict[str, Any]) -> list[str]:
    """The machine as a few markdown lines for the top of the report."""
    load = info.get("load_average")
    load_txt = ", ".join(f"{x:.2f}" for x in load) if load else "n/a"
    pkgs = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v) or "none"
    missing = ", ".join(k for k, v in info["packages"].items() if not v)
    lines = [
        f"- CPU: {info['cpu_model']}, {info['logical_cores']} logical cores "
        f"({info['physical_cores']} physical, {info['usable_cores']} usable), "
        f"{info['memory_gib']} GiB RAM",
        f"- {info['os']}, {info['python']}",
        f"- Packages: {pkgs}" + (f" (not installed: {missing})" if missing else ""),
        f"- Load average when the suite started (1, 5, 15 min): {load_txt}",
    ]
    return lines
