#!/usr/bin/python3
"""Plot and tabulate bench_timers results from Google Benchmark's JSON output.

Usage:
    /usr/bin/python3 benchmarks/plot_timers.py RESULTS.json [--out-dir DIR] [--tables]

Writes timers_ns_per_op.png (one panel per workload: ns per operation
against size, one line per queue, both axes logarithmic) and
timers_memory.png (bytes per timer, and moves per timer for the wheels).
With --tables it also prints Markdown tables of the same figures.

ns per operation is CPU time per item (1e9 / items_per_second, which Google
Benchmark computes from CPU time). For next_deadline it is the query_ns
counter, the query without the change that precedes it. When the JSON contains
repetitions, the script takes the median aggregate if present, else the
median of the repetitions.
"""

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib import ticker  # noqa: E402

WORKLOADS = [
    "churn", "rearm", "fire_all", "mixed", "burst",
    "sparse", "periodic", "next_deadline", "idle_jump", "cold_cache",
]

# The unit of one item in each workload, for the axis labels and tables.
ITEM = {
    "churn": "ns per cancel+schedule pair",
    "rearm": "ns per rearm",
    "fire_all": "ns per expiry",
    "mixed": "ns per arrival",
    "burst": "ns per timer, scheduled and fired",
    "sparse": "ns per expiry",
    "periodic": "ns per expiry",
    "next_deadline": "ns per query",
    "idle_jump": "ns per 10^6-tick jump",
    "cold_cache": "ns per cancel+schedule pair",
}

QUEUES = [
    "std_priority_queue", "boost_d_ary_heap", "binary_heap",
    "quaternary_heap", "hashed_wheel", "hierarchical_wheel",
]

STYLE = {
    "std_priority_queue": dict(color="#7f7f7f", marker="v", linestyle="--"),
    "boost_d_ary_heap": dict(color="#bcbd22", marker="^", linestyle="--"),
    "binary_heap": dict(color="#1f77b4", marker="o", linestyle="-"),
    "quaternary_heap": dict(color="#2ca02c", marker="s", linestyle="-"),
    "hashed_wheel": dict(color="#ff7f0e", marker="D", linestyle="-"),
    "hierarchical_wheel": dict(color="#d62728", marker="*", linestyle="-", markersize=9),
}


