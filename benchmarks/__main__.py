"""``python -m benchmarks [--quick] [--only NAME] [--out DIR]``.

Prints the machine and a markdown table per benchmark on stdout (progress on stderr), and writes
``<name>.json`` (every raw sample), ``<name>.png`` (a chart, when matplotlib is installed) and
``summary.md`` (what stdout showed) under ``--out``. Exit status 1 if a benchmark crashed; a
missed target is a finding, reported in the tables, not a crash.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import chart, machine, registry
from .report import render, write_json

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions (a smoke run, about a minute)")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help=f"run only these (repeat or comma-separate): "
                             f"{', '.join(registry.names())}")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write JSON, charts and summary.md (default {DEFAULT_OUT}"
                             f", or its quick/ folder with --quick)")
    args = parser.parse_args(argv)
    wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    for name in wanted:
        if name not in registry.names():
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(registry.names())}")
    args.only = wanted
    if args.out is None:
        args.out = DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT
    return args


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    info = machine.describe()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + "".join(
        f" --only {n}" for n in args.only)
    selected = [registry.load(n) for n in args.only] if args.only else list(registry.BENCHMARKS)
    head = [f"# OrchestratorEngine benchmarks{' (--quick sizing)' if args.quick else ''}", "",
            f"`{command}`, started {started}", "", *machine.header_lines(info), ""]
    sections = ["\n".join(head)]
    print(sections[0], flush=True)
    status = 0
    suite_start = time.perf_counter()
    try:
        for bench in selected:
            section, ok = _run_one(bench, args.quick, out, info, command)
            status = status or (0 if ok else 1)
            sections.append(section)
            print(section, flush=True)
    finally:
        from orchestrator import shutdown_shared_pool

        shutdown_shared_pool()
    total = time.perf_counter() - suite_start
    tail = f"Suite finished in {total:.0f} s."
    print(tail)
    sections.append(tail + "\n")
    name = "summary.md" if not args.only else f"summary-{'-'.join(args.only)}.md"
    (out / name).write_text("\n".join(sections), encoding="utf-8")
    _log(f"wrote {out}")
    return status


def _run_one(bench: registry.Benchmark, quick: bool, out: Path, info: dict[str, Any],
             command: str) -> tuple[str, bool]:
    if not bench.available():
        why = f"skipped: {bench.module.replace('.', '/')}.py is not on this branch"
        _log(f"[{bench.name}] {why}")
        return f"## {bench.name}: {bench.summary}\n\n{why}.\n", True
    _log(f"[{bench.name}] running{' (quick)' if quick else ''} ...")
    load_before = machine.load_average()
    start = time.perf_counter()
    try:
        result = bench.runner()(quick=quick)
    except Exception:
        text = traceback.format_exc()
        _log(f"[{bench.name}] FAILED\n{text}")
        return f"## {bench.name}: FAILED\n\n```\n{text}```\n", False
    elapsed = time.perf_counter() - start
    load_after = machine.load_average()
    _log(f"[{bench.name}] done in {elapsed:.1f} s")
    write_json(out / f"{bench.name}.json", {
        "benchmark": bench.name, "command": command, "quick": quick, "elapsed_s": elapsed,
        "load_average_1min": {"before": load_before, "after": load_after},
        "machine": info, "result": result})
    drawn = chart.draw(bench.name, result, out / f"{bench.name}.png")
    section = render(bench.name, result)
    section += (f"\n_{bench.name} took {elapsed:.0f} s; 1-minute load average "
                f"{_num(load_before)} before, {_num(load_after)} after "
                f"({info['usable_cores']} cores); chart: {drawn}._\n")
    return section, True


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
