"""The ``concurrent.futures`` contract, from its documentation, run against this engine's
``ProcessPool`` and the stdlib's ``ProcessPoolExecutor`` alike (``make_pool``)."""

from __future__ import annotations

import concurrent.futures as cf
import gc
import threading
import time
import weakref

import pytest

from . import helpers as h
from .conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def test_submit_returns_a_future_with_the_result(make_pool):
    pool = make_pool()
    f = pool.submit(pow, 2, 5)
    assert isinstance(f, cf.Future)
    assert f.result() == 32
    assert pool.submit(h.mul, 2, y=21).result() == 42
    assert f.done() and not f.cancelled() and f.exception() is None


def test_submit_passes_keywords_named_like_its_own_parameters(make_pool):
    pool = make_pool()
    assert pool.submit(dict, fn=1, self=2).result() == {"fn": 1, "self": 2}


def test_exception_and_result_raise_the_tasks_error(make_pool):
    pool = make_pool()
    f = pool.submit(h.raise_value, "boom")
    exc = f.exception()
    assert isinstance(exc, ValueError) and str(exc) == "boom"
    with pytest.raises(ValueError, match="^boom$"):
        f.result()


def test_an_unpicklable_argument_fails_its_future_with_a_type_error(make_pool):
    pool = make_pool(1)
    f = pool.submit(h.square, threading.Lock())
    assert isinstance(f.exception(), TypeError)
    assert pool.submit(h.square, 4).result() == 16  # the pool goes on


def test_result_timeout_raises_timeout_error_while_it_runs(make_pool, gate):
    pool = make_pool()
    g = gate("slow")
    f = pool.submit(h.block, g.ready, g.release, 7)
    g.wait_running()
    with pytest.raises(TimeoutError):
        f.result(timeout=0.05)
    with pytest.raises(TimeoutError):
        f.exception(timeout=0)
    g.open()
    assert f.result() == 7


def test_map_keeps_input_order_and_stops_at_the_shortest(make_pool):
    pool = make_pool()
    assert list(pool.map(h.square, range(50))) == [x * x for x in range(50)]
    assert list(pool.map(pow, [2, 3, 4], [3, 2])) == [8, 9]
    assert list(pool.map(h.square, [])) == []


def test_map_yields_results_before_later_ones_finish(make_pool, gate):
    pool = make_pool()
    g = gate("late")
    results = pool.map(h.block_on, range(3), [2] * 3, [g.release] * 3)
    assert next(results) == 0  # item 2 still blocked
    assert next(results) == 1
    g.open()
    assert list(results) == [2]


def test_map_raises_the_error_where_its_item_is(make_pool):
    pool = make_pool()
    results = pool.map(h.raise_at, range(6), [3] * 6)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="^bad item 3$"):
        next(results)


@pytest.mark.parametrize("chunksize", [2, 3, 7, 100])
def test_map_chunksize_gives_the_same_results(make_pool, chunksize):
    pool = make_pool()
    assert list(pool.map(h.square, range(20), chunksize=chunksize)) == [x * x for x in range(20)]


def test_map_chunksize_below_one_is_a_value_error(make_pool):
    pool = make_pool()
    with pytest.raises(ValueError):
        pool.map(h.square, range(3), chunksize=0)


def test_map_timeout_counts_from_the_call(make_pool, gate):
    pool = make_pool()
    g = gate("stuck")
    results = pool.map(h.block_on, [1], [1], [g.release], timeout=0.2)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        next(results)
    assert time.monotonic() - start < 30  # it did not wait for the blocked item
    g.open()


def test_wait_all_completed(make_pool):
    pool = make_pool()
    fs = [pool.submit(h.square, x) for x in range(5)]
    done, not_done = cf.wait(fs, return_when=cf.ALL_COMPLETED)
    assert done == set(fs) and not not_done


def test_wait_first_completed(make_pool, gate):
    pool = make_pool()
    g = gate("blocked")
    slow = pool.submit(h.block, g.ready, g.release)
    quick = pool.submit(h.square, 3)
    done, not_done = cf.wait([slow, quick], return_when=cf.FIRST_COMPLETED)
    assert quick in done and slow in not_done
    g.open()