def load_cells(path):
    """Read the JSON and return {(workload, queue, size): counters}, one per cell."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    medians = {}
    repetitions = defaultdict(list)
    for run in data.get("benchmarks", []):
        name = run.get("run_name", run["name"])
        parts = name.split("/")
        if len(parts) != 3 or parts[0] not in WORKLOADS:
            continue
        key = (parts[0], parts[1], int(parts[2]))
        if run.get("run_type") == "aggregate":
            if run.get("aggregate_name") == "median":
                medians[key] = run
        else:
            repetitions[key].append(run)
    cells = {}
    for key, runs in repetitions.items():
        source = [medians[key]] if key in medians else runs
        cells[key] = summarize(key[0], source)
    return cells, data.get("context", {})


def summarize(workload, runs):
    """Return the median figures of the runs of one cell."""

    def median_of(field):
        values = [r[field] for r in runs if field in r]
        return statistics.median(values) if values else None

    items_per_second = median_of("items_per_second")
    ns_per_item = 1e9 / items_per_second if items_per_second else None
    if workload == "next_deadline":
        ns_per_item = median_of("query_ns")
    return {
        "ns": ns_per_item,
        "ns_with_change": 1e9 / items_per_second if items_per_second else None,
        "bytes": median_of("bytes_per_timer"),
        "moves": median_of("moves_per_timer"),
    }


def series(cells, workload, queue, field):
    """Return the sizes and values of one line, skipping missing points."""
    points = sorted(
        (size, c[field]) for (w, q, size), c in cells.items()
        if w == workload and q == queue and c[field] is not None
    )
    return [p[0] for p in points], [p[1] for p in points]


def plain_log_axes(ax, minor_labels=False):
    """Label log axes 1, 10, 100, ... instead of 10^0, 10^1, 10^2."""
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.yaxis.set_major_formatter(plain)
    if minor_labels:
        ax.yaxis.set_minor_formatter(plain)


def plot_ns(cells, out_dir, title):
    """Write the ns-per-operation figure, one panel per workload."""
    fig, axes = plt.subplots(2, 5, figsize=(22, 9), constrained_layout=True)
    for ax, workload in zip(axes.flat, WORKLOADS):
        for queue in QUEUES:
            x, y = series(cells, workload, queue, "ns")
            # A log axis cannot show 0, and next_deadline's difference can round to 0.
            x, y = zip(*[(a, b) for a, b in zip(x, y) if b > 0]) if any(v > 0 for v in y) else ([], [])
            if x:
                ax.plot(x, y, label=queue, **STYLE[queue])
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axes(ax)
        ax.set_title(workload)
        ax.set_xlabel("pending timers")
        ax.set_ylabel(ITEM[workload])
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, bbox_to_anchor=(0.5, -0.04))
    fig.suptitle(title)
    path = os.path.join(out_dir, "timers_ns_per_op.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_memory(cells, out_dir, title):
    """Write the bytes-per-timer and moves-per-timer figure."""
    fig, axes = plt.subplots(1, 3, figsize=(18, 5), constrained_layout=True)
    for ax, workload in zip(axes[:2], ["churn", "fire_all"]):
        for queue in QUEUES:
            x, y = series(cells, workload, queue, "bytes")
            if x:
                ax.plot(x, y, label=queue, **STYLE[queue])
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axes(ax, minor_labels=True)
        ax.set_title(f"bytes per pending timer ({workload})")
        ax.set_xlabel("pending timers")
        ax.set_ylabel("heap bytes / pending timers")
        ax.grid(True, which="both", alpha=0.3)

    ax = axes[2]
    for workload, marker in [("sparse", "^"), ("fire_all", "o"), ("burst", "s"),
                             ("mixed", "D"), ("rearm", "P"), ("periodic", "X"),
                             ("churn", "v"), ("cold_cache", "<"), ("idle_jump", ">")]:
        x, y = series(cells, workload, "hierarchical_wheel", "moves")
        if x:
            ax.plot(x, y, marker=marker, label=workload)

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_title("hierarchical_wheel: moves per timer scheduled")
    ax.set_xlabel("pending timers")
    ax.set_ylabel("cascades per timer")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    axes[0].legend()

    fig.suptitle(title)
    path = os.path.join(out_dir, "timers_memory.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def format_ns(value):
    if value is None:
        return ""
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.1f} µs"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def print_tables(cells):
    """Print one Markdown table per workload: queues by size, ns per item."""
    for workload in WORKLOADS:
        sizes = sorted({s for (w, _, s) in cells if w == workload})
        if not sizes:
            continue
        print(f"#### {workload} ({ITEM[workload]})\n")
        print("| queue | " + " | ".join(f"{s:,}" for s in sizes) + " |")
        print("| --- |" + " ---: |" * len(sizes))
        for queue in QUEUES:
            row = [format_ns(cells.get((workload, queue, s), {}).get("ns")) for s in sizes]
            print(f"| `{queue}` | " + " | ".join(row) + " |")
        print()
    print("#### bytes per pending timer (churn) and moves per timer (fire_all)\n")
    sizes = sorted({s for (w, _, s) in cells if w == "churn"})
    print("| queue | " + " | ".join(f"{s:,}" for s in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for queue in QUEUES:
        row = []
        for s in sizes:
            value = cells.get(("churn", queue, s), {}).get("bytes")
            row.append("" if value is None else f"{value:.1f}")
        print(f"| `{queue}` | " + " | ".join(row) + " |")
    for queue in ["hashed_wheel", "hierarchical_wheel"]:
        row = []
        for s in sizes:
            value = cells.get(("fire_all", queue, s), {}).get("moves")
            row.append("" if value is None else f"{value:.2f}")
        print(f"| `{queue}` moves per timer (fire_all) | " + " | ".join(row) + " |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="bench_timers JSON (--benchmark_out_format=json)")
    parser.add_argument("--out-dir", default="docs/images", help="directory for the PNG files")
    parser.add_argument("--tables", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()

    cells, context = load_cells(args.results)
    if not cells:
        sys.exit(f"plot_timers.py: no WORKLOAD/QUEUE/SIZE cells in {args.results}")
    os.makedirs(args.out_dir, exist_ok=True)
    load = context.get("load_avg")
    title = "bench_timers, CPU time"
    if context.get("date"):
        title += f", {context['date'][:10]}"
    if load:
        title += ", load average at start " + " / ".join(f"{v:.1f}" for v in load)
    for path in (plot_ns(cells, args.out_dir, title), plot_memory(cells, args.out_dir, title)):
        print(f"wrote {path}", file=sys.stderr)
    if args.tables:
        print_tables(cells)


if __name__ == "__main__":
    main()
