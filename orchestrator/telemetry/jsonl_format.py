"""One event as one compact JSON line.

Standard library only, on purpose: the JSON Lines writer process (``jsonl_writer.py``) loads
this file by path, without importing the ``orchestrator`` package (whose import pulls in the
pool, loky and psutil, and would cost the writer ~150 ms to start).

``format_record`` takes an ``Event`` or the plain tuple of its fields, in ``Event`` order:
``(type, seq, ts, run_id, elapsed, task_id, attempt, pid, duration, error, reason, data,
schema)``. ``error`` is anything with ``to_dict()`` (a ``TaskError``) or a dict.

A line is written as it is, except where its target's encoding cannot hold a character (a
lone surrogate from undecodable bytes, in any encoding; ``é`` on an ASCII stream): the codec
error handler ``JSON_ESCAPE`` writes it as a JSON ``\\uXXXX`` escape, which reads back as the
same character. Every non-ASCII character of a line is inside a JSON string, so the line stays
valid JSON on any stream, strict ones included.
"""

from __future__ import annotations

import codecs
import json
import time
from typing import Any, Sequence

__all__ = ["format_record", "iso_utc", "JSON_ESCAPE", "encodable"]

JSON_ESCAPE = "orchestrator.json_escape"


def _json_escape(exc: UnicodeError) -> tuple[str, int]:
    """The ``JSON_ESCAPE`` handler: each character the encoding cannot hold as ``\\uXXXX``
    (a surrogate pair above the BMP)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start:exc.end]:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


codecs.register_error(JSON_ESCAPE, _json_escape)


def encodable(text: str, encoding: str) -> str:
    """``text`` with what ``encoding`` cannot hold JSON-escaped (ASCII text is returned as is,
    at once)."""
    if text.isascii():
        return text
    return text.encode(encoding, JSON_ESCAPE).decode(encoding)

_encode_str = json.encoder.encode_basestring
# (seconds, "YYYY-MM-DDTHH:MM:SS"): replaced as one tuple, so threads never see half of it.
_iso_cache: list[tuple[int, str]] = [(-1, "")]


def iso_utc(ts: float) -> str:
    """``2026-11-26T03:16:11.123456Z``: ``ts`` (seconds since the epoch) rounded to the µs."""
    sec, micros = divmod(round(ts * 1e6), 1_000_000)
    cached = _iso_cache[0]
    if cached[0] != sec:
        # Formatting the seconds costs more than the rest of the line: reuse them.
        cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        _iso_cache[0] = cached
    return f"{cached[1]}.{micros:06d}Z"


# One encoder, made once: ``json.dumps`` with options builds a new encoder on every call (~2 µs).
_dumps = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=False).encode
_INF = float("inf")


def _dumps_data(data: Any) -> str:
    """``data`` as JSON; a flat dict of numbers (every terminal event's facts) by hand, which
    is ~3x cheaper than the encoder and gives the same text (json writes floats with repr)."""
    if type(data) is not dict:
        return _dumps(dict(data))
    parts = []
    for key, value in data.items():
        kind = type(value)
        if kind is float and -_INF < value < _INF or kind is int:
            if type(key) is not str:
                return _dumps(data)
            parts.append(f"{_encode_str(key)}:{value!r}")
        else:
            return _dumps(data)
    return "{" + ",".join(parts) + "}"


def format_record(r: Sequence[Any]) -> str:
    """One JSON line (no newline); ``json.loads`` of it equals ``Event.to_dict()``."""
    (type_, seq, ts, run_id, elapsed, task_id, attempt, pid, duration, error, reason, data,
     schema) = r
    sec, micros = divmod(round(ts * 1e6), 1_000_000)
    cached = _iso_cache[0]
    if cached[0] != sec:
        cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        _iso_cache[0] = cached
    # elapsed in whole microseconds, written as digits: 3x cheaper than repr(round(x, 6)) and
    # parses to the same float as us / 1e6 (both are correctly rounded), which to_dict() gives.
    el = round(elapsed * 1e6)
    line = (f'{{"schema":{schema},"type":"{type_}","ts":"{cached[1]}.{micros:06d}Z",'
            f'"seq":{seq},"run_id":{_encode_str(run_id)},'
            f'"elapsed":{"-" if el < 0 else ""}{abs(el) // 1_000_000}.{abs(el) % 1_000_000:06d}')
    if task_id is not None:
        line += f',"task_id":{_encode_str(task_id)}'
    if attempt is not None:
        line += f',"attempt":{attempt}'
    if pid is not None:
        line += f',"pid":{pid}'
    if duration is not None:
        # Not rounded: metrics recomputed from the log must equal the run's, to the last bit.
        line += f',"duration":{float(duration)!r}'
    if error is not None:
        line += ',"error":' + _dumps(error if isinstance(error, dict) else error.to_dict())
    if reason is not None:
        line += f',"reason":{_encode_str(reason)}'
    if data:
        line += ',"data":' + _dumps_data(data)
    return line + "}"
