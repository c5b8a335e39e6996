"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` as subprocesses on
127.0.0.1, as an operator would start them, and a check that it leaves nothing behind.

Import-light for the workers: the task functions the tests run are in ``tasks.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tests.process.sync import wait_gone

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # a deadlock guard: cluster processes start in seconds, more when loaded


class TestCluster:
    """A scheduler and ``workers`` worker processes (``nthreads`` threads each, behind a nanny
    unless ``nanny=False``). ``address``; ``client`` (a plain one, for inspecting the cluster)."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, directory: Path, *, workers: int = 2, nthreads: int = 2,
                 nanny: bool = True) -> None:
        self.directory = directory
        self.scheduler_file = directory / "scheduler.json"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), self.env.get("PYTHONPATH", "")])
        self.procs: list[subprocess.Popen[bytes]] = []
        self.procs.append(self._start("scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard"))
        self._wait_for_file()
        for _ in range(workers):
            self.start_worker(nthreads=nthreads, nanny=nanny)
        from distributed import Client

        self.client = Client(scheduler_file=str(self.scheduler_file), set_as_default=False,
                             timeout=START_TIMEOUT)
        self.client.wait_for_workers(workers, timeout=START_TIMEOUT)
        self.address = str(self.client.scheduler.address)

    def _start(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"{role}-{len(self.procs)}.log", "wb")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "dask", role, "--scheduler-file", str(self.scheduler_file),
                 *args], env=self.env, cwd=str(self.directory), stdout=log, stderr=log)
        finally:
            log.close()

    def _wait_for_file(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.scheduler_file.exists() or not self.scheduler_file.stat().st_size:
            if self.procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dask scheduler did not start: see {self.directory}")
            time.sleep(0.05)  # bounded wait for another process to write its file

    def start_worker(self, *, nthreads: int = 2, nanny: bool = True) -> None:
        args = ["--host", "127.0.0.1", "--nworkers", "1", "--nthreads", str(nthreads),
                "--no-dashboard", "--death-timeout", "60"]
        self.procs.append(self._start("worker", *args, *([] if nanny else ["--no-nanny"])))

    def worker_pids(self) -> dict[str, int]:
        """Dask worker address -> the pid of its worker process."""
        return {str(a): int(p) for a, p in self.client.run(os.getpid).items()}

    def roots(self) -> list[int]:
        """The pids of the processes this cluster started (their trees hold everything else)."""
        return [p.pid for p in self.procs if p.poll() is None]

    def processes(self) -> list[psutil.Process]:
        """Every process of the cluster: the started ones and all their descendants."""
        out: list[psutil.Process] = []
        for pid in self.roots():
            try:
                root = psutil.Process(pid)
                out += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        return out

    def close(self) -> list[str]:
        """Stop everything this cluster started; what was still alive after a generous wait
        (killed then), described. The runners and reapers of the workers must be gone too."""
        pids = [p.pid for p in self.processes()]
        try:
            self.client.close()
        except Exception:
            pass
        for proc in reversed(self.procs):  # workers first, the scheduler last
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        left = wait_gone(pids, timeout=30)
        described = [_describe(pid) for pid in left]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return described


def _describe(pid: int) -> str:
    try:
        return f"pid {pid}: {' '.join(psutil.Process(pid).cmdline())[:120]}"
    except psutil.Error:
        return f"pid {pid}"


def runner_pids(processes: list[Any]) -> list[int]:
    """The runner processes among ``processes`` (``workers.spawn runner``)."""
    out = []
    for proc in processes:
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if "workers.spawn" in cmd and "runner" in cmd:
            out.append(proc.pid)
    return out
