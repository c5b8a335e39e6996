"""The parent's buffered reading of a worker's pipe (``Wire``): frames as ``Connection.send_bytes``
writes them, many per read, one split over reads, one larger than the buffer, the end."""

from __future__ import annotations

import threading
from multiprocessing import Pipe

from orchestrator.executors.local.wire import _CHUNK, Wire, _size
from workers.protocol import DONE, PICKLED, READY, encode_done, encode_ready


def test_every_frame_one_read_brought_is_handed_out_without_another_read() -> None:
    parent, child = Pipe()
    wire = Wire(parent)
    for pid in range(50):
        child.send_bytes(encode_ready(pid))
    first = wire.receive()
    assert first == (READY, 0)
    # The other 49 came in the same read: they wait in the buffer, not the pipe.
    assert wire.buffered() and wire.pending() and not parent.poll(0)
    rest = [wire.receive() for _ in range(49)]
    assert rest == [(READY, pid) for pid in range(1, 50)]
    assert not wire.buffered() and not wire.pending()
    wire.close()
    child.close()


def test_a_large_value_arrives_whole_and_as_bytes() -> None:
    parent, child = Pipe()
    wire = Wire(parent)
    value = bytes(range(256)) * (5 * _CHUNK // 256 + 7)  # several reads' worth
    header, raw = encode_done(7, True, PICKLED, value, None, 0.1, 0.1, None, None)
    assert raw is value  # it travels as a frame of its own
    writer = threading.Thread(target=lambda: (child.send_bytes(header), child.send_bytes(raw),
                                              child.send_bytes(encode_ready(3))))
    writer.start()
    msg = wire.receive()
    writer.join()
    assert msg is not None and msg[0] == DONE and msg[1] == 7
    assert type(msg[4]) is bytes and msg[4] == value
    assert wire.receive() == (READY, 3)
    wire.close()
    child.close()


def test_the_end_of_the_pipe_is_none_even_within_a_message() -> None:
    parent, child = Pipe()
    wire = Wire(parent)
    child.send_bytes(encode_ready(1))
    child.close()
    assert wire.receive() == (READY, 1)
    assert wire.pending()  # the end can be read now
    assert wire.receive() is None
    parent2, child2 = Pipe()
    wire2 = Wire(parent2)
    frame = encode_ready(2)
    child2._send(len(frame).to_bytes(4, "big") + frame[:3])  # type: ignore[attr-defined]
    child2.close()
    assert wire2.receive() is None
    wire.close()
    wire2.close()


def test_frame_lengths_are_read_as_connection_writes_them() -> None:
    assert _size(bytearray(b"\x00\x00")) is None
    assert _size(bytearray((5).to_bytes(4, "big"))) == (4, 5)
    huge = (-1).to_bytes(4, "big", signed=True) + (3 << 31).to_bytes(8, "big")
    assert _size(bytearray(huge[:8])) is None
    assert _size(bytearray(huge)) == (12, 3 << 31)
