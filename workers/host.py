"""The runners of one host process (a Dask worker): warm idle ones, the running one of each
attempt by its key, and everything done to them (start, hand over, wait, kill, sample, retire,
replace). ``workers.dask_host`` plugs a ``Host`` into a Dask worker; the design is told there.

The rules: a runner is a ``workers.runner`` started by ``workers.spawn``; a kill finds a runner
only while its attempt is registered (one lock orders both), so it never hits the runner's
next attempt; a dead runner's group is SIGKILLed before it is reaped, and what a kill signalled
after; a runner a kill reached, or at its task limit, is retired; a replacement starts off the
task's thread, so an outcome never waits for an interpreter. An outcome is ``("done", address,
pid, *DONE[2:])`` (the runner's DONE: value and reports still pickled, tails, retire) or
``("lost", address, pid, exit_code, signal, cause)``; one that pickles to at most ``EVENT_LIMIT``
bytes is published (``["outcome", run, ticket, pickled]``) and the task
body returns ``SENT``. Light to import: no Dask (psutil loads with the first kill or sample).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from multiprocessing.connection import wait as wait_ready
from typing import TYPE_CHECKING, Any, Callable, Tuple

from .protocol import (
    DONE,
    EXIT_FRAME,
    GOODBYE_FRAME,
    PICKLE_PROTOCOL,
    READY,
    RESET_FRAME,
    encode_define,
    encode_run,
    encode_unwatch,
    encode_watch,
    receive,
)
from .spawn import Spawned, start_reaper, start_runner
from .tree import exit_status, kill_group, kill_tree, tree_rss

if TYPE_CHECKING:
    import psutil

__all__ = ["Host", "Runner", "StartFailed", "Outcome", "SENT", "BACKSTOP_S", "EVENT_LIMIT"]

Outcome = Tuple[Any, ...]
# What the task returns when its outcome went out as an event.
SENT: Outcome = ("sent",)

# A runner still running this long after its deadline was never killed by the orchestrator.
BACKSTOP_S = 30.0
# How often a waiting task body looks up from its runner (memory samples, the backstop).
CHECK_S = 0.1
# A watched attempt's memory is published when it moved by this much since the last report.
SAMPLE_STEP = 1 << 20
# Seconds a runner may take to start (a fresh interpreter on a loaded machine).
START_TIMEOUT = 60.0
# Outcomes up to this size (pickled) travel as events. The scheduler keeps a topic's last
# 1,000 events (``distributed.admin.low-level-log-length``): at most ~16 MB here.
EVENT_LIMIT = 16 * 1024


class Runner:
    """One runner process and what the host knows about it."""

    __slots__ = ("proc", "lock", "ready", "done", "run", "defined", "killed", "key", "ticket",
                 "sample", "rss", "cause")

    def __init__(self, proc: Spawned) -> None:
        self.proc = proc
        self.lock = threading.Lock()  # held by a kill of it, and by its attempt's end
        self.ready = False
        self.done = 0  # attempts finished, for the task limit
        self.run: int | None = None  # the run whose functions it was given
        self.defined: set[Any] = set()
        self.killed: list[psutil.Process] = []  # what a kill signalled, for the next step
        self.key: Any = None  # the Dask key of the attempt it runs
        self.ticket: tuple[int, int] | None = None  # that attempt's (run, ticket)
        self.sample: float | None = None  # seconds between memory samples, once watched
        self.rss: int | None = None  # the last memory reported
        self.cause: str | None = None  # why the host killed it, if it did


class StartFailed(Exception):
    """A runner could not be started or died before it was ready."""


class Host:
    """The runners of one Dask worker: idle ones, and the running one of each attempt by key.

    ``lock`` guards the lists; each runner's own lock orders a kill of it against its
    attempt's end (a kill acts only while the runner's ``key`` is still the one it was asked
    to kill, so it can never hit the runner's next attempt), and lets kills of different
    runners proceed at once.
    """

    def __init__(self, address: str, topic: str, log_event: Callable[[str, Any], None]) -> None:
        self.address = address
        self.topic = topic
        self.log_event = log_event
        self.lock = threading.Lock()
        self.idle: list[Runner] = []
        self.running: dict[Any, Runner] = {}
        self.closed = False
        self.cwd = os.getcwd()
        # Runners read the lifeline; nobody writes it: EOF tells them this worker is gone.
        self.lifeline_r, self.lifeline_w = os.pipe()
        self.reaper = start_reaper()

    # -- the runners ---------------------------------------------------------------------------

    def warm(self, count: int) -> None:
        """Start ``count`` runners and wait until each is ready; raises ``RuntimeError`` naming
        the worker and the exit code when one cannot start."""
        runners = [self._spawn() for _ in range(count)]
        try:
            for runner in runners:
                self._ready(runner)
        except StartFailed as exc:
            for runner in runners:
                self._discard(runner)
            raise RuntimeError(f"cannot start a runner process on Dask worker {self.address}: "
                               f"{exc}; check that 'workers' imports in a fresh interpreter "
                               f"there (orchestrator-engine installed)") from None
        with self.lock:
            self.idle.extend(runners)

    def _spawn(self) -> Runner:
        try:
            proc = start_runner(self.lifeline_r, self.cwd)
        except OSError as exc:
            raise StartFailed(f"{type(exc).__name__}: {exc}") from None
        self._send_reaper(encode_watch(proc.pid))
        return Runner(proc)

    def _ready(self, runner: Runner) -> None:
        """Wait for the runner's READY (once); raises ``StartFailed``."""
        if runner.ready:
            return
        conn = runner.proc.conn
        try:
            if conn.poll(START_TIMEOUT) and receive(conn)[0] == READY:
                runner.ready = True
                return
        except (EOFError, OSError):
            pass
        code = runner.proc.reap(1.0)
        if code is None:
            raise StartFailed("it did not start in time")
        exit_code, sig = exit_status(code)
        raise StartFailed(f"it died ({sig})" if sig else f"it exited with code {exit_code}")

    def _checkout(self) -> Runner:
        """An idle runner, ready (a fresh one if none is idle); raises ``StartFailed``."""
        while True:
            with self.lock:
                if self.closed:
                    raise StartFailed("the worker's runner host is closing")
                runner = self.idle.pop() if self.idle else None
            if runner is None:
                runner = self._spawn()
                break
            if not runner.proc.exited():
                break
            self._collect(runner)  # it died while idle (OOM killer?): not this attempt's fault
        try:
            self._ready(runner)
        except StartFailed:
            self._discard(runner)
            raise
        return runner

    def _checkin(self, runner: Runner, limit: int | None) -> None:
        """After an attempt ended with ``runner`` alive: keep it idle, or retire it (a kill
        reached it, or it is at its task limit) and start its replacement now. Mutates."""
        runner.done += 1
        runner.key = runner.ticket = runner.sample = runner.rss = runner.cause = None
        if runner.killed or (limit is not None and runner.done >= limit):
            threading.Thread(target=self._retire, args=(runner,), name="runner-retire",
                             daemon=True).start()
            return
        self._keep_idle(runner)

    def _retire(self, runner: Runner) -> None:
        self._replace()
        self._discard(runner)

    def _replace(self) -> None:
        """Start a runner for the idle list, so the next attempt finds one warm (if it cannot
        start, the next attempt tries again and says why)."""
        with self.lock:
            if self.closed:
                return
        try:
            runner = self._spawn()
        except StartFailed:
            return
        self._keep_idle(runner)

    def _keep_idle(self, runner: Runner) -> None:
        """Put ``runner`` on the idle list, or end it if the host has closed meanwhile."""
        with self.lock:
            if not self.closed:
                self.idle.append(runner)
                return
        self._discard(runner)

    def _discard(self, runner: Runner) -> int | None:
        """End ``runner`` for good (EXIT, then SIGKILL) and collect it; its exit code."""
        proc = runner.proc
        if not proc.exited():
            try:
                proc.conn.send_bytes(EXIT_FRAME)
            except OSError:
                pass
            if proc.reap(2.0) is None:
                kill_tree(proc.pid, signal.SIGKILL, runner.killed)
        return self._collect(runner)

    def _collect(self, runner: Runner) -> int | None:
        """``_reap`` and ``_release`` the exited runner; its exit code."""
        code = self._reap(runner)
        self._release(runner)
        return code

    def _reap(self, runner: Runner) -> int | None:
        """SIGKILL the exited runner's process group and reap it; its exit code. The group goes
        first: until the runner is reaped its pid, which is its group id, cannot be reused."""
        proc = runner.proc
        kill_group(proc.pid)
        code = proc.reap(5.0)
        if code is None:
            kill_tree(proc.pid, signal.SIGKILL)
            code = proc.reap(5.0)
        return code

    def _release(self, runner: Runner) -> None:
        """After ``_reap``: SIGKILL what a kill signalled that outlived the runner (a
        descendant that left its group), stop the reaper watching it, close its pipe."""
        for p in runner.killed:
            if p.pid != runner.proc.pid:
                try:
                    p.kill()  # psutil checks the pid was not reused
                except Exception:
                    pass
        self._send_reaper(encode_unwatch(runner.proc.pid))
        runner.proc.close()

    def _release_and_replace(self, runner: Runner) -> None:
        self._release(runner)
        self._replace()

    # -- one attempt ---------------------------------------------------------------------------

    def run(self, key: Any, run: int, ticket: int, task_id: str, attempt: int,
            timeout: float | None, fn: tuple[Any, int, Any], args: bytes,
            limit: int | None) -> Outcome:
        """Run one attempt; publish its outcome and return ``SENT``, or return a large one."""
        outcome = self._run(key, run, ticket, task_id, attempt, timeout, fn, args, limit)
        if outcome[0] == "done" and isinstance(outcome[5], bytes) \
                and len(outcome[5]) > EVENT_LIMIT:
            return outcome  # no need to pickle a large value to learn it is large
        blob = pickle.dumps(outcome, PICKLE_PROTOCOL)
        if len(blob) > EVENT_LIMIT:
            return outcome
        self.log_event(self.topic, ["outcome", run, ticket, blob])
        return SENT

    def _run(self, key: Any, run: int, ticket: int, task_id: str, attempt: int,
             timeout: float | None, fn: tuple[Any, int, Any], args: bytes,
             limit: int | None) -> Outcome:
        """Run one attempt in a runner and return its outcome (never raises)."""
        try:
            runner = self._checkout()
        except StartFailed as exc:
            return ("lost", self.address, None, None, None,
                    f"no runner process could start on Dask worker {self.address}: {exc}")
        with self.lock:
            runner.key, runner.ticket = key, (run, ticket)
            self.running[key] = runner
        try:
            _send(runner, run, ticket, task_id, attempt, timeout, fn, args)
        except OSError:
            pass  # it died while idle: the wait below collects it and says how
        self.log_event(self.topic, ["started", run, ticket, runner.proc.pid, self.address])
        outcome = self._wait(runner, timeout)
        with runner.lock:  # a kill under way ends first: then it has marked the runner
            with self.lock:
                self.running.pop(key, None)
            runner.key = None
        if outcome[0] == "lost":
            code = self._reap(runner)
            # Off this thread: the outcome goes back now, not after an interpreter start.
            threading.Thread(target=self._release_and_replace, args=(runner,),
                             name="runner-replace", daemon=True).start()
            return ("lost", self.address, runner.proc.pid, *exit_status(code), runner.cause)
        self._checkin(runner, 0 if outcome[0] == "done" and outcome[-1] else limit)  # retire
        return outcome

    def _wait(self, runner: Runner, timeout: float | None) -> Outcome:
        """Wait for the runner's DONE (the outcome, value still pickled) or its death
        (``("lost",)``: the caller collects it)."""
        proc = runner.proc
        conn = proc.conn
        watched: list[Any] = [conn] if proc.sentinel is None else [conn, proc.sentinel]
        backstop = None if timeout is None else time.monotonic() + timeout + BACKSTOP_S
        while True:
            ready = wait_ready(watched, min(CHECK_S, runner.sample or CHECK_S))
            if conn in ready or (ready and conn.poll(0)):
                try:
                    msg = receive(conn)
                except (EOFError, OSError):
                    return ("lost",)
                if msg[0] == DONE:
                    return ("done", self.address, proc.pid, *msg[2:])
                continue
            if ready or (proc.sentinel is None and proc.exited()):
                return ("lost",)
            if runner.sample is not None:
                self._sample(runner)
            if backstop is not None and time.monotonic() > backstop and not runner.killed:
                runner.cause = (f"killed on Dask worker {self.address}: still running "
                                f"{BACKSTOP_S:g}s after its deadline (the orchestrator's kill "
                                f"never came)")
                with runner.lock:
                    runner.killed = kill_tree(proc.pid, signal.SIGKILL)

    def _sample(self, runner: Runner) -> None:
        rss = tree_rss(runner.proc.pid)
        if rss is None or runner.ticket is None:
            return
        if runner.rss is None or abs(rss - runner.rss) >= SAMPLE_STEP:
            runner.rss = rss
            self.log_event(self.topic, ["memory", *runner.ticket, rss])

    # -- control ---------------------------------------------------------------------------------

    def kill(self, key: Any, sig: int) -> list[int]:
        """Signal the tree of the runner running ``key`` (nothing if it is not running)."""
        with self.lock:
            runner = self.running.get(key)
        if runner is None:
            return []
        with runner.lock:
            if runner.key != key:
                return []  # its attempt ended meanwhile
            runner.killed = kill_tree(runner.proc.pid, sig, runner.killed)
            return [p.pid for p in runner.killed]

    def watch(self, key: Any, interval: float) -> None:
        """Sample the memory of the attempt ``key`` every ``interval`` seconds from now on."""
        with self.lock:
            runner = self.running.get(key)
            if runner is not None:
                runner.sample = interval

    def close(self) -> None:
        """Kill the running runners, end the idle ones, say goodbye to the reaper. Mutates."""
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
            running = list(self.running)
        for key in running:
            self.kill(key, signal.SIGKILL)
        for runner in idle:
            self._discard(runner)  # running ones are collected by their task bodies
        self._send_reaper(GOODBYE_FRAME)
        self.reaper.reap(5.0)
        self.reaper.close()
        for fd in (self.lifeline_r, self.lifeline_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _send_reaper(self, frame: bytes) -> None:
        try:
            self.reaper.conn.send_bytes(frame)
        except (OSError, ValueError):
            pass  # the reaper is gone; each runner's lifeline still watches this worker


def _send(runner: Runner, run: int, ticket: int, task_id: str, attempt: int,
          timeout: float | None, fn: tuple[Any, int, Any], args: bytes) -> None:
    """Send the attempt (after a RESET for a new run, and its function the first time)."""
    send = runner.proc.conn.send_bytes
    if runner.run != run:  # a new run: the runner forgets the last run's functions
        if runner.defined:
            send(RESET_FRAME)
            runner.defined.clear()
        runner.run = run
    fn_key, kind, payload = fn
    if fn_key not in runner.defined:
        send(encode_define(fn_key, kind, payload))
        runner.defined.add(fn_key)
    header, extra = encode_run(ticket, fn_key, task_id, attempt, timeout, args)
    send(header)
    if extra is not None:
        send(extra)
