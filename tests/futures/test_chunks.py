"""map(chunksize="auto"): lazy input, order, errors, and the chunk-size rule itself."""

from __future__ import annotations

import pytest

from orchestrator import ProcessPool
from orchestrator.futures.autosize import MAX_CHUNK, MAX_GROWTH, TARGET_CHUNK_S, ChunkSizer

from . import helpers as h

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pool():
    p = ProcessPool(2)
    yield p
    p.shutdown(wait=True, cancel_futures=True)


def test_auto_gives_every_result_in_order(pool):
    assert list(pool.map(h.square, range(20000), chunksize="auto")) == [
        x * x for x in range(20000)]
    assert list(pool.map(pow, [2, 3, 4], [2, 2], chunksize="auto")) == [4, 9]
    assert list(pool.map(h.square, [], chunksize="auto")) == []


def test_auto_pulls_the_input_lazily(pool, gate):
    g = gate("first")
    pulled = []

    def items():
        for i in range(100000):
            pulled.append(i)
            yield i

    results = pool.map(h.wait_at_zero, items(), iter(lambda: g.release, None),
                       chunksize="auto")
    # item 0 blocks: no chunk can finish, so only the first chunks (of one item) were taken
    assert len(pulled) <= 2 * 2 * 2 + 2
    g.open()
    assert sum(results) == sum(range(100000))
    assert len(pulled) == 100000


def test_auto_raises_the_error_at_its_item(pool):
    results = pool.map(h.raise_at, range(1000), [500] * 1000, chunksize="auto")
    got = []
    with pytest.raises(ValueError, match="^bad item 500$"):
        for value in results:
            got.append(value)
    assert got == list(range(len(got))) and len(got) <= 500


def test_an_input_that_raises_raises_where_it_stopped(pool):
    def items():
        yield 1
        yield 2
        raise KeyError("input broke")

    results = pool.map(h.square, items(), chunksize="auto")
    assert next(results) == 1 and next(results) == 4
    with pytest.raises(KeyError, match="input broke"):
        next(results)


def test_closing_an_auto_map_early_leaves_nothing_running(pool):
    results = pool.map(h.square, range(10**6), chunksize="auto")
    assert next(results) == 0
    results.close()
    assert pool.submit(h.square, 3).result(timeout=60) == 9


def test_fast_items_grow_the_chunk_at_most_eightfold_per_chunk():
    sizer = ChunkSizer(workers=2)
    sizes = []
    for _ in range(12):
        sizer.observe(sizer.size, 1e-7 * sizer.size)
        sizes.append(sizer.size)
    assert sizes[:3] == [MAX_GROWTH, MAX_GROWTH**2, MAX_GROWTH**3]
    assert sizes[-1] == MAX_CHUNK


def test_slow_items_keep_the_chunk_near_the_target_time():
    sizer = ChunkSizer(workers=2)
    sizer.observe(1, 0.01)  # 10 ms an item: TARGET_CHUNK_S of them
    assert sizer.size == min(MAX_GROWTH, int(TARGET_CHUNK_S / 0.01))
    sizer.observe(sizer.size, 2.0 * sizer.size)  # now 2 s an item (smoothed): back to one
    assert sizer.size == 1


def test_the_end_of_the_input_is_split_among_the_workers():
    sizer = ChunkSizer(workers=2)
    for _ in range(3):
        sizer.observe(sizer.size, 1e-7 * sizer.size)
    assert sizer.size == 512
    items = iter([(i,) for i in range(100)])
    chunks = []
    while chunk := sizer.next_chunk(items):
        chunks.append(len(chunk))
    assert chunks == [50, 50]


def test_a_chunk_that_finished_before_its_callback_was_added_does_not_deadlock_the_feeder():
    # A fast worker can finish a chunk before map adds its done-callback; the callback then
    # runs at once on the submitting thread. It takes the feeder's lock, which fill() held
    # while adding it: the second map of a run hung in CI that way.
    import threading
    from concurrent.futures import Future

    from orchestrator.futures.mapping import _AutoFeeder

    def finished_at_once(chunk):
        f = Future()
        f.set_result([a for (a,) in chunk])
        return f

    feeder = _AutoFeeder(finished_at_once, iter([(i,) for i in range(50)]), workers=2)
    results: list = []
    worker = threading.Thread(
        target=lambda: (feeder.fill(),
                        results.extend(x for f in feeder.futures() for x in f.result())),
        daemon=True)
    worker.start()
    worker.join(30)  # a deadlock never ends; the bound only keeps a failing run finite
    assert not worker.is_alive(), "fill() deadlocked on a chunk that had already finished"
    assert results == list(range(50))
