"""Durable runs end to end: a parent SIGKILLed mid-run and resumed, a failed task resumed,
changed args or code with cache=True, opting out, what is not cacheable, iter_parallel, and the
errors a resume can meet. Real store files; real processes where a user meets them."""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import Each, Ref, TaskSpec, execute_graph, iter_parallel
from orchestrator.executors.inline import InlineExecutor
from orchestrator.model.errors import SpecError
from orchestrator.store import RunStore, UnknownRunError
from orchestrator.telemetry.events import EventType
from orchestrator.telemetry.reader import metrics_from_events, validate_event
from orchestrator.telemetry.sinks import MemorySink

from . import dag_tasks
from .helpers import ROOT, child_env, integrity, needs_tiny_fs, tiny_fs

pytestmark = pytest.mark.timeout(300)


def _child(db: Path, side: Path, gate: Path, resume: str | None = None
           ) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.store.dag_child", str(db), str(side), str(gate)]
    return subprocess.Popen(argv + ([resume] if resume else []), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)


def _stored(db: Path) -> dict[str, str]:
    """task id -> status of what the (only) run of ``db`` has committed so far."""
    if not db.exists():
        return {}
    with RunStore(db) as store:
        runs = store.runs()
        return {t.task_id: t.status.value for t in store.tasks(runs[0].id)} if runs else {}


def test_a_parent_killed_with_sigkill_resumes_without_running_a_finished_task_twice(
        tmp_path: Path) -> None:
    db, side, gate = tmp_path / "runs.db", tmp_path / "side", tmp_path / "gate"
    first = _child(db, side, gate)
    deadline = time.monotonic() + 120  # generous: a loaded machine; the loop ends early
    while len(_stored(db)) < 4:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "fewer than 4 tasks finished in 120 s"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert integrity(db) == "ok"
    finished = {tid for tid, status in _stored(db).items() if status == "succeeded"}
    assert len(finished) >= 4 and not finished & dag_tasks.HELD

    gate.touch()
    second = _child(db, side, gate, "newest")
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err
    results = json.loads(out.splitlines()[-1])
    assert {tid: r[3] for tid, r in results.items()} == dag_tasks.expected()
    assert all(r[0] == "succeeded" for r in results.values())
    runs = dag_tasks.executions(side)
    for tid in finished:
        assert runs.count(tid) == 1, (tid, runs)
        assert results[tid][1:3] == [0, results[tid][2]] and results[tid][2] is not None
    for tid in dag_tasks.HELD:
        assert results[tid][1] == 1 and results[tid][2] is None
    with RunStore(db) as store:
        killed, resumed = store.runs()[1], store.runs()[0]
        assert (killed.status, resumed.status) == ("incomplete", "succeeded")
        assert resumed.resumed_from == killed.id and len(store.run(resumed.id)) == 12


def _flaky(marker: str, side: str, x: int) -> int:
    with open(side, "a", encoding="utf-8") as f:
        f.write("flaky\n")
    if not Path(marker).exists():
        raise RuntimeError("not yet")
    return x + 1


def _logged(name: str, side: str, *values: int) -> int:
    with open(side, "a", encoding="utf-8") as f:
        f.write(name + "\n")
    return sum(values) + 1


def test_a_task_that_failed_runs_again_on_resume_with_only_what_is_below_it(
        tmp_path: Path) -> None:
    db, side, marker = tmp_path / "runs.db", str(tmp_path / "side"), str(tmp_path / "ok")
    tasks = [TaskSpec("a", _logged, ("a", side)), TaskSpec("b", _logged, ("b", side)),
             TaskSpec("f", _flaky, (marker, side, Ref("a"))),
             TaskSpec("g", _logged, ("g", side, Ref("f"))),
             TaskSpec("h", _logged, ("h", side, Ref("b")))]
    inline = InlineExecutor()
    first = execute_graph(tasks, executor=inline, store=db, run_name="flow")
    assert {r.id: r.status.value for r in first} == {
        "a": "succeeded", "b": "succeeded", "f": "failed", "g": "skipped", "h": "succeeded"}
    Path(marker).touch()
    Path(side).unlink()
    second = execute_graph(tasks, executor=inline, store=db, run_name="flow", resume=True)
    assert second.ok and second.values == {"a": 1, "b": 1, "f": 2, "g": 3, "h": 2}
    assert sorted(Path(side).read_text().split()) == ["flaky", "g"]
    assert {r.id for r in second if r.reused_from == first.run_id} == {"a", "b", "h"}
    assert second.metrics.reused == 3 and second.metrics.counts == {"succeeded": 5}


