"""The JSON Lines writer process: formats event batches sent by ``JsonLinesSink`` and writes them.

Run by path in a fresh interpreter (``python -I -S jsonl_writer.py IN_FD OUT_FD ACK_FD
SYS_PATH_JSON``); it must start fast, so it does not import ``orchestrator`` (whose
``__init__`` pulls in the pool, loky and psutil), only the formatter beside it.

Wire (parent -> here, on IN_FD): frames of ``<u32 length><pickle>``; the pickle is a list of
event tuples (a batch), an int (a sync token: write and flush everything before it, then answer
``<u64 token><u64 events not written><u32 length><utf-8 error text>`` on ACK_FD) or None
(close). EOF (the parent exited, even by SIGKILL) means: write what arrived, then exit.
Nothing received is dropped silently: after a write fails nothing more is written, and the
events that were not are counted in every answer to a sync.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
from typing import IO, Any

try:
    from .jsonl_format import JSON_ESCAPE, format_record
except ImportError:  # run by path: -I leaves this file's directory off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from jsonl_format import (  # type: ignore[import-not-found,no-redef]
        JSON_ESCAPE,
        format_record,
    )

_HEADER = struct.Struct("<I")
_ACK = struct.Struct("<QQI")


class _Stand_in:
    """Takes the place of a class this process cannot (or should not) import."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _TaskError(_Stand_in):
    """``orchestrator.model.results.TaskError`` as a plain object; ``to_dict`` as the original's."""

    def to_dict(self) -> dict[str, Any]:
        d = self.__dict__
        out = {"kind": d.get("kind"), "type": d.get("type"), "message": d.get("message")}
        for name in ("traceback", "exit_code", "signal", "upstream"):
            if d.get(name) is not None:
                out[name] = d[name]
        return out


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("orchestrator"):
            # Importing the package would start loky and psutil here; its types are plain data.
            return _TaskError if name == "TaskError" else type(name, (_Stand_in,), {})
        try:
            return super().find_class(module, name)
        except Exception:  # a class from the parent's __main__, or one not importable here
            return type(name, (_Stand_in,), {})


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    if data is None or len(data) < n:
        return None
    return data


def main(argv: list[str]) -> int:
    sys.path.extend(p for p in json.loads(argv[4]) if p not in sys.path)
    return serve(int(argv[1]), int(argv[2]), int(argv[3]))


def serve(in_fd: int, out_fd: int, ack_fd: int) -> int:
    """Read frames from ``in_fd`` until EOF or a goodbye; write lines to ``out_fd``."""
    source = os.fdopen(in_fd, "rb", buffering=1 << 20)
    # A lone surrogate becomes \udc80, a valid JSON escape of the same character.
    out = os.fdopen(out_fd, "w", encoding="utf-8", errors=JSON_ESCAPE,
                    buffering=1 << 16, closefd=out_fd > 2)
    error = ""
    unwritten = 0
    while True:
        header = _read_exact(source, _HEADER.size)
        if header is None:
            break  # EOF: the parent is gone (or closed without a goodbye)
        payload = _read_exact(source, _HEADER.unpack(header)[0])
        if payload is None:
            break
        message = _Unpickler(io.BytesIO(payload)).load()
        if message is None:
            break
        if isinstance(message, int):
            try:
                out.flush()
            except OSError as exc:
                error = error or f"cannot write the event log: {exc}"
            note = error.encode("utf-8", "replace")
            os.write(ack_fd, _ACK.pack(message, unwritten, len(note)) + note)
            continue
        if error:
            unwritten += len(message)  # the target failed; the parent hears it at the sync
            continue
        try:
            text = "\n".join(map(format_record, message)) + "\n"
        except Exception as exc:  # a record that cannot be formatted: say so at the next sync
            error = f"cannot format an event: {type(exc).__name__}: {exc}"
            unwritten += len(message)
            continue
        try:
            out.write(text)
            out.flush()  # a consumer tailing the log sees each batch at once
        except (OSError, ValueError) as exc:
            error = f"cannot write the event log: {exc}"
            unwritten += len(message)
    try:
        out.flush()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
