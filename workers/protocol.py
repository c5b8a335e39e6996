"""The one codec for every message the parent exchanges with its workers and its reaper.

Both sides import this module; it imports nothing from ``orchestrator``. A message is a small
tuple tagged by an int (a tuple pickles ten times faster than a dataclass, and the dispatch path
is the hot path), pickled with protocol 5 into one frame (``Connection.send_bytes``). A payload
larger than ``INLINE_LIMIT`` travels as a second raw frame right after its header, so it is copied
once; ``receive`` puts it back in its field, so a received message has the shape written here.
Every tag is distinct, so a stray message can never be read as another.

Parent -> worker
    (DEFINE, fn_key, kind, payload)    kind FN_PATH: "pkg.mod:func"; FN_PICKLED: cloudpickle bytes
    (RUN, ticket, fn_key, task_id, attempt, timeout, output, args)
        output: None (forward the attempt's stdout/stderr to the parent's stderr, each line
            prefixed with the task id) or a directory (``--task-output``: a file per task)
        args: pickled ``(args, kwargs)``
    (RESET,)                           forget defined functions (a new run begins)
    (EXIT,)                            finish what was sent, then exit 0

Worker -> parent
    (READY, pid)
    (DONE, ticket, ok, form, value, error, run_s, cpu_s, peak_rss, reports, tails, retire)
        ok: ``value`` is the result, pickled (form PICKLED) or, for a large ``bytes`` result, the
            bytes themselves (form RAW: never copied into a pickle on either side); error is None
        not ok: value is None; error is ``(kind, type, message, traceback, type_chain,
            exception_bytes)``
        reports: ``{name: pickled figure}`` of ``report()``, or None (each pickled apart, so
            that the header always unpickles and a figure that does not is the only one lost)
        tails: None, or ``(stdout_tail, stderr_tail)`` (str or None each) of the attempt
        retire: the task left a thread running; the worker exits right after this message

Parent -> reaper
    (WATCH, pid)                       a worker started
    (UNWATCH, pid)                     a worker is gone
    (GOODBYE,)                         the pool closed normally; leave the workers alone
"""

from __future__ import annotations

import pickle
from typing import Any, Final, Protocol, Tuple


class FrameSource(Protocol):
    """Where ``receive`` reads frames: a ``multiprocessing`` ``Connection``, or anything with
    its ``recv_bytes`` (the parent's buffered ``Wire``)."""

    def recv_bytes(self) -> bytes: ...

__all__ = [
    "DEFINE", "RUN", "RESET", "EXIT", "READY", "DONE", "WATCH", "UNWATCH", "GOODBYE",
    "PICKLED", "RAW", "FN_PATH", "FN_PICKLED", "INLINE_LIMIT", "PICKLE_PROTOCOL",
    "ErrorTuple", "Message", "Frames", "FrameSource",
    "encode_define", "encode_run", "RESET_FRAME", "EXIT_FRAME", "encode_ready", "encode_done",
    "encode_watch", "encode_unwatch", "GOODBYE_FRAME", "receive",
]

DEFINE: Final = 1
RUN: Final = 2
RESET: Final = 3
EXIT: Final = 4
READY: Final = 10
DONE: Final = 11
WATCH: Final = 20
UNWATCH: Final = 21
GOODBYE: Final = 22

PICKLED: Final = 0  # DONE's form: the value is a pickle
RAW: Final = 1  # DONE's form: the value is the result itself (bytes)

FN_PATH: Final = 0
FN_PICKLED: Final = 1

# Payloads up to this size ride inside their header frame; larger ones get a frame of their own.
INLINE_LIMIT: Final = 256 * 1024

PICKLE_PROTOCOL: Final = 5

# (kind, type name, message, traceback text, qualified names along the MRO, pickled exception)
ErrorTuple = Tuple[str, str, str, str | None, Tuple[str, ...], bytes | None]
Message = Tuple[Any, ...]
# A message's frames: its header, and its payload as a raw frame of its own (or None).
Frames = Tuple[bytes, bytes | None]

_dumps = pickle.dumps


def encode_define(fn_key: Any, kind: int, payload: Any) -> bytes:
    return _dumps((DEFINE, fn_key, kind, payload), PICKLE_PROTOCOL)


def encode_run(ticket: int, fn_key: Any, task_id: str, attempt: int, timeout: float | None,
               args: bytes, output: str | None = None) -> Frames:
    if len(args) > INLINE_LIMIT:
        return _dumps((RUN, ticket, fn_key, task_id, attempt, timeout, output, None),
                      PICKLE_PROTOCOL), args
    return _dumps((RUN, ticket, fn_key, task_id, attempt, timeout, output, args),
                  PICKLE_PROTOCOL), None


RESET_FRAME: Final = _dumps((RESET,), PICKLE_PROTOCOL)
EXIT_FRAME: Final = _dumps((EXIT,), PICKLE_PROTOCOL)


def encode_ready(pid: int) -> bytes:
    return _dumps((READY, pid), PICKLE_PROTOCOL)


def encode_done(ticket: int, ok: bool, form: int, value: bytes | None, error: ErrorTuple | None,
                run_s: float, cpu_s: float, peak_rss: int | None,
                reports: dict[str, bytes] | None,
                tails: Tuple[str | None, str | None] | None = None,
                retire: bool = False) -> Frames:
    """DONE's frames (every field is already plain data: this cannot fail)."""
    if value is not None and (form == RAW or len(value) > INLINE_LIMIT):
        return _dumps((DONE, ticket, ok, form, None, error, run_s, cpu_s, peak_rss, reports,
                       tails, retire), PICKLE_PROTOCOL), value
    return _dumps((DONE, ticket, ok, form, value, error, run_s, cpu_s, peak_rss, reports, tails,
                   retire), PICKLE_PROTOCOL), None


def encode_watch(pid: int) -> bytes:
    return _dumps((WATCH, pid), PICKLE_PROTOCOL)


def encode_unwatch(pid: int) -> bytes:
    return _dumps((UNWATCH, pid), PICKLE_PROTOCOL)


GOODBYE_FRAME: Final = _dumps((GOODBYE,), PICKLE_PROTOCOL)


def receive(conn: FrameSource) -> Message:
    """Read the next message from ``conn``, with its raw frame in its field when it has one.

    Raises ``EOFError`` or ``OSError`` when the other side is gone.
    """
    msg: Message = pickle.loads(conn.recv_bytes())
    tag = msg[0]
    if tag == DONE:
        if msg[2] and msg[4] is None:
            return msg[:4] + (conn.recv_bytes(),) + msg[5:]
    elif tag == RUN and msg[7] is None:
        return msg[:7] + (conn.recv_bytes(),)
    return msg
