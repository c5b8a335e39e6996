"""A worker's stdout and stderr: captured per attempt, forwarded with the task's id, tail kept.

File descriptors 1 and 2 of the worker (and so of every process a task starts) point to two
unlinked temporary files opened ``O_APPEND``, never to the parent's stdout: a task's ``print``
can no longer corrupt ``orchestrator run --json`` or ``--events -``, nor a live display. A write
never blocks the task (a file, not a pipe someone must read).

What an attempt wrote is forwarded, line by line, to the parent's stderr as ``[task-id] line``
(``[task-id stderr] line`` for its stderr), or, when the attempt names a directory
(``--task-output DIR``), appended to ``DIR/<task-id>.stdout`` and ``DIR/<task-id>.stderr``. A
pump thread forwards what a long task writes while it runs (every ``PUMP_S``), so output shows up
live and survives a kill up to the last pump; the rest goes when the attempt ends. The last
``TAIL_LIMIT`` bytes of each stream of the attempt come back on the result (``stdout_tail``,
``stderr_tail``). The common case, no output at all, costs two ``fstat`` and two flushes. A
task that points fd 1 or 2 elsewhere (``dup2``, ``close``) gets it pointed back after it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from typing import Tuple

__all__ = ["Output", "TAIL_LIMIT", "PUMP_S", "Tails", "output_path"]

TAIL_LIMIT = 4096  # bytes of each stream kept for the result
PUMP_S = 0.25
Tails = Tuple[str | None, str | None]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def output_path(directory: str, task_id: str, stream: str) -> str:
    """Where ``--task-output`` puts one task's stream (``stream``: "stdout" or "stderr"): the id
    with every character outside ``[A-Za-z0-9._-]`` written as ``_``."""
    return os.path.join(directory, f"{_UNSAFE.sub('_', task_id) or '_'}.{stream}")


class _Stream:
    __slots__ = ("name", "target", "fd", "ident", "sent", "tail", "partial")

    def __init__(self, name: str, target: int, fd: int) -> None:
        self.name = name
        self.target = target  # 1 or 2
        self.fd = fd  # our own descriptor of the capture file
        st = os.fstat(fd)
        self.ident = (st.st_dev, st.st_ino)
        self.sent = 0  # bytes of the file already forwarded
        self.tail = bytearray()
        self.partial = b""  # a line not yet ended, held back for its prefix


class Output:
    """Owns fds 1 and 2 of this process once ``install()`` ran."""

    def __init__(self) -> None:
        self.parent_err = -1
        self.streams: list[_Stream] = []
        self.lock = threading.Lock()
        self.task_id: str | None = None
        self.directory: str | None = None
        self.attempt = 1

    def install(self) -> None:
        """Point fds 1 and 2 at the capture files and start the pump. Mutates the process."""
        self.parent_err = os.dup(2)
        os.set_inheritable(self.parent_err, False)
        for target, name in ((1, "stdout"), (2, "stderr")):
            fd, path = tempfile.mkstemp(prefix=f"orchestrator-{os.getpid()}-{name}-")
            appending = os.open(path, os.O_RDWR | os.O_APPEND)
            os.unlink(path)
            os.close(fd)
            os.dup2(appending, target)
            os.set_inheritable(appending, False)
            self.streams.append(_Stream(name, target, appending))
        threading.Thread(target=self._pump, name="output-pump", daemon=True).start()

    def begin(self, task_id: str, attempt: int, directory: str | None) -> None:
        with self.lock:
            self.task_id, self.attempt, self.directory = task_id, attempt, directory

    def end(self) -> Tails | None:
        """Forward the rest of the attempt's output; its tails, or None when it wrote nothing."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed or broken stream the task left: nothing to flush
                pass
        with self.lock:
            tails = [self._finish(s) for s in self.streams]
            self.task_id = None
        if tails[0] is None and tails[1] is None:
            return None
        return tails[0], tails[1]

    def _finish(self, s: _Stream) -> str | None:
        try:
            st = os.fstat(s.target)
            moved = (st.st_dev, st.st_ino) != s.ident
        except OSError:  # the task closed fd 1 or 2
            moved = True
        if moved:  # the task pointed fd 1 or 2 elsewhere: point it back for the next task
            os.dup2(s.fd, s.target)
            st = os.fstat(s.fd)
        size = st.st_size
        if size == s.sent and not s.tail and not s.partial:
            return None
        self._forward(s, size)
        if s.partial:
            self._emit(s, s.partial + b"\n")
            s.partial = b""
        os.ftruncate(s.fd, 0)
        s.sent = 0
        tail = bytes(s.tail).decode("utf-8", "replace") if s.tail else None
        s.tail = bytearray()
        return tail

    def _forward(self, s: _Stream, size: int) -> None:
        """Forward bytes ``s.sent:size`` of the file. Called under the lock."""
        while s.sent < size:
            chunk = os.pread(s.fd, min(size - s.sent, 1 << 20), s.sent)
            if not chunk:
                break
            s.sent += len(chunk)
            s.tail += chunk
            if len(s.tail) > TAIL_LIMIT:
                del s.tail[:len(s.tail) - TAIL_LIMIT]
            head, newline, rest = (s.partial + chunk).rpartition(b"\n")
            s.partial = rest
            if newline:
                self._emit(s, head + b"\n")

    def _emit(self, s: _Stream, lines: bytes) -> None:
        try:
            if self.directory is not None:
                self._append(s, lines)
            else:
                label = (f"[{self.task_id}] " if s.name == "stdout"
                         else f"[{self.task_id} stderr] ").encode("utf-8", "replace")
                out = b"".join(label + line + b"\n" for line in lines[:-1].split(b"\n"))
                _write_all(self.parent_err, out)
        except OSError:
            pass  # the parent's stderr is gone, or the directory is not writable: keep the tail

    def _append(self, s: _Stream, lines: bytes) -> None:
        assert self.directory is not None and self.task_id is not None
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(output_path(self.directory, self.task_id, s.name),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _write_all(fd, lines)
        finally:
            os.close(fd)

    def _pump(self) -> None:
        wake = threading.Event()
        while not wake.wait(PUMP_S):
            if self.task_id is None or not self.lock.acquire(blocking=False):
                continue
            try:
                if self.task_id is not None:
                    for s in self.streams:
                        size = os.fstat(s.fd).st_size
                        if size > s.sent:
                            self._forward(s, size)
            except OSError:
                pass
            finally:
                self.lock.release()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
