"""Scale strategy: fit a stratified sample, place the rest.

Above a backend's ``max_fit_size`` (each backend documents its number and the reason — time
on a laptop's CPU, memory on a GPU) a projection is fitted on a stratified random sample of
that size, and the remaining points are placed into the fitted map: with the backend's own
``transform`` where it has one (openTSNE, UMAP, PCA), else by k-nearest-neighbour
interpolation in the original space (each point goes to the coordinate-wise median of the map
positions of its ``k`` nearest fitted points — openTSNE's own starting rule for new points,
robust when the neighbours straddle two clusters). ``fitted_`` says which points were fitted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection.base import ProjectionBackend
from rnnpanel.compute.xp import array_namespace, asarray, to_numpy

log = logging.getLogger(__name__)

FIT_SHARE = 0.85  # share of the progress bar for the fit when points are placed afterwards
PLACE_CHUNK = 50_000


def stratified_sample(labels: Any, size: int, random_state: Any = None) -> np.ndarray:
    """Sorted indices of ``size`` points drawn at random within each class, in proportion to class sizes.

    Quotas are rounded by largest remainder and every class gets at least one point when
    ``size`` allows; constant labels give a plain random sample.
    """
    rng = np.random.default_rng(random_state)
    lab = np.asarray(to_numpy(labels))
    n = lab.shape[0]
    if not 0 < size <= n:
        raise ValueError(f"size must be between 1 and the number of points ({n}), got {size}")
    classes, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
    exact = counts * (size / n)
    quota = np.floor(exact).astype(np.int64)
    if size >= classes.size:
        quota = np.maximum(quota, 1)
    quota = np.minimum(quota, counts)
    remaining = size - int(quota.sum())
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while remaining > 0:  # hand out the rest by largest remainder, where a class has room
        for c in order:
            if remaining == 0:
                break
            if quota[c] < counts[c]:
                quota[c] += 1
                remaining -= 1
    while remaining < 0:  # the minimum of one per class overshot: take from the largest quotas
        c = int(np.argmax(quota))
        quota[c] -= 1
        remaining += 1
    chosen = [rng.choice(np.flatnonzero(inverse == c), size=int(q), replace=False) for c, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(chosen))


def place_by_neighbors(reference: Any, reference_embedding: Any, points: Any, *, k: int = 10) -> np.ndarray:
    """Map positions for ``points``: the median of the positions of their ``k`` nearest ``reference`` points.

    Neighbours are exact, in the original space, on NumPy or CuPy (``reference`` decides).
    Returns float32 NumPy ``(M, n_components)``.
    """
    ref = asarray(reference)
    xp = array_namespace(ref)
    emb = asarray(reference_embedding, xp=xp)
    if emb.shape[0] != ref.shape[0]:
        raise ValueError(f"reference_embedding has {emb.shape[0]} rows for {ref.shape[0]} reference points")
    pts = asarray(points, xp=xp, dtype=ref.dtype)
    k = min(int(k), int(ref.shape[0]))
    out = np.empty((pts.shape[0], emb.shape[1]), dtype=np.float32)
    for start in range(0, pts.shape[0], PLACE_CHUNK):
        idx, _ = kneighbors(ref, k, queries=pts[start : start + PLACE_CHUNK])
        out[start : start + PLACE_CHUNK] = to_numpy(xp.median(emb[idx], axis=1))
    return out


class ScaledProjection(BaseEstimator):
    """Wrap a backend: fit it directly up to ``max_fit`` points, else fit a stratified sample and place the rest.

    ``max_fit``: "auto" = the backend's ``max_fit_size``; None = always fit everything; an int.
    ``n_neighbors`` is the ``k`` of k-NN placement. ``fit(X, y)`` stratifies by ``y`` (the
    true class of each state) when given.

    Fitted: ``embedding_`` (N, n_components) float32, ``fitted_`` (N,) bool, ``placement_``
    ("none", "transform" or "neighbors"), ``estimator_`` (the fitted backend), ``n_fitted_``,
    ``seconds_`` (fit + placement), ``stopped_early_``.
    """

    def __init__(self, estimator: ProjectionBackend, *, max_fit: Any = "auto", n_neighbors: int = 10,
                 random_state: Any = None) -> None:
        self.estimator = estimator
        self.max_fit = max_fit
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit_limit(self) -> int | None:
        """The largest N fitted directly under the current settings (None = no limit)."""
        if self.max_fit == "auto":
            return self.estimator.max_fit_size
        if self.max_fit is None:
            return None
        if isinstance(self.max_fit, bool) or not isinstance(self.max_fit, (int, np.integer)) or self.max_fit < 2:
            raise ValueError(f"max_fit must be 'auto', None or an integer of at least 2, got {self.max_fit!r}")
        return int(self.max_fit)

    def fit(self, X: Any, y: Any = None) -> ScaledProjection:
        started = time.perf_counter()
        n = int(X.shape[0])
        limit = self.fit_limit()
        subsample = limit is not None and n > limit
        user_progress = getattr(self.estimator, "progress", None)
        share = FIT_SHARE if subsample else 1.0
        estimator = self._rebuilt(self.estimator, user_progress, share)
        if not subsample:
            estimator.fit(X)
            self.embedding_ = estimator.embedding_
            self.fitted_ = np.ones(n, dtype=bool)
            self.placement_ = "none"
            self._reference = (X, estimator.embedding_)
        else:
            labels = np.zeros(n, dtype=np.int64) if y is None else to_numpy(y)
            if labels.shape[0] != n:
                raise ValueError(f"y must have one label per point ({n}), got {labels.shape[0]}")
            idx = stratified_sample(labels, int(limit), self.random_state)
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            data = asarray(X)
            xp = array_namespace(data)
            fit_rows, rest_rows = xp.asarray(idx), xp.asarray(np.flatnonzero(~mask))
            log.info("%s: fitting a stratified sample of %d of %d points; placing the rest", estimator.name, limit, n)
            estimator.fit(data[fit_rows])
            if user_progress is not None:
                user_progress(FIT_SHARE, f"{estimator.name}: placing {n - int(limit)} more points")
            rest = data[rest_rows]
            if estimator.supports_transform:
                placed = estimator.transform(rest)
                self.placement_ = "transform"
            else:
                placed = place_by_neighbors(data[fit_rows], estimator.embedding_, rest, k=self.n_neighbors)
                self.placement_ = "neighbors"
            embedding = np.empty((n, estimator.embedding_.shape[1]), dtype=np.float32)
            embedding[mask] = estimator.embedding_
            embedding[~mask] = placed
            if not np.all(np.isfinite(embedding)):
                raise RuntimeError(f"placing points into the {estimator.name} map produced non-finite coordinates")
            self.embedding_, self.fitted_ = embedding, mask
            self._reference = (data[fit_rows], estimator.embedding_)
            if user_progress is not None:
                user_progress(1.0, f"{estimator.name}: all {n} points placed")
        self.estimator_ = estimator
        self.n_fitted_ = int(self.fitted_.sum())
        self.stopped_early_ = bool(getattr(estimator, "stopped_early_", False))
        self.seconds_ = time.perf_counter() - started
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).embedding_

    def transform(self, X: Any) -> np.ndarray:
        """Place new points: the backend's ``transform`` where it has one, else k-NN interpolation."""
        est = self.estimator_
        if est.supports_transform:
            return est.transform(X)
        reference, ref_embedding = self._reference
        return place_by_neighbors(reference, ref_embedding, X, k=self.n_neighbors)

    @staticmethod
    def _rebuilt(estimator: ProjectionBackend, progress: Any, share: float) -> ProjectionBackend:
        """A fresh copy of ``estimator`` (same parameters) whose progress is scaled to ``share`` of the bar."""
        params = estimator.get_params(deep=False)
        if progress is not None and "progress" in params:
            params["progress"] = (lambda f, msg: progress(f * share, msg)) if share < 1.0 else progress
        return type(estimator)(**params)
