"""Sample-and-place against a full fit: how much a placed map loses, on the placed points and on all.

A map of millions of states fits a stratified sample and places the rest
(:class:`~rnnpanel.compute.projection.scale.ScaledProjection`). :func:`compare_placement` fits
the same states both ways — whole, and a sample with the rest placed — and reports
trustworthiness, k-NN preservation and neighbourhood hit (k = 10, on a seeded 5,000-point
subsample) of each map on the placed points only and on all points, the losses against the
targets (:data:`TARGETS`), and the placement's seconds per million points. ``benchmarks/placement.py``
is its command line; the scale benchmark calls it too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

TARGETS = {"knn_preservation": 0.02, "trustworthiness": 0.01, "neighborhood_hit": 0.01}
"""Largest loss against the full fit that a placed map may have, per metric (benchmarks/RESULTS.md)."""


def _quality(
    X: Any, embedding: np.ndarray, labels: np.ndarray, rows: np.ndarray | None, max_points: int
) -> dict[str, float]:
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
    return {
        "loss": loss,
        "within_target": within,
        "all_targets_met": all(v for s in within.values() for v in s.values()),
    }


def compare_placement(
    X: Any,
    labels: Any,
    *,
    n_fit: int,
    backend: str = "opentsne",
    params: dict[str, Any] | None = None,
    placements: tuple[str, ...] = ("median", "neighbors", "neighbors+refine"),
    refine_iter: int = 150,
    full_embedding: np.ndarray | None = None,
    random_state: int = 0,
    max_points: int = 5000,
    executor: Any = None,
    scaled_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``X`` whole and as a stratified sample of ``n_fit`` with the rest placed; compare the maps.

    ``placements``: "neighbors" (the default scale placement), "median" (its start alone, the weighted
    geometric median of the fitted neighbours, without the polish), "neighbors+refine" (the same map after
    ``refine_iter`` t-SNE iterations of all points, :func:`.placement.refine`), "neighbors+refined" (the same
    with the bounded-memory refinement the background job runs, :func:`.refinement.refine_streamed`) and/or
    "transform" (the backend's own, e.g. openTSNE's); all start from one fitted sample. ``full_embedding``
    reuses a full fit of the same ``X`` (its seconds are then None). ``scaled_params`` go to :class:`ScaledProjection`
    (``n_probe``, ``n_neighbors``, ``placement_components``, ``n_jobs``, ``block_size``). Returns a JSON-ready
    dict: the full fit's and each placement's quality on the placed points and on all
    (``quality.placed``/``quality.all``), the losses against the targets, and seconds.
    """
    from threadpoolctl import threadpool_limits

    from rnnpanel.compute.projection import ScaledProjection, make_backend
    from rnnpanel.compute.projection.base import resolve_threads
    from rnnpanel.compute.projection.placement import knn_graph, position_from_neighbors, reduce_rows, refine
    from rnnpanel.compute.projection.refinement import DEFAULT_REFINE_NEIGHBORS, knn_graph_int32, refine_streamed

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
        elif placement == "median" and scaled.placer_ is not None:
            started = time.perf_counter()
            embedding = scaled.embedding_.copy()
            with threadpool_limits(limits=1, user_api="blas"):
                embedding[placed_rows] = position_from_neighbors(scaled.placer_.embedding,
                                                                 *scaled.placer_.neighbors(np.asarray(X[placed_rows])))
            seconds = time.perf_counter() - started
        elif placement == "neighbors+refine" and scaled.placer_ is not None:
            started = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                graph = knn_graph(reduce_rows(scaled.placer_, X), scaled.refine_neighbors, n_probe=scaled.n_probe,
                                  random_state=random_state)
            embedding = refine(scaled.embedding_, graph, n_iter=refine_iter, n_jobs=resolve_threads(scaled.n_jobs),
                               random_state=random_state)
            seconds = scaled.timings_["place"] + time.perf_counter() - started
        elif placement == "neighbors+refined" and scaled.placer_ is not None:
            started = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                graph = knn_graph_int32(reduce_rows(scaled.placer_, X), DEFAULT_REFINE_NEIGHBORS,
                                        n_probe=scaled.n_probe, random_state=random_state)
            embedding = refine_streamed(scaled.embedding_, graph, n_iter=refine_iter,
                                        n_jobs=resolve_threads(scaled.n_jobs))
            seconds = scaled.timings_["place"] + time.perf_counter() - started
        elif placement == "transform":
            started = time.perf_counter()
            embedding = scaled.embedding_.copy()
            embedding[placed_rows] = scaled.estimator_.transform(np.asarray(X[placed_rows]))
            seconds = time.perf_counter() - started
        else:
            raise ValueError(
                f"placements must be 'neighbors', 'median', 'neighbors+refine', 'neighbors+refined' or 'transform', "
                f"got {placement!r}"
            )
        quality = {"placed": _quality(X, embedding, labels, placed_rows, max_points),
                   "all": _quality(X, embedding, labels, None, max_points)}
        result["placements"][placement] = {
            "seconds": round(seconds, 2),
            "seconds_per_million": round(seconds / max(1, placed_rows.size) * 1e6, 1),
            "quality": quality,
            **_losses(full_q, quality),
        }
    return result
