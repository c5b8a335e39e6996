"""Every task starts in a clean worker: what a task changes in the interpreter is put back after it.

``Baseline`` is taken once, when the worker is ready, and ``restore()`` runs after every attempt.
It puts back, when a task changed them:

* the signal dispositions of the standard signals (1-31) and the signal mask: a SIGTERM handler
  left installed would turn the next task's timeout into a ``SystemExit`` it reports as failed;
* the interval timers (``alarm``/``setitimer``: real, virtual, profiling) and
  ``signal.set_wakeup_fd``;
* the working directory, ``sys.path`` (contents and object), ``os.environ``;
* ``sys.stdout``/``sys.stderr``/``sys.stdin`` objects, ``sys.settrace``/``sys.setprofile``.

What it does not put back (documented in docs/design.md): imported modules and their globals,
caches, the umask, resource limits, real-time signal handlers and handlers installed from C (a
C extension's ``sigaction``). A thread the task leaves running cannot be undone: ``restore()``
then answers "dirty" and the worker retires after sending the result.

Cheap on purpose (it runs after every no-op task): one tuple of ``_signal.getsignal`` results
compared with the saved one (the C function: ``signal.getsignal`` converts each answer to an enum,
which made the check cost ~115 us instead of ~4), four system calls (three timers, the mask),
``getcwd``, and C-level comparisons of ``sys.path`` and the environment's bytes.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # C: signal.getsignal wraps answers in enums
import os
import signal
import sys
import threading
from typing import Any

__all__ = ["Baseline", "plain_multiprocessing"]

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}
_SIGNALS = tuple(s for s in range(1, 32) if s not in _UNCATCHABLE)
_TIMERS = tuple(getattr(signal, name) for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
                if hasattr(signal, name))


def plain_multiprocessing() -> None:
    """Give tasks the ``multiprocessing`` they have outside the pool. loky starts this process
    with its own context as the default start method, so a task's ``multiprocessing.Pool()``
    (or spawn/forkserver children) handed the name "loky" to children that cannot find it:
    "cannot find context for 'loky'", over and over. Mutates process-wide state."""
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=True) not in (None, "fork", "spawn",
                                                                 "forkserver"):
        multiprocessing.set_start_method(None, force=True)  # back to the platform's default


def _wakeup_fd(fd: int) -> int:
    try:
        return signal.set_wakeup_fd(fd)
    except ValueError:  # not the main thread (a runner embedded elsewhere): nothing to do
        return -1


def _getsignal(sig: int) -> Any:
    try:
        return _signal.getsignal(sig)
    except (ValueError, OSError):  # not a signal on this platform
        return None


class Baseline:
    """The worker's state as it was when it became ready; ``restore()`` puts it back."""

    def __init__(self) -> None:
        self.signals = tuple(map(_getsignal, _SIGNALS))
        self.mask = _signal.pthread_sigmask(signal.SIG_BLOCK, ()) \
            if hasattr(_signal, "pthread_sigmask") else None
        self.wakeup_fd = _wakeup_fd(-1)
        _wakeup_fd(self.wakeup_fd)
        self.cwd = os.getcwd()
        self.path_obj = sys.path
        self.path = list(sys.path)
        env = getattr(os.environ, "_data", None)  # CPython: the bytes dict behind os.environ
        self.env_data = dict(env) if isinstance(env, dict) else None
        self.env = dict(os.environ)
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.threads = threading.active_count()
        self.thread_idents = {t.ident for t in threading.enumerate()}

    def restore(self) -> bool:
        """Put back what the last task changed; False when a thread it started still runs (the
        worker is not clean and must retire)."""
        self._signals()
        for timer in _TIMERS:
            signal.setitimer(timer, 0)
        _wakeup_fd(self.wakeup_fd)
        self._files_and_paths()
        if sys.gettrace() is not None:
            sys.settrace(None)
        if sys.getprofile() is not None:
            sys.setprofile(None)
        return threading.active_count() <= self.threads or not self._threads_left()

    def _signals(self) -> None:
        try:
            now = tuple(map(_signal.getsignal, _SIGNALS))  # the fast path: no wrapper
        except (ValueError, OSError):
            now = tuple(map(_getsignal, _SIGNALS))
        if now != self.signals:
            for sig, was, handler in zip(_SIGNALS, self.signals, now, strict=True):
                if handler is not was and was is not None:  # None: set from C, unknown here
                    signal.signal(sig, was)
        if self.mask is not None:
            _signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)

    def _files_and_paths(self) -> None:
        try:
            moved = os.getcwd() != self.cwd
        except OSError:  # the task removed the directory it moved to
            moved = True
        if moved:
            os.chdir(self.cwd)
        if sys.path is not self.path_obj or self.path_obj != self.path:
            self.path_obj[:] = self.path
            sys.path = self.path_obj
        env = getattr(os.environ, "_data", None)
        if self.env_data is None or env != self.env_data:
            self._environ()
        if (sys.stdin, sys.stdout, sys.stderr) != self.streams:
            sys.stdin, sys.stdout, sys.stderr = self.streams

    def _environ(self) -> None:
        now = dict(os.environ)
        for key in now.keys() - self.env.keys():
            del os.environ[key]  # unsetenv too
        for key, value in self.env.items():
            if now.get(key) != value:
                os.environ[key] = value

    def _threads_left(self) -> bool:
        return any(t.is_alive() for t in threading.enumerate()
                   if t.ident not in self.thread_idents)
