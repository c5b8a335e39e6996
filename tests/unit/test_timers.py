"""TimerHeap: re-arming and cancelling invalidate lazily, ties fire in arming order, compaction."""

from __future__ import annotations

from orchestrator.scheduler.timers import TimerHeap


def test_timers_fire_earliest_first_and_only_when_due() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.set("late", 5.0)
    timers.set("early", 1.0)
    timers.set("middle", 3.0)
    assert timers.next_due() == 1.0
    assert timers.pop_due(0.999) == []
    assert timers.pop_due(3.0) == ["early", "middle"]  # due exactly now fires
    assert timers.pop_due(3.0) == []
    assert len(timers) == 1 and timers.next_due() == 5.0


def test_ties_fire_in_the_order_they_were_armed_without_comparing_keys() -> None:
    timers: TimerHeap[object] = TimerHeap()
    keys = [object() for _ in range(5)]  # not orderable: comparing them would raise
    for key in keys:
        timers.set(key, 2.0)
    assert timers.pop_due(2.0) == keys


def test_rearming_a_key_replaces_its_due_time_either_way() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.set("a", 1.0)
    timers.set("a", 4.0)  # later: the old entry must not fire
    timers.set("b", 3.0)
    timers.set("b", 0.5)  # earlier
    assert timers.next_due() == 0.5
    assert timers.pop_due(2.0) == ["b"]
    assert timers.pop_due(10.0) == ["a"]
    assert len(timers) == 0 and timers.next_due() is None


def test_a_cancelled_timer_never_fires_and_cancelling_twice_is_harmless() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.set("a", 1.0)
    timers.set("b", 2.0)
    timers.cancel("a")
    timers.cancel("a")
    timers.cancel("never-set")
    assert len(timers) == 1
    assert timers.next_due() == 2.0
    assert timers.pop_due(5.0) == ["b"]


def test_a_fired_key_can_be_armed_again() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.set("a", 1.0)
    assert timers.pop_due(1.0) == ["a"]
    timers.set("a", 2.0)
    assert timers.pop_due(2.0) == ["a"]


def test_stale_entries_are_compacted_so_the_heap_stays_small() -> None:
    timers: TimerHeap[int] = TimerHeap()
    timers.set(-1, 1e9)  # one long-lived timer, like a run deadline
    for i in range(10_000):  # short tasks with long timeouts, each cancelled when it finishes
        timers.set(i, 1000.0 + i)
        timers.cancel(i)
    assert len(timers) == 1
    assert len(timers._heap) <= 64 + 2 * len(timers) + 1  # bounded, not 10,001 entries
    assert timers.pop_due(1e9) == [-1]


def test_compaction_keeps_every_live_timer_and_its_latest_due_time() -> None:
    timers: TimerHeap[int] = TimerHeap()
    for round_ in range(50):
        for key in range(20):
            timers.set(key, float(100 * round_ + key))  # re-armed 50 times: 980 stale entries
    assert len(timers) == 20
    assert timers.pop_due(4899.0) == []
    assert timers.pop_due(5000.0) == list(range(20))
