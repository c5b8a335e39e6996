"""The wire between the parent and a worker: small tuples over a private pipe.

Both sides import this module; it imports nothing from ``orchestrator``. Messages are plain
tuples tagged by an int (a tuple pickles ten times faster than a dataclass, and the dispatch path
is the hot path). Each message is one frame (``Connection.send_bytes``); a payload larger than
``INLINE_LIMIT`` travels as a second raw frame right after its header, so it is copied once.

Parent -> worker
    (DEFINE, fn_key, kind, payload)    kind FN_PATH: "pkg.mod:func"; FN_PICKLED: cloudpickle bytes
    (RUN, ticket, fn_key, task_id, attempt, timeout, args)
        args: pickled ``(args, kwargs)``; ``None`` means "in the next frame"
    (RESET,)                           forget defined functions (a new run begins)
    (EXIT,)                            finish and exit 0

Worker -> parent
    (READY, pid)
    (DONE, ticket, ok, value, error, run_s, cpu_s, peak_rss, reports)
        ok: value is the pickled result (``None``: in the next frame; ``RAW``: the result is a
            large ``bytes`` object, sent as is in the next frame, so it is never copied into a
            pickle on either side); error is None
        not ok: error is ``(kind, type, message, traceback, type_chain, exception_bytes)``
"""

from __future__ import annotations

from typing import Any, Final, Tuple

DEFINE: Final = 1
RUN: Final = 2
RESET: Final = 3
EXIT: Final = 4
READY: Final = 10
DONE: Final = 11

RAW: Final = 1  # in DONE's value field: the next frame is the result itself (bytes)

FN_PATH: Final = 0
FN_PICKLED: Final = 1

# Payloads up to this size ride inside their header frame; larger ones get a frame of their own.
INLINE_LIMIT: Final = 256 * 1024

PICKLE_PROTOCOL: Final = 5

# (kind, type name, message, traceback text, qualified names along the MRO, pickled exception)
ErrorTuple = Tuple[str, str, str, str | None, Tuple[str, ...], bytes | None]
Message = Tuple[Any, ...]
