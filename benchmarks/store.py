"""The run store's costs, measured on the store alone (orchestrator/store/).

* **commit**: recording task outcomes (small values, like a 1 ms task's) and committing them,
  one transaction per outcome and in batches of 8, 64 and 512, on a WAL file with
  ``synchronous=NORMAL``. Per outcome, per commit, and the slowest commit.
* **resume lookup**: a 10,000-task run with 9,990 stored results; a resume fingerprints every
  task, looks each key up in that run and reads back the 9,990 values (target: the whole
  resume under 2 s).
* **fingerprint**: the key of a task with small arguments, the first (the function's code is
  read) and every one after (memoised per function).
* **pickle in the parent**: what storing costs when the parent pickles a value again, for the
  values 1 ms tasks return, against taking the bytes the worker already sent.

End to end (``store_e2e.py``): 5,000 no-op and ~1 ms tasks with and without a store, and a
10,000-task resume through ``execute_parallel``.
"""

from __future__ import annotations

import functools
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from orchestrator.model.policy import RetryPolicy
from orchestrator.model.results import TaskResult, TaskStatus
from orchestrator.model.spec import TaskSpec
from orchestrator.store import Fingerprint, RunStore
from orchestrator.store.fingerprint import Fingerprinter
from orchestrator.store.values import encode

from . import store_e2e
from .report import check, table
from .stats import fmt, summarize

__all__ = ["run"]

BATCHES = (1, 8, 64, 512)


def _value(i: int) -> dict[str, Any]:
    return {"id": i, "score": i * 0.5, "label": f"item-{i}"}  # what a small task returns


def _specs(n: int) -> list[TaskSpec]:
    return [TaskSpec(f"t{i:05d}", "workers.agents:noop", args=(i, f"input-{i}"),
                     kwargs={"seed": i}) for i in range(n)]


def _commit_once(folder: Path, n: int, batch: int, rep: int) -> tuple[float, float]:
    """Seconds for ``n`` outcomes in commits of ``batch``; and the slowest commit."""
    with RunStore(folder / f"commit-{batch}-{rep}.db") as store:
        writer = store.start_run("r", "bench")
        results = [TaskResult(f"t{i}", TaskStatus.SUCCEEDED, value=_value(i), attempts=1)
                   for i in range(n)]
        keys = [Fingerprint(i.to_bytes(32, "big")) for i in range(n)]
        slowest = 0.0
        start = time.perf_counter()
        for i in range(n):
            writer.record(results[i], keys[i])
            if (i + 1) % batch == 0:
                t0 = time.perf_counter()
                writer.commit()
                slowest = max(slowest, time.perf_counter() - t0)
        writer.commit()
        total = time.perf_counter() - start
        writer.finish("succeeded", {"succeeded": n})
    return total, slowest


