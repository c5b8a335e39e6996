"""The wire (workers/protocol.py), the one process-group kill (workers/tree.py) and the worker
slot's table of moves (orchestrator/executors/local/slots.py)."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import threading
from multiprocessing import Pipe

import pytest

from orchestrator.executors.local.slots import NEXT, Slot, SlotState
from orchestrator.executors.local.wire import Wire
from workers import protocol as p
from workers.tree import kill_group

BIG = p.INLINE_LIMIT + 1


def _through(*frames: bytes | None) -> p.Message:
    """Send ``frames`` down a pipe and receive one message. A thread writes: a large frame
    fills the pipe's buffer before it is read."""
    a, b = Pipe()
    with a, b:
        writer = threading.Thread(target=lambda: [a.send_bytes(f) for f in frames if f])
        writer.start()
        msg = p.receive(b)
        writer.join(60)
        assert not b.poll(0), "a frame was left unread"
    return msg


def test_every_tag_is_distinct() -> None:
    tags = [p.DEFINE, p.RUN, p.RESET, p.EXIT, p.READY, p.DONE, p.WATCH, p.UNWATCH, p.GOODBYE]
    assert len(set(tags)) == len(tags)


def test_single_frame_messages_read_back_as_written() -> None:
    cases = [
        (p.encode_define(3, p.FN_PATH, "workers.agents:noop"),
         (p.DEFINE, 3, p.FN_PATH, "workers.agents:noop")),
        (p.RESET_FRAME, (p.RESET,)),
        (p.EXIT_FRAME, (p.EXIT,)),
        (p.encode_ready(4321), (p.READY, 4321)),
        (p.encode_watch(77), (p.WATCH, 77)),
        (p.encode_unwatch(77), (p.UNWATCH, 77)),
        (p.GOODBYE_FRAME, (p.GOODBYE,)),
    ]
    for frame, expected in cases:
        assert _through(frame) == expected


@pytest.mark.parametrize("size", [10, BIG], ids=["inline", "own-frame"])
@pytest.mark.parametrize("output", [None, "/tmp/out"], ids=["stderr", "dir"])
def test_run_carries_its_arguments(size: int, output: str | None) -> None:
    args = b"x" * size
    header, extra = p.encode_run(9, 0, "t", 2, 1.5, args, output)
    assert (extra is None) == (size <= p.INLINE_LIMIT)
    assert _through(header, extra) == (p.RUN, 9, 0, "t", 2, 1.5, output, args)


@pytest.mark.parametrize(("form", "size"), [(p.PICKLED, 10), (p.PICKLED, BIG), (p.RAW, BIG)],
                         ids=["pickled-inline", "pickled-own-frame", "raw"])
def test_done_carries_its_value(form: int, size: int) -> None:
    value = b"v" * size
    reports = {"cost": pickle.dumps(1)}
    frames = p.encode_done(5, True, form, value, None, 0.5, 0.25, 1024, reports, ("o", None),
                           True)
    assert (frames[1] is None) == (size <= p.INLINE_LIMIT)
    assert _through(*frames) == (p.DONE, 5, True, form, value, None, 0.5, 0.25, 1024, reports,
                                 ("o", None), True)


def test_a_failed_done_has_no_value_frame() -> None:
    error = ("exception", "ValueError", "x", None, ("builtins.ValueError",), None)
    frames = p.encode_done(5, False, p.PICKLED, None, error, 0.5, 0.25, None, None)
    assert frames[1] is None
    assert _through(*frames) == (p.DONE, 5, False, p.PICKLED, None, error, 0.5, 0.25, None, None,
                                 None, False)


def test_kill_group_signals_a_group_leader_and_nothing_else() -> None:
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    leader = subprocess.Popen(sleep, start_new_session=True)
    member = subprocess.Popen(sleep)  # in our group: not a leader
    try:
        kill_group(member.pid)
        kill_group(leader.pid)
        assert leader.wait(60) == -9
        assert member.poll() is None
    finally:
        for proc in (leader, member):
            proc.kill()
            proc.wait(60)


class _Process:
    pid = 42
    sentinel = -1


@pytest.mark.parametrize("start", list(SlotState), ids=lambda s: s.value)
def test_a_slot_moves_only_along_its_table(start: SlotState) -> None:
    for to in SlotState:
        slot = Slot(0, _Process(), Wire(None), 0.0)
        slot.state = start
        if to in NEXT[start]:
            slot.move(to)
            assert slot.state is to
        else:
            message = f"worker slot 0 (pid 42): {start.value} -> {to.value} is not allowed"
            with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
                slot.move(to)
            assert slot.state is start