def test_wait_first_exception(make_pool, gate):
    pool = make_pool()
    g = gate("blocked")
    slow = pool.submit(h.block, g.ready, g.release)
    bad = pool.submit(h.raise_value, "x")
    done, not_done = cf.wait([slow, bad], return_when=cf.FIRST_EXCEPTION)
    assert bad in done and slow in not_done
    g.open()


def test_wait_timeout_returns_what_is_done(make_pool, gate):
    pool = make_pool()
    g = gate("blocked")
    slow = pool.submit(h.block, g.ready, g.release)
    done, not_done = cf.wait([slow], timeout=0.05)
    assert not done and not_done == {slow}
    g.open()


def test_as_completed_yields_every_future_once(make_pool):
    pool = make_pool()
    fs = [pool.submit(h.square, x) for x in range(20)]
    seen = list(cf.as_completed(fs))
    assert sorted(seen, key=id) == sorted(fs, key=id)
    assert sorted(f.result() for f in seen) == sorted(x * x for x in range(20))


def test_as_completed_timeout(make_pool, gate):
    pool = make_pool()
    g = gate("blocked")
    quick = pool.submit(h.square, 2)
    slow = pool.submit(h.block, g.ready, g.release)
    assert quick.result() == 4  # done before the call: yielded first, whatever the timeout
    got = []
    with pytest.raises(TimeoutError):
        for f in cf.as_completed([quick, slow], timeout=0.1):
            got.append(f)
    assert got == [quick]
    g.open()


def test_shutdown_without_wait_returns_and_the_work_finishes(make_pool, gate):
    pool = make_pool()
    g = gate("blocked")
    f = pool.submit(h.block, g.ready, g.release, "done")
    g.wait_running()
    pool.shutdown(wait=False)
    assert not f.done()
    g.open()
    assert f.result(timeout=60) == "done"


def test_shutdown_cancel_futures_cancels_what_has_not_started(make_pool, gate):
    pool = make_pool(1)
    g = gate("blocked")
    first = pool.submit(h.block, g.ready, g.release, 1)
    g.wait_running()
    rest = [pool.submit(h.square, x) for x in range(20)]
    pool.shutdown(wait=False, cancel_futures=True)
    g.open()
    assert first.result(timeout=60) == 1
    # wait() does not count a future cancelled by shutdown as done (the stdlib's own
    # behaviour: it is never "notified"), so wait for the others only
    cf.wait([f for f in rest if not f.cancelled()], timeout=60)
    assert sum(f.cancelled() for f in rest) >= len(rest) - 3  # a few already handed on
    for f in rest:
        if not f.cancelled():
            assert f.result() == rest.index(f) ** 2


def test_cancel_keeps_the_stdlib_meaning(make_pool, gate):
    pool = make_pool(1)
    g = gate("blocked")
    running = pool.submit(h.block, g.ready, g.release, 1)
    g.wait_running()
    queued = [pool.submit(h.square, x) for x in range(10)]
    assert running.cancel() is False  # running: cannot be cancelled
    assert queued[-1].cancel() is True and queued[-1].cancelled()
    with pytest.raises(cf.CancelledError):
        queued[-1].result()
    g.open()
    assert running.result() == 1
    assert [f.result() for f in queued[:-1]] == [x * x for x in range(9)]


def test_submit_after_shutdown_is_a_runtime_error(make_pool):
    pool = make_pool()
    f = pool.submit(h.square, 2)
    pool.shutdown()
    pool.shutdown()  # again: nothing happens
    pool.shutdown(wait=False, cancel_futures=True)
    assert f.result() == 4
    with pytest.raises(RuntimeError):
        pool.submit(h.square, 1)


def test_context_manager_waits_for_the_work(make_pool):
    pool = make_pool()
    with pool:
        fs = [pool.submit(h.square, x) for x in range(5)]
    assert all(f.done() for f in fs)
    with pytest.raises(RuntimeError):
        pool.submit(h.square, 1)


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_below_one_is_a_value_error(make_pool, bad):
    factory = make_pool
    with pytest.raises(ValueError):
        factory(bad)