def _commits(folder: Path, n: int, reps: int) -> tuple[dict[str, Any], list[list[Any]]]:
    figures: dict[str, Any] = {}
    rows = []
    for batch in BATCHES:
        runs = [_commit_once(folder, n, batch, rep) for rep in range(reps)]
        per = summarize([t / n * 1e6 for t, _ in runs])
        per_commit = summarize([t / max(1, n // batch) * 1e6 for t, _ in runs])
        slowest = summarize([s * 1e3 for _, s in runs])
        figures[f"batch_{batch}"] = {"us_per_outcome": per, "us_per_commit": per_commit,
                                     "slowest_commit_ms": slowest}
        rows.append([batch, fmt(per, 1), fmt(per_commit, 0), fmt(slowest, 2)])
    return figures, rows


def _stored_run(path: Path, specs: list[TaskSpec], failed: int) -> None:
    fingerprinter = Fingerprinter()
    retry = RetryPolicy()
    with RunStore(path) as store:
        writer = store.start_run("first", "bench")
        for i, spec in enumerate(specs):
            ok = i >= failed
            writer.record(TaskResult(spec.id, TaskStatus.SUCCEEDED if ok else TaskStatus.FAILED,
                                     value=_value(i) if ok else None, attempts=1),
                          fingerprinter.task(spec, timeout=None, retry=retry))
            if i % 64 == 63:
                writer.commit()
        writer.finish("failed", {"succeeded": len(specs) - failed, "failed": failed})


def _resume_once(path: Path, specs: list[TaskSpec]) -> tuple[float, int]:
    """A resume's store work: open, key every task, look it up, read the value back."""
    start = time.perf_counter()
    reused = 0
    with RunStore(path) as store:
        target = store.resume_target("bench", True)
        fingerprinter = Fingerprinter()
        retry = RetryPolicy()
        for spec in specs:
            key = fingerprinter.task(spec, timeout=None, retry=retry)
            if isinstance(key, Fingerprint):
                hit = store.lookup(target.id, key)
                if hit is not None:
                    store.load(hit)
                    reused += 1
    return time.perf_counter() - start, reused


def _fingerprints(n: int, reps: int) -> dict[str, Any]:
    specs = _specs(n)
    retry = RetryPolicy()
    first, rest = [], []
    for _ in range(reps):
        fingerprinter = Fingerprinter()
        t0 = time.perf_counter()
        fingerprinter.task(specs[0], timeout=None, retry=retry)
        t1 = time.perf_counter()
        for spec in specs[1:]:
            fingerprinter.task(spec, timeout=None, retry=retry)
        first.append((t1 - t0) * 1e3)
        rest.append((time.perf_counter() - t1) / (n - 1) * 1e6)
    return {"first_ms": summarize(first), "us_per_task": summarize(rest)}


def _per_call_us(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def _repickle(reps: int) -> list[list[Any]]:
    values: list[tuple[str, Any]] = [
        ("float (what workers.agents:sleep returns)", 0.001),
        ("small dict (3 fields)", _value(7)),
        ("list of 100 floats", [i * 0.1 for i in range(100)]),
        ("10 KB str", "x" * 10_000),
        ("dict of 1,000 str -> int", {f"k{i}": i for i in range(1000)}),
        ("1 MiB bytes (stored raw)", b"x" * (1 << 20)),
    ]
    rows = []
    for name, value in values:
        data = pickle.dumps(value, 5)
        dumps = statistics.median(_per_call_us(functools.partial(encode, value), 200)
                                  for _ in range(reps))
        loads = statistics.median(_per_call_us(functools.partial(pickle.loads, data), 200)
                                  for _ in range(reps))
        rows.append([name, f"{dumps:.2f}", f"{loads:.2f}", f"{dumps / 1000 * 100:.2f}%"])
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    n_commit, reps = (500, 1) if quick else (20_000, 5)
    n_resume, failed = (1000 if quick else 10_000), 10
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        folder = Path(tmp)
        commit_figures, commit_rows = _commits(folder, n_commit, reps)
        specs = _specs(n_resume)
        _stored_run(folder / "resume.db", specs, failed)
        resumes = [_resume_once(folder / "resume.db", specs) for _ in range(reps)]
        e2e_tables, e2e_checks, e2e = store_e2e.section(folder, quick)
    resume = summarize([t for t, _ in resumes])
    reused = resumes[0][1]
    fingerprint = _fingerprints(500 if quick else 10_000, reps)
    tables = [
        table(f"commit cost: {n_commit:,} outcomes (small values) into a WAL store, "
              f"synchronous=NORMAL ({reps} runs)",
              ["outcomes per transaction", "us per outcome", "us per commit",
               "slowest commit (ms)"], commit_rows,
              notes=["WAL checkpoints run on the store's own thread (checkpoints.py), not in a "
                     "commit; the slowest commit shows what else stalls one (the machine)."]),
        table(f"resume of a {n_resume:,}-task run with {n_resume - failed:,} stored results "
              f"({reps} runs)", ["step", "seconds", "reused"],
              [["open, key every task, look up, read every value back", fmt(resume, 3),
                reused]]),
        table("fingerprint of a task with small arguments", ["", "value"],
              [["first task of a function (reads its code), ms",
                fmt(fingerprint["first_ms"], 2)],
               ["each task after, us", fmt(fingerprint["us_per_task"], 1)]]),
        table("pickling a value again in the parent (store.values.encode) vs the worker's "
              "bytes", ["value", "encode us", "loads us", "of a 1 ms task"], _repickle(reps),
              notes=["Taking the worker's bytes instead (RunWriter.record(encoded=...)) costs "
                     "nothing here; the pool would keep them instead of dropping them after "
                     "unpickling."]),
    ]
    checks = [
        check(f"store side of a resume: {n_resume:,} tasks, {n_resume - failed:,} reused",
              "< 2 s at 10,000 (issue 12: the store's part alone)",
              fmt(resume, 3) + " s" + (" (--quick: not the issue's size)" if quick else ""),
              None if quick else resume["median"] < 2.0 and reused == n_resume - failed),
        *e2e_checks,
    ]
    tables += e2e_tables
    figures = {"e2e": e2e, "commit": commit_figures, "resume_s": resume, "reused": reused,
               "fingerprint": fingerprint, "outcomes": n_commit}
    return {"title": "run store: commit, resume lookup and fingerprint costs",
            "tables": tables, "checks": checks, "figures": figures}
