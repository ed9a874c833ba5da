"""``rnnpanel bench projection``: time and score projection backends on identical hidden states.

Prints a table as rows complete and writes a JSON list: a machine record, an input record,
then one record per (size, backend). Run it on a laptop and on a GPU workstation and compare
the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rnnpanel.cli.bench_scale import add_scale_parser, run_scale
from rnnpanel.cli.records import write_json
from rnnpanel.compute.projection.names import METHODS

DEMO_DATASET = "rotten_tomatoes"
SOURCES = ("demo", "synthetic")

DEFAULT_SIZES = [5000, 20000]
DEFAULT_BACKENDS = ["auto", "opentsne", "opentsne-default", "sklearn"]
COLUMNS = (("backend", 17), ("used", 17), ("n", 7), ("dims", 5), ("seconds", 9), ("speed-up", 9),
           ("trust", 7), ("kNN-pres", 8), ("nbhd-hit", 8))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmarks (projection backends)",
                              description="Benchmarks that time and score rnnpanel's compute on this machine.")
    sub = p.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    q = sub.add_parser(
        "projection",
        help="time t-SNE/UMAP/PCA backends on identical hidden states and score their maps",
        description="Run every backend on the identical input (the demo model's real hidden states by "
        "default) at each size; print backend, n, dims, seconds, speed-up over scikit-learn, "
        "trustworthiness, k-NN preservation and neighbourhood hit; write all records as JSON.",
    )
    q.add_argument("--n", type=int, nargs="+", default=DEFAULT_SIZES, help="numbers of states (default: 5000 20000)")
    q.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS,
                   help="backend names, 'auto' included (default: auto opentsne opentsne-default sklearn)")
    q.add_argument("--method", choices=METHODS, default="tsne")
    q.add_argument("--source", choices=SOURCES, default="demo",
                   help="demo: the demo model's hidden states (default); synthetic: a random RNN's states")
    q.add_argument("--dataset", default=DEMO_DATASET, help=f"demo model's dataset (default: {DEMO_DATASET})")
    q.add_argument("--model", default=None,
                   help="model folder to take states from (default: the demo model, trained first if missing)")
    q.add_argument("--perplexity", type=float, default=None, help="t-SNE perplexity for every backend (default: 30)")
    q.add_argument("--k", type=int, default=10, help="neighbourhood size of the quality metrics (default: 10)")
    q.add_argument("--metric-points", type=int, default=5000,
                   help="states the metrics are evaluated on, a fixed random subsample (default: 5000)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--repeats", type=int, default=1,
                   help="runs per backend and size; seconds is their median (default: 1)")
    q.add_argument("--json", default=None, help="write the records to this JSON file")
    q.add_argument("--plot", default=None, metavar="OUT",
                   help="draw seconds against states (log-log, per backend) beside the quality metrics: "
                        "OUT.html, or OUT.png / OUT.svg (drawn by matplotlib, with the HTML beside it)")
    q.add_argument("--no-progress", action="store_true")
    add_scale_parser(sub)
    return p


def run(args: argparse.Namespace) -> int:
    if args.bench == "scale":
        return run_scale(args)
    if args.bench != "projection":  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown benchmark {args.bench!r}")
    if any(n < 1 for n in args.n) or args.repeats < 1:
        print("rnnpanel bench: error: --n sizes and --repeats must be positive", file=sys.stderr)
        return 2
    if args.plot and Path(args.plot).suffix.lower() not in (".html", ".png", ".svg"):
        print(f"rnnpanel bench: error: --plot writes .html, .png or .svg, not {args.plot!r}", file=sys.stderr)
        return 2
    # the heavy imports (torch, scikit-learn, openTSNE) only when the benchmark runs
    from rnnpanel.bench.projection import benchmark_projection

    params = {} if args.perplexity is None else {"perplexity": args.perplexity}
    print(header_line())
    records = benchmark_projection(
        sizes=sorted(args.n), backends=args.backends, method=args.method, source=args.source, dataset=args.dataset,
        model_dir=args.model, params=params, k=args.k, metric_points=args.metric_points, seed=args.seed,
        repeats=args.repeats,
        progress=not args.no_progress, on_record=print_record,
    )
    print()
    print(header_line())
    for record in records:
        if record.get("record") == "run":
            print(row(record))
    if args.json:
        write_json(records, Path(args.json))
    if args.plot:
        from rnnpanel.bench.projection import plot_projection

        for path in plot_projection(records, Path(args.plot)):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def header_line() -> str:
    return " ".join(name.rjust(width) if i > 1 else name.ljust(width) for i, (name, width) in enumerate(COLUMNS))


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def row(r: dict[str, Any]) -> str:
    if not r["available"]:
        return f"{r['backend']:<17} {'unavailable':<17} {r['n']:>7} {r['dims']:>5}  {r['reason']}"
    cells = [
        f"{r['backend']:<17}",
        f"{r['backend_used'] or '-':<17}",
        f"{r['n']:>7}",
        f"{r['dims']:>5}",
        f"{_fmt(r['seconds'], 1):>9}",
        f"{_fmt(r['speedup_vs_sklearn'], 2):>9}",
        f"{_fmt(r['trustworthiness'], 4):>7}",
        f"{_fmt(r['knn_preservation'], 4):>8}",
        f"{_fmt(r['neighborhood_hit'], 4):>8}",
    ]
    return " ".join(cells)


def print_record(record: dict[str, Any]) -> None:
    """Live output: the machine and input as one line each, then every run as it finishes."""
    kind = record.get("record")
    if kind == "machine":
        gpu = record["gpu"] or "no GPU"
        print(f"# {record['cpu']}, {record['cores']} cores, {gpu}, load {record['load_average']}", flush=True)
    elif kind == "input":
        print(f"# input: {json.dumps({k: v for k, v in record.items() if k != 'record'})}", flush=True)
    else:
        print(row(record), flush=True)
