"""Tasks for the worker-hygiene tests: each changes one piece of interpreter state, or looks at
it. Module-level, so a worker imports them by reference."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from workers import current_task


def _exit_on_term(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # the common "clean shutdown" handler


def install_handlers() -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    signal.signal(signal.SIGINT, _exit_on_term)
    signal.signal(signal.SIGUSR1, _exit_on_term)
    return os.getpid()


def set_timers() -> int:
    signal.setitimer(signal.ITIMER_REAL, 600)
    signal.setitimer(signal.ITIMER_PROF, 600)
    return os.getpid()


def set_wakeup_fd() -> int:
    _, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    return os.getpid()


def block_sigterm() -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    return os.getpid()


def move_things(directory: str) -> int:
    os.chdir(directory)
    sys.path.insert(0, "/nonexistent/left-by-a-task")
    os.environ["ORCHESTRATOR_LEFT_BY_A_TASK"] = "1"
    os.environ.pop("ORCHESTRATOR_KEEP_ME", None)
    return os.getpid()


def replace_sys_path() -> int:
    sys.path = ["/nonexistent/only"]
    return os.getpid()


def probe() -> dict[str, Any]:
    """What this worker's interpreter looks like now."""
    old_fd = signal.set_wakeup_fd(-1)
    return {
        "pid": os.getpid(),
        "sigterm": signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
        "sigint": signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
        "sigusr1": signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL,
        "timers": [signal.getitimer(t)[0] for t in (signal.ITIMER_REAL, signal.ITIMER_PROF)],
        "wakeup_fd": old_fd,
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, ())),
        "cwd": os.getcwd(),
        "left_on_path": "/nonexistent/left-by-a-task" in sys.path,
        "path_only": sys.path == ["/nonexistent/only"],
        "env_left": os.environ.get("ORCHESTRATOR_LEFT_BY_A_TASK"),
        "env_kept": os.environ.get("ORCHESTRATOR_KEEP_ME"),
    }


def leave_thread() -> int:
    """Start a thread that outlives the task (non-daemon: it would even hold the exit)."""
    threading.Thread(target=time.sleep, args=(3600,), name="left-running").start()
    return os.getpid()


def join_thread() -> int:
    t = threading.Thread(target=sum, args=([1, 2],))
    t.start()
    t.join()
    return os.getpid()


def pid() -> int:
    return os.getpid()


# -- output ---------------------------------------------------------------------------------


def chatter(lines: int, width: int = 10) -> int:
    for i in range(lines):
        print(f"line {i:06d} " + "x" * width)
    print("to stderr", file=sys.stderr)
    return lines


def child_output() -> int:
    return os.system("echo from a child; echo child err >&2")


def print_and_hang(ready: str) -> None:
    print("before the hang", flush=True)
    with open(ready, "w"):
        pass
    while True:
        time.sleep(0.01)


# -- multiprocessing inside a task ----------------------------------------------------------


def square(x: int) -> int:
    return x * x


def use_multiprocessing(method: str | None) -> list[int]:
    ctx: Any = multiprocessing if method is None else multiprocessing.get_context(method)
    with ctx.Pool(2) as p:
        return list(p.map(square, range(5)))


def use_process(method: str | None) -> int | None:
    ctx: Any = multiprocessing if method is None else multiprocessing.get_context(method)
    proc = ctx.Process(target=square, args=(3,))
    proc.start()
    proc.join(120)
    return proc.exitcode


# -- what crosses the boundary --------------------------------------------------------------


@dataclass(frozen=True)
class FrozenError(Exception):
    code: int
    detail: str = "frozen"


def raise_frozen() -> None:
    raise FrozenError(7, "a frozen dataclass exception")


class ExitOnUnpickle:
    """Pickles fine; unpickling it calls ``sys.exit(3)``."""

    def __reduce__(self) -> Any:
        return (sys.exit, (3,))


class ExitOnPickle:
    def __reduce__(self) -> Any:
        sys.exit(4)


class ExitOnPickleCallable:
    def __call__(self) -> None:
        return None

    def __reduce__(self) -> Any:
        sys.exit(5)


def return_exit_on_unpickle() -> ExitOnUnpickle:
    return ExitOnUnpickle()


class ExitOnUnpickleError(Exception):
    def __reduce__(self) -> Any:
        return (sys.exit, (6,))


def raise_exit_on_unpickle() -> None:
    raise ExitOnUnpickleError("unpickling me exits")


def echo(value: Any) -> Any:
    return value


def report_worker_only() -> str:
    from workers.agents import return_worker_only_class

    current_task().report(cost=0.5, thing=return_worker_only_class())
    return "done"


def report_unpicklable() -> str:
    current_task().report(cost=0.5, lock=threading.Lock())
    return "done"


def redirect_fds() -> int:
    """Point fd 1 at /dev/null and close fd 2, as a daemonising library might."""
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.close(fd)
    os.close(2)
    return os.getpid()


def print_both() -> int:
    print("out again")
    print("err again", file=sys.stderr)
    return os.getpid()
