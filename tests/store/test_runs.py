"""Recording a run and reading it back: runs(), run(id), the lookups resume and caching use,
reused rows, expansions, and the errors for a run that is not there."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator.model.results import TaskStatus
from orchestrator.store import (
    Encoded,
    NotCacheable,
    RunStore,
    UnknownRunError,
    UnreadableValueError,
)

from .helpers import child_env, fp, result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "runs.db") as s:
        yield s


def test_a_run_is_listed_with_its_counts_and_tasks_come_back_as_results(store: RunStore) -> None:
    writer = store.start_run("r1", "nightly", policy={"max_concurrency": 4})
    writer.record(result("a", value={"x": 1}, attempts=2, started_at=0.5, finished_at=1.5,
                         duration=1.0, worker_pid=123, retry_delays=(0.25,), cpu_time=0.9,
                         peak_rss=1 << 20, reports={"cost": 0.5, "model": "m"},
                         tags={"team": "t"}), fp("a"))
    writer.record(result("b", status="failed", attempts=3), NotCacheable("args[0]: no"))
    assert writer.commit() is None
    (running,) = store.runs()
    assert (running.id, running.name, running.status, running.finished) == (
        "r1", "nightly", "running", None)
    assert running.counts == {"succeeded": 1, "failed": 1}  # as stored so far
    assert writer.finish("failed", {"succeeded": 1, "failed": 1, "skipped": 2}) is None
    (info,) = store.runs()
    assert info.status == "failed" and info.finished is not None
    assert info.finished >= info.started
    assert info.counts == {"succeeded": 1, "failed": 1, "skipped": 2}  # as the run reported
    assert info.policy == {"max_concurrency": 4}
    run = store.run("r1")
    assert run.info == info and len(run) == 2 and list(run) == ["a", "b"]
    a = run["a"]
    assert (a.status, a.value, a.attempts, a.started_at, a.finished_at, a.duration) == (
        TaskStatus.SUCCEEDED, {"x": 1}, 2, 0.5, 1.5, 1.0)
    assert (a.worker_pid, a.retry_delays, a.cpu_time, a.peak_rss) == (123, (0.25,), 0.9, 1 << 20)
    assert a.reports == {"cost": 0.5, "model": "m"} and a.tags == {"team": "t"}
    b = run["b"]
    assert b.status is TaskStatus.FAILED and b.value is None and b.error is not None
    assert (b.error.kind, b.error.type, b.error.message, b.error.type_chain) == (
        "exception", "ValueError", "b broke", ("builtins.ValueError",))
    with pytest.raises(KeyError):
        run["c"]
    rows = {t.task_id: t for t in run.tasks()}
    assert rows["b"].key == NotCacheable("args[0]: no") and not rows["b"].stored
    assert rows["a"].key == fp("a") and rows["a"].stored


def test_runs_are_listed_newest_first_and_by_name(store: RunStore) -> None:
    for rid, name in (("r1", "a"), ("r2", "b"), ("r3", "a")):
        store.start_run(rid, name).finish("succeeded", {})
    assert [r.id for r in store.runs()] == ["r3", "r2", "r1"]
    assert [r.id for r in store.runs("a")] == ["r3", "r1"]
    newest = store.newest_run("a")
    assert newest is not None and newest.id == "r3"
    assert store.newest_run("zzz") is None


def test_lookup_finds_a_succeeded_result_of_one_run_and_cached_the_newest_of_any(
        store: RunStore) -> None:
    first = store.start_run("r1", "wf")
    first.record(result("a", value="old"), fp("same"))
    first.record(result("f", status="failed"), fp("failed"))
    first.finish("failed", {})
    second = store.start_run("r2", "other")
    second.record(result("z", value="new"), fp("same"))
    second.finish("succeeded", {})
    hit = store.lookup("r1", fp("same"))
    assert hit is not None and (hit.run_id, hit.task_id, store.load(hit)) == ("r1", "a", "old")
    assert store.lookup("r1", fp("failed")) is None  # a failure is never a result to reuse
    assert store.lookup("r2", fp("nothing")) is None
    cached = store.cached(fp("same"))
    assert cached is not None and (cached.run_id, store.load(cached)) == ("r2", "new")
    assert store.cached(fp("failed")) is None


def test_a_reused_row_shares_its_origins_value_and_names_the_run_it_came_from(
        store: RunStore) -> None:
    first = store.start_run("r1", "wf")
    first.record(result("a", value=list(range(10))), fp("a"))
    first.finish("succeeded", {})
    hit = store.lookup("r1", fp("a"))
    assert hit is not None
    second = store.start_run("r2", "wf", resumed_from="r1")
    second.record(result("a", value=list(range(10)), attempts=0), fp("a"), reused=hit)
    second.finish("succeeded", {})
    third = store.start_run("r3", "wf", resumed_from="r2")
    again = store.lookup("r2", fp("a"))
    assert again is not None and again.reused_from == "r1" and again.origin == "r1"
    third.record(result("a", attempts=0), fp("a"), reused=again)
    third.finish("succeeded", {})
    row = store.task("r3", "a")
    assert row is not None and row.reused_from == "r1" and row.attempts == 0
    assert store.load(row) == list(range(10))
    assert store.conn.execute("SELECT count(*) FROM vals").fetchone()[0] == 1  # stored once
    assert store.info("r2").resumed_from == "r1"


def test_values_are_stored_by_their_serialiser_and_an_unpicklable_one_is_not_stored(
        store: RunStore) -> None:
    writer = store.start_run("r1", "wf")
    writer.record(result("plain", value=(1, "x")), fp(1))
    writer.record(result("raw", value=b"bytes as they are"), fp(2))
    writer.record(result("closure", value=lambda: 42), fp(3))  # only cloudpickle can
    writer.record(result("lock", value=threading.Lock()), fp(4))
    writer.record(result("given", value="ignored"), fp(5),
                  encoded=Encoded("pickle", b"\x80\x05K\x07."))  # what the worker sent: 7
    writer.finish("succeeded", {})
    serializers = dict(store.conn.execute(
        "SELECT t.id, v.serializer FROM tasks t JOIN vals v ON v.key = t.value").fetchall())
    assert serializers == {"plain": "pickle", "raw": "raw", "closure": "cloudpickle",
                           "given": "pickle"}
    run = store.run("r1")
    assert run["plain"].value == (1, "x") and run["raw"].value == b"bytes as they are"
    assert run["closure"].value() == 42 and run["given"].value == 7
    lock = store.task("r1", "lock")
    assert lock is not None and lock.status is TaskStatus.SUCCEEDED and not lock.stored
    assert lock.not_stored == ("its value (a lock) cannot be pickled: TypeError: cannot pickle "
                               "'_thread.lock' object")
    assert store.lookup("r1", fp(4)) is None  # so a resume runs it again
    with pytest.raises(UnreadableValueError, match=r"the value of task 'lock' \(run r1\) is not "
                                                   r"stored: its value \(a lock\)"):
        store.load(lock)


def test_a_value_over_the_threshold_goes_to_a_file_named_by_its_hash(store: RunStore) -> None:
    big = os.urandom(1 << 20) + b"!"  # one byte over 1 MiB
    writer = store.start_run("r1", "wf")
    writer.record(result("big", value=big), fp("big"))
    writer.record(result("twin", value=big), fp("twin"))  # the same content: one file
    writer.finish("succeeded", {})
    files = [p for p in store.blobs.root.rglob("*") if p.is_file()]
    assert len(files) == 1
    import hashlib

    assert files[0].name == hashlib.sha256(big).hexdigest()
    assert store.run("r1")["big"].value == big
    files[0].write_bytes(big[:-1] + b"?")  # damaged behind our back
    task = store.task("r1", "twin")
    assert task is not None
    with pytest.raises(UnreadableValueError, match=r"does not hold what was written"):
        store.load(task)


def test_a_value_that_no_longer_unpickles_is_reported(store: RunStore) -> None:
    writer = store.start_run("r1", "wf")
    writer.record(result("a"), fp("a"), encoded=Encoded("pickle", b"\x80\x05cnope\nGone\n."))
    writer.finish("succeeded", {})
    task = store.task("r1", "a")
    assert task is not None
    with pytest.raises(UnreadableValueError, match=r"task 'a' \(run r1\) cannot be unpickled "
                                                   r"\(pickle\): ModuleNotFoundError"):
        store.load(task)


def test_succeeded_pages_through_a_run_in_id_order(store: RunStore) -> None:
    writer = store.start_run("r1", "wf")
    for i in range(2500):  # more than two pages
        status = "failed" if i % 10 == 0 else "succeeded"
        writer.record(result(f"t{i:05d}", status=status, value=i), fp(i))
    writer.finish("failed", {})
    ids = [t.task_id for t in store.succeeded("r1")]
    assert ids == [f"t{i:05d}" for i in range(2500) if i % 10]
    assert sum(1 for _ in store.tasks("r1")) == store.task_count("r1") == 2500


def test_an_expansion_is_recorded_for_a_resume(store: RunStore) -> None:
    writer = store.start_run("r1", "wf")
    writer.record_expansion("research", ["research[0]", "research[1]"])
    writer.record_expansion("empty", [])
    writer.finish("succeeded", {})
    assert store.expansion("r1", "research") == ("research[0]", "research[1]")
    assert store.expansion("r1", "empty") == ()
    assert store.expansion("r1", "plan") is None


def test_resume_of_an_unknown_run_or_of_another_name_lists_the_candidates(
        store: RunStore) -> None:
    for rid, name in (("n1", "nightly"), ("w1", "weekly"), ("n2", "nightly")):
        store.start_run(rid, name).finish("succeeded", {})
    assert store.resume_target("nightly", True).id == "n2"
    assert store.resume_target("nightly", "n1").id == "n1"
    with pytest.raises(UnknownRunError) as info:
        store.resume_target("nightly", "n9")
    lines = str(info.value).splitlines()
    assert lines[0] == f"run store {store.path}: no run 'n9' to resume; runs of 'nightly' " \
                       "(newest first):"
    assert [line.split()[0] for line in lines[1:]] == ["n2", "n1"]
    assert lines[1].startswith("  n2 (nightly, ") and lines[1].endswith(", succeeded)")
    assert [c.id for c in info.value.candidates] == ["n2", "n1"]
    with pytest.raises(UnknownRunError, match=r"run 'w1' is a run of 'weekly', not of "
                                              r"'nightly'; runs of 'nightly'"):
        store.resume_target("nightly", "w1")
    with pytest.raises(UnknownRunError) as none:
        store.resume_target("monthly", True)
    assert str(none.value).startswith(f"run store {store.path}: no run of 'monthly' to resume; "
                                      "runs in it (newest first):")
    assert [c.id for c in none.value.candidates] == ["n2", "w1", "n1"]
    with pytest.raises(UnknownRunError, match=r"no run 'zz'"):
        store.run("zz")


def test_a_run_whose_process_died_is_listed_as_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    code = ("import sys; from orchestrator.store import RunStore\n"
            "from tests.store.helpers import result, fp\n"
            "w = RunStore(sys.argv[1]).start_run('dead', 'wf')\n"
            "w.record(result('a', value=1), fp('a')); w.commit()\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=child_env(),
                   timeout=120)
    with RunStore(path) as store:
        (info,) = store.runs()
        assert (info.status, info.counts) == ("incomplete", {"succeeded": 1})
        mine = store.start_run("alive", "wf")
        assert store.info("alive").status == "running"
        mine.finish("interrupted", {})
        assert store.info("alive").status == "interrupted"


def test_a_run_id_is_unique_in_a_store(store: RunStore) -> None:
    store.start_run("r1", "wf")
    with pytest.raises(Exception, match=r"it already holds a run 'r1'"):
        store.start_run("r1", "wf")
    with pytest.raises(ValueError, match=r"a run finishes with one of"):
        store.start_run("r2", "wf").finish("running", {})


def test_lookups_by_fingerprint_use_the_index(store: RunStore) -> None:
    """A resume looks up every task: a scan of the run per lookup would make it quadratic."""
    writer = store.start_run("r1", "wf")
    for i in range(50):
        writer.record(result(f"t{i}", value=i), fp(i))
    writer.finish("succeeded", {})
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    assert store.lookup("r1", fp(7)) is not None and store.cached(fp(8)) is not None
    store.conn.set_trace_callback(None)
    queries = [sql for sql in seen if "fingerprint =" in sql]
    assert len(queries) == 2
    for sql in queries:
        plan = " ".join(str(row[-1]) for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING INDEX tasks_by_fingerprint" in plan, (sql, plan)


def test_checkpoints_run_on_their_own_thread_not_in_a_commit(store: RunStore) -> None:
    from orchestrator.store.checkpoints import EVERY_COMMITS

    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    writer = store.start_run("r1", "wf")
    for i in range(EVERY_COMMITS):
        writer.record(result(f"t{i}", value=i), fp(i))
        writer.commit()
    store.checkpoints.close()  # returns once the checkpoint asked for has run
    assert store.checkpoints.done == 1
    assert store.run("r1")["t7"].value == 7