def _per_item(marker: str, side: str, x: int) -> int:
    with open(side, "a", encoding="utf-8") as f:
        f.write(f"item{x}\n")
    if x == 2 and not Path(marker).exists():
        raise RuntimeError("not yet")
    return x * 10


def _merged(side: str, values: list[int]) -> int:
    return _logged("merge", side, *values)


def test_a_mapped_task_resumes_child_by_child_and_what_is_below_it_is_reused(
        tmp_path: Path) -> None:
    db, side, marker = tmp_path / "runs.db", str(tmp_path / "side"), str(tmp_path / "ok")
    tasks = [TaskSpec("plan", _logged, ("plan", side)),
             TaskSpec("items", dag_tasks.spread, (Ref("plan"),)),
             TaskSpec("each", _per_item, (marker, side, Each(Ref("items")))),
             TaskSpec("merge", _merged, (side, Ref("each")))]
    inline = InlineExecutor()
    first = execute_graph(tasks, executor=inline, store=db, run_name="fan")
    states = {r.id: r.status.value for r in first}
    assert states["each[1]"] == "failed" and states["merge"] == "skipped"
    assert states["each[0]"] == states["each[2]"] == "succeeded"

    Path(marker).touch()
    Path(side).unlink()
    second = execute_graph(tasks, executor=inline, store=db, run_name="fan", resume=True)
    assert second.ok, {r.id: (r.status.value, r.error) for r in second}
    assert second.values["each"] == [10, 20, 30]
    assert second.values["merge"] == 61
    assert sorted(Path(side).read_text().split()) == ["item2", "merge"]  # nothing else ran
    assert {r.id for r in second if r.reused_from == first.run_id} == {
        "plan", "items", "each[0]", "each[2]"}

    Path(side).unlink()
    third = execute_graph(tasks, executor=inline, store=db, run_name="fan", resume=True)
    assert third.values == second.values and not Path(side).exists()  # all of it reused,
    assert third.metrics.reused == 6  # the merge below the mapped task too (not the group)
    with RunStore(db) as store:
        assert store.expansion(first.run_id, "each") == ("each[0]", "each[1]", "each[2]")


_MODULE = '''
def leaf(x):
    return x * {factor}

def top(a, b):
    return a + b
'''


def _module(tmp_path: Path, factor: int) -> Any:
    pkg = tmp_path / "cachemod_pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "jobs.py").write_text(textwrap.dedent(_MODULE.format(factor=factor)))
    import cachemod_pkg.jobs as jobs  # importable: the test prepends tmp_path to sys.path

    return importlib.reload(jobs)


def _graph(jobs: Any, x: int) -> list[TaskSpec]:
    return [TaskSpec("p", jobs.leaf, (x,)), TaskSpec("q", jobs.leaf, (5,)),
            TaskSpec("r", jobs.top, (Ref("p"), Ref("q"))), TaskSpec("s", jobs.top, (Ref("q"), 1))]


@pytest.mark.parametrize("change", ["args", "body"])
def test_with_cache_a_changed_task_and_its_dependents_run_and_the_rest_are_reused(
        tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))  # taken off after the test
    db = tmp_path / "runs.db"
    jobs = _module(tmp_path, 2)
    first = execute_graph(_graph(jobs, 3), executor=InlineExecutor(), store=db, run_name="c")
    assert first.values == {"p": 6, "q": 10, "r": 16, "s": 11}
    if change == "body":
        jobs = _module(tmp_path, 3)  # leaf's body changed: p and q both change
        graph, ran, values = _graph(jobs, 3), {"p", "q", "r", "s"}, {"p": 9, "q": 15, "r": 24,
                                                                     "s": 16}
    else:
        graph, ran, values = _graph(jobs, 4), {"p", "r"}, {"p": 8, "q": 10, "r": 18, "s": 11}
    second = execute_graph(graph, executor=InlineExecutor(), store=db, run_name="c", cache=True)
    assert second.values == values
    assert {r.id for r in second if r.reused_from is None} == ran
    assert all(r.attempts == 0 for r in second if r.reused_from is not None)
    sys.modules.pop("cachemod_pkg.jobs", None)
    sys.modules.pop("cachemod_pkg", None)


