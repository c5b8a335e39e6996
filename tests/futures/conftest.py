"""The futures suite's fixtures: ``make_pool`` gives the pool under test, parametrized over
this engine's ``ProcessPool`` and the stdlib's ``ProcessPoolExecutor`` (the conformance tests
must hold for both: they check the documented behaviour, not ours); ``gate`` makes the files a
blocked task waits on."""

from __future__ import annotations

import concurrent.futures as cf
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import pytest

from orchestrator import ProcessPool

DEADLINE = 60.0  # only a deadlock reaches it


def wait_for(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """Re-evaluate ``check`` until it is truthy (a file a worker writes, a process gone)."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what} after {deadline:.0f}s")
        time.sleep(0.01)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Gate:
    """A ``ready`` file a blocked task writes once it runs, and the ``release`` file it waits
    for."""

    def __init__(self, root: Path, name: str) -> None:
        self.ready = str(root / f"{name}.ready")
        self.release = str(root / f"{name}.release")

    def wait_running(self) -> int:
        """The pid of the task, once it runs."""
        return int(wait_for(f"{self.ready} to appear", lambda: _read(self.ready)))

    def open(self) -> None:
        Path(self.release).touch()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Callable[[str], Gate]]:
    made: list[Gate] = []

    def make(name: str) -> Gate:
        made.append(Gate(tmp_path, name))
        return made[-1]

    yield make
    for g in made:  # a failing test must not leave a task blocked for a minute
        g.open()


@pytest.fixture(params=["engine", "stdlib"])
def make_pool(request: pytest.FixtureRequest) -> Iterator[Callable[..., cf.Executor]]:
    pools: list[cf.Executor] = []

    def make(max_workers: int = 2) -> cf.Executor:
        pool: cf.Executor
        if request.param == "engine":
            pool = ProcessPool(max_workers)
        else:
            pool = cf.ProcessPoolExecutor(max_workers)
        pools.append(pool)
        return pool

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