def test_done_callbacks_run_once_even_the_late_ones(make_pool):
    pool = make_pool()
    seen: list[object] = []
    called = threading.Event()

    def record(f):
        seen.append(f)
        called.set()

    f = pool.submit(h.square, 4)
    f.add_done_callback(record)
    assert f.result() == 16
    called.wait(60)
    f.add_done_callback(seen.append)  # already done: called at once, on this thread
    assert seen == [f, f]


def test_a_raising_done_callback_is_logged_and_the_others_run(make_pool, caplog):
    pool = make_pool()
    ran = threading.Event()

    def bad(_):
        raise RuntimeError("callback error")

    release = threading.Event()
    f = pool.submit(h.square, 3)
    f.add_done_callback(bad)
    f.add_done_callback(lambda _: ran.set())
    del release
    assert ran.wait(60)
    assert f.result() == 9
    wait_for("the callback error to be logged",
             lambda: "exception calling callback" in caplog.text)


def test_a_submitted_method_does_not_keep_its_object_alive(make_pool):
    pool = make_pool()
    obj = h.Holder(5)
    collected = threading.Event()
    ref = weakref.ref(obj, lambda _: collected.set())
    f = pool.submit(obj.get)
    assert f.result() == 5
    del obj
    gc.collect()
    wait_for("the object to be collected", lambda: ref() is None or (gc.collect() and False))
    assert collected.is_set()


def test_a_result_is_freed_once_its_future_is(make_pool):
    pool = make_pool()
    f = pool.submit(h.make_payload, 3)
    value = f.result()
    ref = weakref.ref(value)
    del f, value
    wait_for("the result to be freed", lambda: gc.collect() is not None and ref() is None)


def test_submit_from_many_threads(make_pool):
    pool = make_pool()
    out: dict[int, cf.Future] = {}
    lock = threading.Lock()

    def feed(base):
        for i in range(base, base + 25):
            fut = pool.submit(h.square, i)
            with lock:
                out[i] = fut

    threads = [threading.Thread(target=feed, args=(k * 25,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: f.result(timeout=60) for i, f in out.items()} == {i: i * i for i in range(150)}


def test_submit_from_a_done_callback(make_pool):
    pool = make_pool()
    follow: list[cf.Future] = []
    submitted = threading.Event()

    def chain(f):
        follow.append(pool.submit(h.square, f.result()))
        submitted.set()

    pool.submit(h.square, 3).add_done_callback(chain)
    assert submitted.wait(60)
    assert follow[0].result(timeout=60) == 81


def test_a_pool_collected_without_shutdown_finishes_and_leaves_nothing(make_pool, gate):
    factory = make_pool
    g = gate("gc")
    pool = factory(2)
    f = pool.submit(h.block, g.ready, g.release, "kept")
    g.wait_running()
    ref = weakref.ref(pool)
    del pool
    factory.__closure__  # noqa: B018 (the fixture's list holds the pool: drop it below)
    _forget_pools(factory)
    gc.collect()
    assert ref() is None
    g.open()
    assert f.result(timeout=60) == "kept"
    # the leak fixture then checks that no worker is left behind


def _forget_pools(factory) -> None:
    for cell in factory.__closure__ or ():
        if isinstance(cell.cell_contents, list):
            cell.cell_contents.clear()


def test_no_time_is_spent_waiting_for_an_idle_pool(make_pool):
    # shutdown of an idle pool returns promptly (generous bound: a loaded machine)
    pool = make_pool()
    pool.submit(h.square, 1).result()
    start = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - start < 30


def test_work_submitted_before_the_interpreter_exits_is_done(make_pool, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "ran"
    proc = subprocess.run([sys.executable, "-m", "tests.futures.exit_script", make_pool.kind,
                           str(out)], cwd=root, capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text().split() == ["0", "1", "2", "3", "4"]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