def test_a_reused_task_keeps_its_times_emits_task_reused_and_metrics_count_what_ran(
        tmp_path: Path) -> None:
    db, side = tmp_path / "runs.db", str(tmp_path / "side")
    tasks = [TaskSpec("a", _logged, ("a", side)), TaskSpec("b", _logged, ("b", side, Ref("a")))]
    first = execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="m")
    sink = MemorySink()
    changed = [tasks[0], TaskSpec("b", _logged, ("b", side, Ref("a"), 1))]
    second = execute_graph(changed, executor=InlineExecutor(), store=db, run_name="m",
                           resume=first.run_id, on_event=sink)
    a = second["a"]
    assert (a.status.value, a.attempts, a.reused_from) == ("succeeded", 0, first.run_id)
    assert (a.started_at, a.finished_at) == (first["a"].started_at, first["a"].finished_at)
    assert second["b"].reused_from is None and second["b"].attempts == 1
    terminal = [e for e in sink.events if e.task_id == "a" and e.type.startswith("task.")
                and e.type != EventType.TASK_READY]
    assert [e.type for e in terminal] == [EventType.TASK_REUSED]
    assert terminal[0].data is not None and terminal[0].data["reused_from"] == first.run_id
    for e in sink.events:
        validate_event(e.to_dict())
    assert second.metrics.reused == 1
    assert second.metrics.serial_time == second["b"].busy_time
    assert metrics_from_events(sink.events) == second.metrics
    started = sink.of_type(EventType.RUN_STARTED)[0]
    assert started.data is not None and started.data["store"]["resumed_from"] == first.run_id


def test_cache_false_always_runs_and_an_uncacheable_task_says_why_once(tmp_path: Path) -> None:
    import threading

    db, side = tmp_path / "runs.db", str(tmp_path / "side")
    lock = threading.Lock()
    tasks = [TaskSpec("fresh", _logged, ("fresh", side), cache=False),
             TaskSpec("locked", _logged, ("locked", side), kwargs={}, tags={}),
             TaskSpec("odd", _uses_lock, (lock,))]
    execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="u")
    sink = MemorySink()
    again = execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="u", resume=True,
                          on_event=sink)
    assert again["fresh"].reused_from is None and again["locked"].reused_from is not None
    assert again["odd"].reused_from is None and again["odd"].ok
    said = sink.of_type(EventType.TASK_UNCACHEABLE)
    assert [(e.task_id, e.reason) for e in said] == [
        ("odd", "args[0]: no canonical encoding for _thread.lock")]
    with RunStore(db) as store:
        row = store.task(again.run_id, "odd")
        assert row is not None and getattr(row.key, "reason", "").startswith("args[0]")


def _uses_lock(lock: Any) -> str:
    return type(lock).__name__


def test_iter_parallel_yields_reused_inputs_in_their_place_and_runs_the_rest(
        tmp_path: Path) -> None:
    db, side = tmp_path / "runs.db", str(tmp_path / "side")
    first = [TaskSpec(f"t{i}", _logged, (f"t{i}", side, i)) for i in range(40)]
    done = list(iter_parallel(first[:30], executor=InlineExecutor(), store=db, run_name="it"))
    assert len(done) == 30
    Path(side).unlink()
    seen = list(iter_parallel(first, executor=InlineExecutor(), store=db, run_name="it",
                              resume=True))
    assert sorted(r.id for r in seen) == sorted(t.id for t in first)
    assert sum(1 for r in seen if r.reused_from) == 30
    assert sorted(Path(side).read_text().split()) == sorted(f"t{i}" for i in range(30, 40))


def test_every_input_reused_still_streams_every_result(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    tasks = [TaskSpec(f"t{i}", _uses_lock, (i,)) for i in range(5)]
    list(iter_parallel(tasks, executor=InlineExecutor(), store=db))
    again = list(iter_parallel(tasks, executor=InlineExecutor(), store=db, resume=True))
    assert [r.id for r in again] == [t.id for t in tasks]
    assert all(r.reused_from for r in again)


def test_resume_of_an_unknown_run_or_another_name_lists_the_candidates(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    tasks = [TaskSpec("a", _uses_lock, (1,))]
    done = execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="one")
    with pytest.raises(UnknownRunError, match=rf"(?s)no run 'nope' to resume.*{done.run_id}"):
        execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="one", resume="nope")
    with pytest.raises(UnknownRunError, match=r"is a run of 'one', not of 'two'"):
        execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="two",
                      resume=done.run_id)
    with pytest.raises(UnknownRunError, match=r"no run of 'three' to resume"):
        execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="three", resume=True)
    with pytest.raises(SpecError, match=r"need a store="):
        execute_graph(tasks, executor=InlineExecutor(), resume=True)
    with RunStore(db) as store:
        assert len(store.runs()) == 1  # nothing ran for the errors


def test_a_bad_store_path_fails_before_anything_runs(tmp_path: Path) -> None:
    from orchestrator.store import StoreError

    bad = tmp_path / "not.db"
    bad.write_text("hello, I am a text file\n" * 100)
    side = tmp_path / "side"
    with pytest.raises(StoreError, match="not a SQLite database"):
        execute_graph([TaskSpec("a", _logged, ("a", str(side)))], executor=InlineExecutor(),
                      store=bad)
    assert not side.exists()


