"""One line of an event log to one JSON object, for input that may be damaged or hostile.

A log is read from a file, a pipe or a disk that filled up; whatever it holds, the reader must
end in an ``EventLogError`` that names the line, never in what Python's parser raises for
extreme input: ``RecursionError`` (an array nested 100,000 deep), ``ValueError`` (an integer of
5,000 digits), ``UnicodeDecodeError`` (bytes that are not UTF-8, on standard input too),
and numbers the figures cannot hold (``NaN``, ``1e400``, an int past a float: no event has one).
"""

from __future__ import annotations

import codecs
import json
import math
from typing import IO, Any, Iterator

__all__ = ["BadLine", "numbered_lines", "load_line", "MAX_INT_DIGITS"]

MAX_INT_DIGITS = 20  # every integer an event holds (seq, pid, bytes) fits 64 bits


class BadLine(ValueError):
    """A line that is not one JSON object the reader can hold; the message says why."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadLine(f"an integer of {len(text.lstrip('-')):,} digits (an event's integers "
                      f"have at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadLine(f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadLine(f"{name} is not a JSON number")


def load_line(line: str) -> Any:
    """The JSON value of ``line``; raises ``BadLine`` (or ``json.JSONDecodeError``)."""
    try:
        return json.loads(line, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise BadLine("nested too deeply to be an event") from None


def numbered_lines(stream: IO[Any]) -> Iterator[tuple[int, str | BadLine]]:
    """``(line number, text)``, or a ``BadLine`` in place of a line that is not UTF-8 (the
    next lines are still read: one bad byte costs one line)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    for lineno, raw in enumerate(stream, 1):
        if isinstance(raw, str):
            yield lineno, raw
            continue
        try:
            yield lineno, decoder.decode(raw, final=True)
        except UnicodeDecodeError as exc:
            decoder.reset()
            yield lineno, BadLine(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the "
                                  f"line)")
