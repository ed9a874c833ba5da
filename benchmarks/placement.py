"""Sample-and-place against a full fit: map quality on the placed points and on all, and placement speed.

A map of millions of states fits a stratified sample and places the rest
(:class:`rnnpanel.compute.projection.ScaledProjection`). This benchmark fits the same states
both ways — the whole set, and ``--n-fit`` of them with the rest placed — and reports
trustworthiness, k-NN preservation and neighbourhood hit (k = 10, on a 5,000-point seeded
subsample) on the placed points only and on all points, with the differences against the
targets (k-NN preservation within 0.02, trustworthiness and neighbourhood hit within
0.01 of the full fit), and the placement's seconds per million points. Every placement in
``--placements`` places into the *same* fitted sample map, so they differ only in placement:
"median" (the start alone), "neighbors" (the default: the median polished by ``--polish-iter``
t-SNE steps), "neighbors+refine" and "transform".

    python benchmarks/placement.py --store STORE --entry KEY --n-fit 20000 --json placement.json
    python benchmarks/placement.py --source synthetic --n 20000 --n-fit 5000

The comparison itself is :func:`rnnpanel.bench.placement_quality.compare_placement`
(the scale benchmark calls it too); this script loads the states and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import numpy as np

from rnnpanel.bench.placement_quality import TARGETS, compare_placement

__all__ = ["TARGETS", "compare_placement", "main"]

log = logging.getLogger("benchmarks.placement")


def _load(args: argparse.Namespace) -> tuple[Any, np.ndarray]:
    if args.source == "synthetic":
        rng = np.random.default_rng(0)
        centers = rng.normal(scale=4, size=(20, 100))
        labels = rng.integers(0, 20, size=args.n)
        return (centers[labels] + rng.normal(size=(args.n, 100))).astype(np.float32), labels
    from rnnpanel.pipeline.project import state_labels
    from rnnpanel.store import StateStore

    entry = StateStore(args.store).entry(args.entry)
    states, labels = entry.states(layer=args.layer, kind=args.state), state_labels(entry)
    n = len(states) if args.n is None else min(args.n, len(states))
    return states[:n], labels[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=("store", "synthetic"), default="store")
    parser.add_argument("--store", help="state store root (with --source store)")
    parser.add_argument("--entry", help="entry key")
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--state", default="h")
    parser.add_argument("--n", type=int, default=None, help="first N states (synthetic: how many)")
    parser.add_argument("--n-fit", type=int, nargs="+", required=True, help="sample sizes to fit")
    parser.add_argument("--placements", nargs="+", default=["median", "neighbors", "neighbors+refine"],
                        choices=("median", "neighbors", "neighbors+refine", "transform"))
    parser.add_argument(
        "--polish-iter", type=int, default=None, help="polish steps of the placement (default: its own)"
    )
    parser.add_argument("--refine-iter", type=int, default=150)
    parser.add_argument("--backend", default="opentsne")
    parser.add_argument("--max-iter", type=int, default=None, help="the backend's iterations (default: its own)")
    parser.add_argument("--full-cache", help=".npy file holding (or to receive) the full fit of the same states")
    parser.add_argument("--json", help="write the records here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from rnnpanel.compute.projection.machine import machine_record

    X, labels = _load(args)
    params = {"random_state": 0} if args.max_iter is None else {"random_state": 0, "max_iter": args.max_iter}
    full = None
    if args.full_cache:
        try:
            full = np.load(args.full_cache)
        except OSError:
            full = None
    records: list[dict[str, Any]] = [machine_record()]
    for n_fit in args.n_fit:
        if full is None:
            from rnnpanel.compute.projection import make_backend

            started = time.perf_counter()
            full = make_backend(args.backend, **params).fit(X).embedding_
            full_seconds = round(time.perf_counter() - started, 2)
            if args.full_cache:
                np.save(args.full_cache, full)
        else:
            full_seconds = None
        rec = compare_placement(X, labels, n_fit=n_fit, backend=args.backend, params=params,
                                placements=tuple(args.placements),
                                refine_iter=args.refine_iter, full_embedding=full,
                                scaled_params=None if args.polish_iter is None else {"polish_iter": args.polish_iter})
        rec["full"]["seconds"] = full_seconds
        rec["record"] = "placement"
        records.append(rec)
        log.info("%s", json.dumps(rec))
    text = json.dumps(records, indent=1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