def test_spec_fields_are_checked() -> None:
    with pytest.raises(SpecError, match=r"task 'a': cache must be True, False or None"):
        TaskSpec("a", _uses_lock, cache="yes")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"task 'a': version must be a non-empty string"):
        TaskSpec("a", _uses_lock, version="")


def test_a_version_string_stands_for_the_code(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))  # taken off after the test
    db = tmp_path / "runs.db"
    jobs = _module(tmp_path, 2)
    run = [TaskSpec("p", jobs.leaf, (3,), version="v1")]
    execute_graph(run, executor=InlineExecutor(), store=db, run_name="v")
    jobs = _module(tmp_path, 7)  # the body changed, the version did not: reused
    again = execute_graph([TaskSpec("p", jobs.leaf, (3,), version="v1")],
                          executor=InlineExecutor(), store=db, run_name="v", cache=True)
    assert again["p"].reused_from is not None and again["p"].value == 6
    bumped = execute_graph([TaskSpec("p", jobs.leaf, (3,), version="v2")],
                           executor=InlineExecutor(), store=db, run_name="v", cache=True)
    assert bumped["p"].reused_from is None and bumped["p"].value == 21
    sys.modules.pop("cachemod_pkg.jobs", None)
    sys.modules.pop("cachemod_pkg", None)


_FULL = r'''
import json
from orchestrator import TaskSpec, execute_parallel
from orchestrator.executors.inline import InlineExecutor
from orchestrator.store import RunStore
from orchestrator.telemetry.sinks import MemorySink
from tests.store.helpers import integrity

def blob(i):
    return bytes([i % 256]) * 100_000

sink = MemorySink()
result = execute_parallel([TaskSpec(f"t{i:02d}", blob, (i,)) for i in range(40)],
                          executor=InlineExecutor(), store="runs.db", run_name="full",
                          on_event=sink)
stopped = [e.reason for e in sink.of_type("store.stopped")]
import os
os.remove("filler")
with RunStore("runs.db") as store:
    rows = {t.task_id: store.load(t) for t in store.succeeded(result.run_id)}
print(json.dumps({"ok": result.ok, "n": len(result), "note": result.store_note,
                  "stopped": stopped, "rows": len(rows),
                  "right": all(v == bytes([int(k[1:]) % 256]) * 100_000 for k, v in rows.items()),
                  "integrity": integrity("runs.db")}))
'''


@needs_tiny_fs
def test_a_disk_that_fills_mid_run_goes_on_in_memory_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "full.py").write_text(_FULL)
    done = tiny_fs('head -c 2500k /dev/zero > filler && $PY ../full.py', "4m", tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["ok"] and out["n"] == 40, out  # every task succeeded, in memory
    assert len(out["stopped"]) == 1 and "the disk is full" in out["stopped"][0], out
    assert out["note"] == out["stopped"][0]
    assert 0 < out["rows"] < 40 and out["right"] and out["integrity"] == "ok", out


def test_the_async_variants_take_the_same_keywords(tmp_path: Path) -> None:
    import asyncio

    from orchestrator import execute_graph_async, execute_parallel_async

    db = tmp_path / "runs.db"
    tasks = [TaskSpec("a", _uses_lock, (1,)), TaskSpec("b", _uses_lock, (2,))]
    first = asyncio.run(execute_parallel_async(tasks, executor=InlineExecutor(), store=db,
                                               run_name="as"))
    again = asyncio.run(execute_graph_async(tasks, executor=InlineExecutor(), store=db,
                                            run_name="as", resume=True))
    assert first.ok and again.ok and again.metrics.reused == 2
    assert {r.reused_from for r in again} == {first.run_id}


def _big(side: str) -> bytes:
    with open(side, "a", encoding="utf-8") as f:
        f.write("big\n")
    return b"z" * ((1 << 20) + 10)  # over the blob threshold: a file beside the database


def test_a_stored_value_that_cannot_be_read_back_runs_again_on_resume(tmp_path: Path) -> None:
    db, side = tmp_path / "runs.db", str(tmp_path / "side")
    tasks = [TaskSpec("big", _big, (side,))]
    execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="b")
    blobs = [p for p in Path(f"{db}.blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    blobs[0].write_bytes(b"damaged")
    again = execute_graph(tasks, executor=InlineExecutor(), store=db, run_name="b", resume=True)
    assert again["big"].reused_from is None and again["big"].value == _big(side)
    assert Path(side).read_text().split() == ["big", "big", "big"]  # 2 runs + the check above
