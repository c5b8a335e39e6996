"""One PNG per benchmark, drawn from its raw figures (matplotlib, from the ``bench`` extra)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, Callable

__all__ = ["draw"]

Plotter = Callable[[Any, dict[str, Any]], None]


def draw(name: str, result: dict[str, Any], path: Path) -> str:
    """Draw ``name``'s chart to ``path``; returns the file name, or why nothing was drawn."""
    plotter = _PLOTTERS.get(name)
    if plotter is None or "figures" not in result:
        return "none for this benchmark"
    if importlib.util.find_spec("matplotlib") is None:
        return "not drawn (matplotlib is not installed: pip install -e '.[bench]')"
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")  # files only, never a window
    plt: Any = importlib.import_module("matplotlib.pyplot")

    fig = plt.figure(figsize=(10, 4.2), dpi=110)
    try:
        plotter(fig, result["figures"])
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path.name


def _err(cell: dict[str, Any]) -> tuple[float, float]:
    return cell["median"] - cell["min"], cell["max"] - cell["median"]


def _speedup(fig: Any, figures: dict[str, Any]) -> None:
    labels = {"cpu": "CPU-bound", "io": "sleep (IO-bound)", "dag": "mixed DAG"}
    ax = fig.add_subplot(1, 1, 1)
    xs_all: list[int] = []
    for kind, data in figures["workloads"].items():
        xs = [int(c) for c in data["by_concurrency"]]
        xs_all = xs
        cells = [data["by_concurrency"][str(c)]["speedup"] for c in xs]
        ys = [c["median"] for c in cells]
        errs = [[_err(c)[0] for c in cells], [_err(c)[1] for c in cells]]
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=labels.get(kind, kind))
    ax.plot(xs_all, xs_all, ls=":", color="grey", label="linear")
    cores = figures["cores"]
    ax.axhline(cores, ls="--", color="grey", lw=0.8, label=f"{cores} cores")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs_all, [str(x) for x in xs_all])
    ax.set_xlabel("concurrency (workers)")
    ax.set_ylabel("speedup vs serial loop")
    ax.set_title("Speedup (median, bars: min-max)")
    ax.legend()
    ax.grid(alpha=0.3)


def _overhead(fig: Any, figures: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    ran = [(name, p["tasks_per_s"]) for name, p in figures["peers"].items()
           if "tasks_per_s" in p]
    ran.sort(key=lambda item: item[1]["median"])
    names = [n for n, _ in ran]
    meds = [c["median"] for _, c in ran]
    errs = [[_err(c)[0] for _, c in ran], [_err(c)[1] for _, c in ran]]
    colors = ["tab:orange" if n.startswith("orchestrator") else "tab:blue" for n in names]
    ax.barh(names, meds, xerr=errs, color=colors, capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel(f"no-op tasks per second ({figures['tasks']:,} tasks, "
                  f"{figures['workers']} workers; log scale)")
    ax.set_title("Dispatch throughput (median, bars: min-max)")
    ax.grid(axis="x", alpha=0.3)


def _dag(fig: Any, figures: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    graphs = list(figures["graphs"].items())
    width = 0.2
    series = []
    for order in next(iter(figures["graphs"].values()))["orders"]:
        series.append((f"simulated / bound, {order}",
                       [g["orders"][order]["sim_over_bound"] for _, g in graphs]))
        series.append((f"real / bound, {order}",
                       [g["orders"][order]["real_over_bound"]["median"] for _, g in graphs]))
    for i, (label, values) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(graphs))]
        ax.bar(xs, values, width=width, label=label)
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(len(graphs)), [name for name, _ in graphs], fontsize=8)
    ax.set_ylabel("makespan / lower bound")
    ax.set_ylim(bottom=0.9)
    ax.set_title("DAG makespan relative to the lower bound (1.0 = optimal)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def _timeouts(fig: Any, figures: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    labels = {"latencies": "deadline -> timed_out", "refills": "death -> slot has a ready worker",
              "startups": "fresh worker start-up"}
    data = [(labels[k], [v * 1e3 for v in figures[k]["samples"]]) for k in labels
            if k in figures]
    ax.boxplot([d for _, d in data], vert=False, whis=(5, 95), showfliers=True)
    ax.set_yticks(range(1, len(data) + 1), [name for name, _ in data])
    ax.set_xlabel("milliseconds (box: quartiles, whiskers: p5-p95)")
    ax.set_title(f"Timeouts at concurrency {figures['workers']}: {figures['timeout_s']} s "
                 f"deadline")
    ax.grid(axis="x", alpha=0.3)


def _scale(fig: Any, figures: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 2, 1)
    stream = figures["stream"]
    keys = list(stream["peak_rss_mib"])
    ax.bar([f"{int(k):,}" for k in keys], [stream["peak_rss_mib"][k]["median"] for k in keys],
           color="tab:green")
    ax.set_xlabel("results streamed through iter_parallel")
    ax.set_ylabel("parent peak RSS (MiB)")
    ax.set_title("Streaming memory (flat = same height)")
    ax2 = fig.add_subplot(1, 2, 2)
    g = figures["graph"]
    steps = ["specs_s", "graph_s", "ranks_s"]
    ax2.bar(["TaskSpecs", "TaskGraph()", "ranks + critical path"],
            [g[s]["median"] for s in steps], color="tab:purple")
    ax2.set_ylabel("seconds")
    ax2.set_title(f"{figures['sizing']['graph_tasks']:,}-task graph")


def _bars(ax: Any, cells: dict[str, Any], label: str, title: str) -> None:
    import textwrap

    names = list(cells)
    meds = [cells[n]["median"] for n in names]
    errs = [[_err(cells[n])[0] for n in names], [_err(cells[n])[1] for n in names]]
    colors = ["tab:orange" if n.startswith(("ProcessPool ", "ProcessPool.")) else "tab:blue"
              for n in names]
    ax.barh([textwrap.fill(n, 24) for n in names], meds, xerr=errs, color=colors, capsize=3)
    ax.set_xlabel(label)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)


def _futures(fig: Any, figures: dict[str, Any]) -> None:
    _bars(fig.add_subplot(1, 2, 1), figures["submit"]["tasks_per_s"], "tasks per second",
          f"submit + result, {figures['submit']['tasks']:,} no-ops")
    _bars(fig.add_subplot(1, 2, 2), figures["map"]["wall_s"], "wall seconds (lower is better)",
          f"map over {figures['map']['items']:,} no-ops")


_PLOTTERS: dict[str, Plotter] = {
    "speedup": _speedup,
    "overhead": _overhead,
    "dag": _dag,
    "timeouts": _timeouts,
    "scale": _scale,
    "futures": _futures,
}
