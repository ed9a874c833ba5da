"""Sample-and-place against a full fit: map quality on the placed points and on all, and placement speed.

A map of millions of states fits a stratified sample and places the rest
(:class:`rnnpanel.compute.projection.ScaledProjection`). This benchmark fits the same states
both ways — the whole set, and ``--n-fit`` of them with the rest placed — and reports
trustworthiness, k-NN preservation and neighbourhood hit (k = 10, on a 5,000-point seeded
subsample) on the placed points only and on all points, with the differences against the
targets of issue 8 (k-NN preservation within 0.02, trustworthiness and neighbourhood hit within
0.01 of the full fit), and the placement's seconds per million points. Every placement in
``--placements`` places into the *same* fitted sample map, so they differ only in placement.

    python benchmarks/placement.py --store STORE --entry KEY --n-fit 20000 --json placement.json
    python benchmarks/placement.py --source synthetic --n 20000 --n-fit 5000

``benchmarks/scale.py`` imports :func:`compare_placement`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import numpy as np

TARGETS = {"knn_preservation": 0.02, "trustworthiness": 0.01, "neighborhood_hit": 0.01}
"""Largest loss against the full fit that issue 8 accepts, per metric."""

log = logging.getLogger("benchmarks.placement")


def _quality(X: Any, embedding: np.ndarray, labels: np.ndarray, rows: np.ndarray | None, max_points: int) -> dict[str, float]:
    from rnnpanel.compute.metrics import projection_quality

    if rows is None:
        q = projection_quality(X, embedding, labels, max_points=max_points)
    else:
        q = projection_quality(X[rows], embedding[rows], labels[rows], max_points=max_points)
    return {m: round(float(q[m]), 4) for m in TARGETS}


def _losses(full: dict[str, dict[str, float]], placed: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Loss (full − placed) per subset and metric, and whether each is within its target."""
    loss = {s: {m: round(full[s][m] - placed[s][m], 4) for m in TARGETS} for s in full}
    within = {s: {m: loss[s][m] <= TARGETS[m] for m in TARGETS} for s in full}
    return {"loss": loss, "within_target": within, "all_targets_met": all(v for s in within.values() for v in s.values())}


def compare_placement(
    X: Any,
    labels: Any,
    *,
    n_fit: int,
    backend: str = "opentsne",
    params: dict[str, Any] | None = None,
    placements: tuple[str, ...] = ("neighbors", "neighbors+refine"),
    refine_iter: int = 150,
    full_embedding: np.ndarray | None = None,
    random_state: int = 0,
    max_points: int = 5000,
    executor: Any = None,
    scaled_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``X`` whole and as a stratified sample of ``n_fit`` with the rest placed; compare the maps.

    ``placements``: "neighbors" (the default scale placement), "neighbors+refine" (the same map
    after ``refine_iter`` t-SNE iterations of all points, :func:`~rnnpanel.compute.projection.placement.refine`)
    and/or "transform" (the backend's own, e.g. openTSNE's); all start from one fitted sample. ``full_embedding`` reuses a full fit of the same ``X`` (its seconds
    are then None). ``scaled_params`` go to :class:`ScaledProjection` (``n_probe``,
    ``n_neighbors``, ``placement_components``, ``n_jobs``, ``block_size``). Returns a JSON-ready
    dict: the full fit's and each placement's quality on the placed points and on all
    (``quality.placed``/``quality.all``), the losses against the targets, and seconds.
    """
    from threadpoolctl import threadpool_limits

    from rnnpanel.compute.projection import ScaledProjection, make_backend
    from rnnpanel.compute.projection.base import resolve_threads
    from rnnpanel.compute.projection.placement import knn_graph, reduce_rows, refine

    labels = np.asarray(labels)
    n = int(X.shape[0])
    params = {"random_state": random_state, **(params or {})}
    full_seconds = None
    if full_embedding is None:
        started = time.perf_counter()
        full_embedding = make_backend(backend, **params).fit(np.asarray(X)).embedding_
        full_seconds = round(time.perf_counter() - started, 2)
    scaled = ScaledProjection(make_backend(backend, **params), max_fit=int(n_fit), random_state=random_state,
                              **(scaled_params or {}))
    scaled.fit(X, labels, executor=executor)
    placed_rows = np.flatnonzero(~scaled.fitted_)
    full_q = {"placed": _quality(X, full_embedding, labels, placed_rows, max_points),
              "all": _quality(X, full_embedding, labels, None, max_points)}
    result: dict[str, Any] = {
        "n_states": n, "n_fit": int(scaled.n_fitted_), "n_placed": int(placed_rows.size), "backend": backend,
        "params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, type(None)))},
        "scaled_params": scaled.get_params(deep=False) | {"estimator": backend},
        "full": {"seconds": full_seconds, "quality": full_q},
        "sample_fit_seconds": round(scaled.timings_["fit"], 2),
        "placements": {},
    }
    for placement in placements:
        if placement == scaled.placement_:
            embedding, seconds = scaled.embedding_, scaled.timings_["place"]
        elif placement == "neighbors+refine" and scaled.placer_ is not None:
            started = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                graph = knn_graph(reduce_rows(scaled.placer_, X), scaled.refine_neighbors, n_probe=scaled.n_probe,
                                  random_state=random_state)
            embedding = refine(scaled.embedding_, graph, n_iter=refine_iter, n_jobs=resolve_threads(scaled.n_jobs),
                               random_state=random_state)
            seconds = scaled.timings_["place"] + time.perf_counter() - started
        elif placement == "transform":
            started = time.perf_counter()
            embedding = scaled.embedding_.copy()
            embedding[placed_rows] = scaled.estimator_.transform(np.asarray(X[placed_rows]))
            seconds = time.perf_counter() - started
        else:
            raise ValueError(f"placements must be 'neighbors', 'neighbors+refine' or 'transform', got {placement!r}")
        quality = {"placed": _quality(X, embedding, labels, placed_rows, max_points),
                   "all": _quality(X, embedding, labels, None, max_points)}
        result["placements"][placement] = {
            "seconds": round(seconds, 2),
            "seconds_per_million": round(seconds / max(1, placed_rows.size) * 1e6, 1),
            "quality": quality,
            **_losses(full_q, quality),
        }
    return result


def _load(args: argparse.Namespace) -> tuple[Any, np.ndarray]:
    if args.source == "synthetic":
        rng = np.random.default_rng(0)
        centers = rng.normal(scale=4, size=(20, 100))
        labels = rng.integers(0, 20, size=args.n)
        return (centers[labels] + rng.normal(size=(args.n, 100))).astype(np.float32), labels
    from rnnpanel.pipeline.project import state_labels
    from rnnpanel.store import StateStore

    entry = StateStore(args.store).open_entry(args.entry)
    states, labels = entry.states(args.layer, args.state), state_labels(entry)
    if args.n is not None and args.n < states.shape[0]:
        states, labels = states[: args.n], labels[: args.n]
    return np.asarray(states, dtype=np.float32), labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=("store", "synthetic"), default="store")
    parser.add_argument("--store", help="state store root (with --source store)")
    parser.add_argument("--entry", help="entry key")
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--state", default="h")
    parser.add_argument("--n", type=int, default=None, help="first N states (synthetic: how many)")
    parser.add_argument("--n-fit", type=int, nargs="+", required=True, help="sample sizes to fit")
    parser.add_argument("--placements", nargs="+", default=["neighbors", "neighbors+refine"],
                        choices=("neighbors", "neighbors+refine", "transform"))
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
                                refine_iter=args.refine_iter, full_embedding=full)
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
