"""Where a module comes from, which decides how far a fingerprint looks into its code.

* **user code** (anything imported from outside the standard library and site-packages: the
  project, its tests, ``__main__``, an editable install): its functions and classes are
  fingerprinted by their bytecode, recursively (``code.py``);
* **the standard library** (and built-in modules): identified by module name and the Python
  version (``cpython-311``); its code is not read;
* **an installed distribution** (a module under a site-packages directory): identified by
  module name and the distribution's version (``numpy 1.26.4``), or ``version unknown`` when
  no distribution claims it; its code is not read.

The recursion stops at the last two because their code changes only with a version, and
reading it would make fingerprinting as slow as importing it twice.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import site
import sys
import sysconfig

__all__ = ["module_origin", "find_origin", "is_user_module", "PYTHON"]

PYTHON = sys.implementation.cache_tag or f"python-{sys.version_info[0]}{sys.version_info[1]}"


@functools.lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    dirs = set(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    paths = sysconfig.get_paths()
    dirs.update(paths[k] for k in ("purelib", "platlib") if k in paths)
    return tuple(os.path.realpath(d) + os.sep for d in dirs)


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _dist_version(top: str) -> str:
    names = _distributions().get(top, [])
    versions = []
    for name in sorted(set(names)):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(versions) or f"{top} version unknown"


def module_origin(name: str) -> str | None:
    """None for user code; otherwise what identifies the module's code: ``"cpython-311"`` for
    the standard library, ``"numpy 1.26.4"`` for an installed distribution."""
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return PYTHON
    if name == "__main__":
        return None
    module = sys.modules.get(name) or sys.modules.get(top)
    if module is None:
        return f"{top} version unknown"
    file = getattr(module, "__file__", None)
    return _file_origin(top, file) if isinstance(file, str) else None


@functools.lru_cache(maxsize=4096)
def _file_origin(top: str, file: str) -> str | None:
    real = os.path.realpath(file)
    if real.startswith(_site_dirs()):
        return _dist_version(top)
    if real.startswith(os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep):
        return PYTHON
    return None


def find_origin(name: str) -> str | None:
    """``module_origin`` of a module that may not be imported yet (found, not imported; its
    parent packages are). Raises ``ImportError`` when there is no such module."""
    if name in sys.modules:
        return module_origin(name)
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return PYTHON
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}")
    return _file_origin(top, spec.origin) if spec.origin and os.path.isfile(spec.origin) else None


def is_user_module(name: str | None) -> bool:
    return name is not None and module_origin(name) is None
