"""``rnnpanel bench scale``: a whole corpus through extraction and projection, stage by stage.

Also ``python benchmarks/scale.py``. See :mod:`rnnpanel.bench.scale` for what is run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def add_scale_parser(sub: Any) -> argparse.ArgumentParser:
    q = sub.add_parser(
        "scale",
        help="time and measure the memory of every stage on a whole corpus, at growing sizes",
        description="For each size (states of the corpus's train and test texts together; 'all' = every "
        "text), in one process and on each --cluster: extraction (read and tokenise, extract, write) and "
        "the t-SNE map (fit a sample, place the rest), each in its own process with its peak RSS; then "
        "openTSNE's defaults fitting --peer states of the largest entry, and sample-and-place against a "
        "full fit of those states. Writes JSON records, a Markdown table and a log-log figure.",
    )
    q.add_argument("--sizes", nargs="+", default=["100000", "300000", "1000000", "all"],
                   help="numbers of states, or 'all' (default: 100000 300000 1000000 all)")
    q.add_argument("--clusters", nargs="+", default=["none", "local:2"],
                   help="'none' (one process) and/or --cluster specs (default: none local:2)")
    q.add_argument("--dataset", default="newsgroups20", help="a registered corpus (default: newsgroups20)")
    q.add_argument(
        "--model", default=None, help="model folder (default: the demo model of --dataset, trained if missing)"
    )
    q.add_argument("--peer", type=int, default=200_000, help="states the openTSNE peer fits (0: skip; default 200000)")
    q.add_argument("--quality-fit", type=int, default=None,
                   help="states fitted (the rest placed) in the comparison with a full fit of the --peer states "
                        "(0: skip; default: a tenth of --peer, about the share a whole-corpus map fits)")
    q.add_argument("--work", default=None, help="folder for the stores (default: a temporary folder)")
    q.add_argument("--json", default=None, help="write the records to this JSON file")
    q.add_argument("--plot", default=None, metavar="STEM", help="write STEM.html and STEM.png (seconds against states)")
    return q


def run_scale(args: argparse.Namespace) -> int:
    from rnnpanel.bench.scale import benchmark_scale, plot, summary_rows
    from rnnpanel.cli.records import write_json
    from rnnpanel.errors import DataError

    for size in args.sizes:
        if size != "all" and (not size.isdigit() or int(size) < 1):
            raise DataError(f"--sizes takes positive numbers of states or 'all', got {size!r}")
    clusters = [None if c == "none" else c for c in args.clusters]
    from rnnpanel.pipeline.cluster import check_cluster

    for cluster in clusters:
        check_cluster(cluster)
    quality_fit = _quality_fit(args)
    model_dir = Path(args.model) if args.model else _demo_model(args.dataset)
    with tempfile.TemporaryDirectory(prefix="rnnpanel-scale-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        records = benchmark_scale(model_dir=model_dir, dataset=args.dataset, sizes=args.sizes, clusters=clusters,
                                  work=work, peer=args.peer or None, quality_fit=quality_fit,
                                  on_record=lambda r: print(json.dumps(r, default=float), flush=True))
    print("\n".join(summary_rows(records)))
    if args.json:
        write_json(records, Path(args.json))
    if args.plot:
        for path in plot(records, Path(args.plot)):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _quality_fit(args: argparse.Namespace) -> int | None:
    from rnnpanel.errors import DataError

    if args.quality_fit == 0 or not args.peer:
        return None
    n_fit = args.peer // 10 if args.quality_fit is None else args.quality_fit
    if not 2 <= n_fit < args.peer:
        raise DataError(f"--quality-fit must lie between 2 and --peer ({args.peer}) states, got {n_fit}")
    return n_fit


def _demo_model(dataset: str) -> Path:
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo_model

    return ensure_demo_model(DemoSpec(dataset, n=0), progress=True)
