"""Where a JSON Lines sink's batches go: a file it opened, a stream it was given, or its writer
process. A target's ``write`` may block (a full pipe, a slow terminal, a full disk): only the
sink's drain thread (``jsonl_drain.py``) calls it. ``write_nowait`` is the one call the loop
may make: it writes what fits without blocking, or nothing.

Every failure is a ``TargetError`` that says what went wrong and how many complete lines of
the batch were written before it, so the sink can count exactly what is missing.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import stat
import struct
import subprocess
import sys
from typing import IO, Any, Union

from .jsonl_format import JSON_ESCAPE, encodable

__all__ = ["TargetError", "FileTarget", "StreamTarget", "ProcessTarget", "frame", "open_log"]

Chunk = Union[str, bytes]

_WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jsonl_writer.py")
_HEADER = struct.Struct("<I")
_ACK = struct.Struct("<QQI")
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe lets the writer lag a little before we queue


class TargetError(Exception):
    """A write (or a sync) failed. ``lines``: complete lines of the batch written before it."""

    def __init__(self, message: str, lines: int = 0) -> None:
        super().__init__(message)
        self.lines = lines


def _cannot_write(exc: BaseException) -> str:
    return f"cannot write the event log: {exc}"


class FileTarget:
    """A path the sink opened: UTF-8 bytes, unbuffered (the sink writes whole batches).

    ``mode="a"`` appends, starting on a fresh line when the file ends inside one (a log cut
    short by a full disk or a kill); ``"w"`` starts the file anew.
    """

    unwritten = 0  # a file loses nothing on its own: what failed, the drain counts

    def __init__(self, path: Union[str, os.PathLike[str]], mode: str) -> None:
        self.file = open(open_log(path, mode), "wb", buffering=0)  # noqa: SIM115 - close()

    def write_nowait(self, chunk: Chunk) -> int:
        return 0  # a file write can block (a full disk, NFS): the drain does it

    def write(self, chunk: Chunk) -> None:
        data = memoryview(chunk.encode("utf-8", JSON_ESCAPE) if isinstance(chunk, str)
                          else chunk)
        done = 0
        try:
            while done < len(data):
                done += self.file.write(data[done:]) or 0
        except (OSError, ValueError) as exc:
            raise TargetError(_cannot_write(exc), data[:done].tobytes().count(b"\n")) from None

    def sync(self) -> None:
        pass  # unbuffered: a reader sees each batch once written

    def close(self) -> None:
        self.file.close()


def open_log(path: Union[str, os.PathLike[str]], mode: str) -> int:
    """A write-only fd for the log at ``path``: appended to (on a fresh line) or new."""
    fresh_line = mode == "a" and _ends_inside_a_line(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags | os.O_CLOEXEC, 0o644)
    if fresh_line:
        try:
            os.write(fd, b"\n")
        except OSError:
            os.close(fd)
            raise
    return fd


def _ends_inside_a_line(path: Union[str, os.PathLike[str]]) -> bool:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:
        return False  # the open for writing says what is wrong


class StreamTarget:
    """A text stream the sink was given (standard output, a ``StringIO``, a socket file...).

    What its encoding cannot hold is JSON-escaped first, so even a strict stream takes every
    line. Each batch is flushed, so a reader sees it at once.
    """

    unwritten = 0

    def __init__(self, stream: IO[str]) -> None:
        self.file = stream
        self._encoding = getattr(stream, "encoding", None) or "utf-8"

    def write_nowait(self, chunk: Chunk) -> int:
        return 0

    def write(self, chunk: Chunk) -> None:
        try:
            self.file.write(encodable(str(chunk), self._encoding))
            self.file.flush()
        except Exception as exc:  # a stream may raise anything; OSError, ValueError mostly
            raise TargetError(_cannot_write(exc)) from None

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass  # not ours


def frame(message: Any) -> bytes:
    """One wire frame for the writer process: ``<u32 length><pickle>`` of a batch (a list of
    event tuples), a sync token (an int) or the goodbye (None)."""
    payload = pickle.dumps(message, 5)
    return _HEADER.pack(len(payload)) + payload


class ProcessTarget:
    """The writer process (``jsonl_writer.py``, a fresh ``python -I -S``): frames go into a
    1 MiB pipe, and it formats and writes them to ``out_fd`` (closed here once handed over).

    ``unwritten`` is what the writer reported it could not write, as of the last ``sync``.
    """

    def __init__(self, out_fd: int) -> None:
        self.unwritten = 0
        self._tokens = 0
        data_r, data_w = os.pipe()
        ack_r, ack_w = os.pipe()
        try:
            try:
                import fcntl  # POSIX only

                fcntl.fcntl(data_w, _F_SETPIPE_SZ, 1 << 20)
            except (ImportError, OSError):
                pass
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WRITER, str(data_r), str(out_fd), str(ack_w),
                 json.dumps([p for p in sys.path if p])],
                pass_fds=(data_r, out_fd, ack_w), stdin=subprocess.DEVNULL,
                start_new_session=True)
        except BaseException:
            for fd in (data_w, ack_r):
                os.close(fd)
            raise
        finally:
            for fd in (data_r, ack_w, out_fd):
                os.close(fd)
        os.set_blocking(data_w, False)  # ours alone: write_nowait() must never block
        self._data_w = data_w
        self._ack_r = ack_r

    def write_nowait(self, chunk: Chunk) -> int:
        try:
            return os.write(self._data_w, chunk if isinstance(chunk, bytes) else chunk.encode())
        except BlockingIOError:
            return 0
        except OSError:
            return 0  # a dead writer: write() says so

    def write(self, chunk: Chunk) -> None:
        view = memoryview(chunk if isinstance(chunk, bytes) else chunk.encode())
        while view:
            try:
                n = os.write(self._data_w, view)
            except BlockingIOError:
                select.select([], [self._data_w], [], 1.0)
                if self.proc.poll() is not None:
                    raise TargetError(self._death_note()) from None
                continue
            except OSError:
                raise TargetError(self._death_note()) from None
            view = view[n:]

    def sync(self) -> None:
        """Wait until the writer wrote everything sent before; raise what it reported."""
        self._tokens += 1
        token = self._tokens
        self.write(frame(token))
        got = b""
        while len(got) < _ACK.size:
            ready, _, _ = select.select([self._ack_r], [], [], 1.0)
            if not ready:
                if self.proc.poll() is not None:
                    raise TargetError(self._death_note())
                continue
            chunk = os.read(self._ack_r, 4096)
            if not chunk:
                raise TargetError(self._death_note())
            got += chunk
        answered, self.unwritten, length = _ACK.unpack_from(got)
        while len(got) < _ACK.size + length:
            got += os.read(self._ack_r, 4096)
        error = got[_ACK.size:_ACK.size + length].decode("utf-8", "replace")
        if answered != token:
            raise TargetError(f"the JSON Lines writer answered sync {answered}, expected "
                              f"{token}")
        if error:
            raise TargetError(error)

    def _death_note(self) -> str:
        return (f"the JSON Lines writer process died (exit code {self.proc.poll()}); events "
                f"handed to it after its last flush may be lost")

    def close(self) -> None:
        """Say goodbye, wait for the writer to finish (kill it after 10 s)."""
        try:
            self.write(frame(None))
        except TargetError:
            pass
        os.close(self._data_w)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._ack_r)
