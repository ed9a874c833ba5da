"""Scale strategy: fit a stratified sample, place the rest in parallel blocks.

Above a backend's ``max_fit_size`` (each backend documents its number and the reason — time
on a laptop's CPU, memory on a GPU) a projection is fitted on a stratified random sample of
that size, and the remaining points are placed into the fitted map. The default placement
(``"neighbors"``, :mod:`.placement`) starts each point at the weighted geometric median of the
map positions of its nearest fitted points, found by an IVF index in PCA space, then polishes
it with ``polish_iter`` t-SNE steps against its fitted neighbours and the fitted map's frozen
repulsion: tens of seconds per million points on one core, where the backend's own
``transform`` (``placement="transform"``: openTSNE optimises every new point for 250
iterations) took 25 times longer for a map no better (``benchmarks/placement.py``). The median
alone lost 0.059 k-NN preservation on the placed points against a full fit; the polish (50
steps) brings that to 0.037 and keeps trustworthiness and neighbourhood hit
(benchmarks/RESULTS.md). ``refine_iter`` (150 measured enough) then optimises all points for a while over
their own k-NN graph, which met every target of the comparison, but at 9 to 24 times the
placement's time and more than twice the projection's memory (benchmarks/RESULTS.md).
``fitted_`` says which points were fitted.

The input may be an on-disk array (a ``zarr.Array`` chunked by rows): it is read block by
block — once to gather the sample, once to place the rest — and never held whole.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection.base import ProjectionBackend, check_choice, resolve_threads, seed_from
from rnnpanel.compute.projection.device_fit import device_fit_limit, free_device_memory
from rnnpanel.compute.projection.placement import (
    DEFAULT_POLISH_ITER,
    NeighborPlacer,
    knn_graph,
    place_all,
    position_from_neighbors,
    reduce_rows,
    refine,
)
from rnnpanel.compute.row_blocks import DEFAULT_BLOCK_ROWS, block_rows, gather_rows, in_memory
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
    chosen = [
        rng.choice(np.flatnonzero(inverse == c), size=int(q), replace=False) for c, q in enumerate(quota) if q > 0
    ]
    return np.sort(np.concatenate(chosen))


def place_by_neighbors(reference: Any, reference_embedding: Any, points: Any, *, k: int = 10) -> np.ndarray:
    """Map positions for ``points`` from their ``k`` exact nearest ``reference`` points (live input, small maps).

    The same robust centre as the scale placement (:func:`~.placement.position_from_neighbors`);
    neighbours are exact, in the original space, on NumPy or CuPy (``reference`` decides).
    Returns float32 NumPy ``(M, n_components)``.
    """
    ref = asarray(reference)
    xp = array_namespace(ref)
    emb = asarray(reference_embedding, xp=xp, dtype=xp.float32)
    if emb.shape[0] != ref.shape[0]:
        raise ValueError(f"reference_embedding has {emb.shape[0]} rows for {ref.shape[0]} reference points")
    pts = asarray(points, xp=xp, dtype=ref.dtype)
    k = min(int(k), int(ref.shape[0]))
    out = np.empty((pts.shape[0], emb.shape[1]), dtype=np.float32)
    for start in range(0, pts.shape[0], PLACE_CHUNK):
        idx, dist = kneighbors(ref, k, queries=pts[start : start + PLACE_CHUNK])
        out[start : start + PLACE_CHUNK] = position_from_neighbors(emb, idx, dist)
    return out


class ScaledProjection(BaseEstimator):
    """Wrap a backend: fit it directly up to ``max_fit`` points, else fit a stratified sample and place the rest.

    ``max_fit``: "auto" = the backend's ``max_fit_size`` (for a GPU t-SNE: every state when they fit in the
    device's free memory, ``device_memory`` bytes or as the device reports it, :mod:`.device_fit`); None =
    always fit everything; an int. ``placement``:
    "auto" ("transform" for PCA, whose transform is exact, else "neighbors"), "neighbors"
    (:class:`~.placement.NeighborPlacer`: ``n_neighbors`` neighbours among ``placement_components`` principal
    components, ``n_probe`` probed index cells, then ``polish_iter`` steps of :func:`~.placement.polish` for a
    2-D t-SNE map — its gradient is t-SNE's, so other methods keep the median; 0 = the median alone) or
    "transform" (the backend's own, where it has one). ``refine_iter`` > 0 follows the neighbour placement
    with that many t-SNE iterations of *all* points over a ``refine_neighbors``-NN graph
    (:func:`~.placement.refine`: the map then keeps the placed points' own neighbourhoods, at the cost of a
    neighbour graph of every point). ``n_jobs``: threads placing blocks of ``block_size`` rows when ``fit``
    gets no executor ("auto" = idle cores). ``fit(X, y, executor=...)`` stratifies by ``y`` (the true class of
    each state) and places on any :class:`concurrent.futures.Executor` (a Dask ``Client.get_executor()``).

    Fitted: ``embedding_`` (N, n_components) float32, ``fitted_`` (N,) bool, ``placement_``
    ("none", "neighbors", "neighbors+refine" or "transform"), ``estimator_`` (the fitted backend), ``placer_``
    (the :class:`~.placement.NeighborPlacer`, or None), ``n_fitted_``, ``seconds_`` (read +
    fit + placement), ``timings_`` (seconds of "read", "fit", "place" and "refine"), ``stopped_early_``.
    """

    def __init__(
        self,
        estimator: ProjectionBackend,
        *,
        max_fit: Any = "auto",
        n_neighbors: int = 10,
        placement: str = "auto",
        n_probe: int = 8,
        placement_components: int | None = 50,
        polish_iter: int = DEFAULT_POLISH_ITER,
        refine_iter: int = 0,
        refine_neighbors: int = 30,
        n_jobs: int | str | None = "auto",
        block_size: int = DEFAULT_BLOCK_ROWS,
        random_state: Any = None,
        device_memory: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.max_fit = max_fit
        self.n_neighbors = n_neighbors
        self.placement = placement
        self.n_probe = n_probe
        self.placement_components = placement_components
        self.polish_iter = polish_iter
        self.refine_iter = refine_iter
        self.refine_neighbors = refine_neighbors
        self.n_jobs = n_jobs
        self.block_size = block_size
        self.random_state = random_state
        self.device_memory = device_memory

    def fit_limit(self, n_states: int | None = None, dims: int | None = None) -> int | None:
        """The largest N fitted directly under the current settings (None = no limit).

        "auto" for a GPU t-SNE (or any t-SNE given ``device_memory``, the device's free bytes: how
        the CPU tests the rule) with ``n_states`` and ``dims`` known: every state when they fit in
        the device's memory, else the most that fit (:func:`~.device_fit.device_fit_limit`); the
        backend's ``max_fit_size`` when the device's memory cannot be read.
        """
        if self.max_fit == "auto":
            est = self.estimator
            on_device = self.device_memory is not None or getattr(est, "hardware", "cpu") == "gpu"
            if on_device and getattr(est, "method", "") == "tsne" and n_states is not None and dims is not None:
                free = self.device_memory if self.device_memory is not None else free_device_memory()
                if free is not None:
                    return device_fit_limit(n_states, dims, free, float(getattr(est, "perplexity", 30.0) or 30.0))
            return est.max_fit_size
        if self.max_fit is None:
            return None
        if isinstance(self.max_fit, bool) or not isinstance(self.max_fit, (int, np.integer)) or self.max_fit < 2:
            raise ValueError(f"max_fit must be 'auto', None or an integer of at least 2, got {self.max_fit!r}")
        return int(self.max_fit)

    def fit(self, X: Any, y: Any = None, *, executor: cf.Executor | None = None) -> ScaledProjection:
        started = time.perf_counter()
        check_choice("placement", self.placement, ("auto", "neighbors", "transform"))
        if getattr(X, "ndim", 2) != 2:
            raise ValueError(f"X must be a 2-D array (N, D), got shape {tuple(X.shape)}")
        n = int(X.shape[0])
        limit = self.fit_limit(n, int(X.shape[1]))
        subsample = limit is not None and n > limit
        user_progress = getattr(self.estimator, "progress", None)
        share = FIT_SHARE if subsample else 1.0
        estimator = self._rebuilt(self.estimator, user_progress, share)
        placement = self.placement
        if placement == "auto":  # a linear map's transform is exact and cheap; others are placed by neighbours
            placement = "transform" if estimator.method == "pca" and estimator.supports_transform else "neighbors"
        if subsample and placement == "transform" and not estimator.supports_transform:
            raise ValueError(f"placement='transform' needs a backend with transform; {estimator.name} has none")
        timings = {"read": 0.0, "fit": 0.0, "place": 0.0, "refine": 0.0}
        self.placer_ = None
        if not subsample:
            tick = time.perf_counter()
            data = X if in_memory(X) else gather_rows(X, np.arange(n), block=self._block(X))
            timings["read"] = time.perf_counter() - tick
            estimator.fit(data)
            timings["fit"] = time.perf_counter() - tick - timings["read"]
            self.embedding_ = estimator.embedding_
            self.fitted_ = np.ones(n, dtype=bool)
            self.placement_ = "none"
            self._reference = (data, estimator.embedding_)
        else:
            labels = np.zeros(n, dtype=np.int64) if y is None else to_numpy(y)
            if labels.shape[0] != n:
                raise ValueError(f"y must have one label per point ({n}), got {labels.shape[0]}")
            idx = stratified_sample(labels, int(limit), self.random_state)
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            rest = np.flatnonzero(~mask)
            tick = time.perf_counter()
            sample = gather_rows(X, idx, block=self._block(X))
            timings["read"] = time.perf_counter() - tick
            log.info("%s: fitting a stratified sample of %d of %d points; placing the rest", estimator.name, limit, n)
            start = getattr(estimator, "init", None)
            if not isinstance(start, str) and start is not None and len(start) == n:
                estimator.set_params(init=np.asarray(start)[idx])  # starting positions of the fitted sample
            estimator.fit(sample)
            timings["fit"] = time.perf_counter() - tick - timings["read"]
            tick = time.perf_counter()
            report = self._placement_progress(user_progress, estimator.name, rest.size)
            embedding = np.empty((n, estimator.embedding_.shape[1]), dtype=np.float32)
            embedding[mask] = estimator.embedding_
            if placement == "transform":
                embedding[rest] = estimator.transform(
                    X[rest] if in_memory(X) else gather_rows(X, rest, block=self._block(X))
                )
            else:
                # Many small matrix products: BLAS's own threads only contend (measured 35x slower on a busy
                # 2-core machine); the blocks run in parallel instead.
                with threadpool_limits(limits=1, user_api="blas"):
                    self.placer_ = NeighborPlacer(sample, estimator.embedding_, k=min(self.n_neighbors, int(limit)),
                                                  components=self.placement_components, n_probe=self.n_probe,
                                                  polish_iter=self.polish_iter if estimator.method == "tsne" else 0,
                                                  random_state=self.random_state)
                    with self._executor(executor, n - int(limit)) as pool:
                        embedding[rest] = place_all(self.placer_, X, rest, executor=pool, block=self._block(X),
                                                    progress=report)
                    timings["place"] = time.perf_counter() - tick
                    if self.refine_iter:
                        embedding = self._refine(X, embedding, user_progress, estimator.name)
                        placement = "neighbors+refine"
                        timings["refine"] = time.perf_counter() - tick - timings["place"]
            timings["place"] = timings["place"] or time.perf_counter() - tick
            if not np.all(np.isfinite(embedding)):
                raise RuntimeError(f"placing points into the {estimator.name} map produced non-finite coordinates")
            self.embedding_, self.fitted_, self.placement_ = embedding, mask, placement
            self._reference = (sample, estimator.embedding_)
            if user_progress is not None:
                user_progress(1.0, f"{estimator.name}: all {n} points placed")
        self.estimator_ = estimator
        self.n_fitted_ = int(self.fitted_.sum())
        self.stopped_early_ = bool(getattr(estimator, "stopped_early_", False))
        self.timings_ = timings
        self.seconds_ = time.perf_counter() - started
        return self

    def fit_transform(self, X: Any, y: Any = None, *, executor: cf.Executor | None = None) -> np.ndarray:
        return self.fit(X, y, executor=executor).embedding_

    def transform(self, X: Any) -> np.ndarray:
        """Place new points the way the map's own points were placed.

        A map built with the neighbour placement places by it; otherwise the backend's
        ``transform`` where it has one, else k-NN interpolation among the fitted points.
        """
        if self.placer_ is not None:
            return self.placer_.place(X)
        est = self.estimator_
        if est.supports_transform:
            return est.transform(X)
        reference, ref_embedding = self._reference
        return place_by_neighbors(reference, ref_embedding, X, k=self.n_neighbors)

    # -- internals ---------------------------------------------------------------------------------
    def _block(self, X: Any) -> int:
        return block_rows(X, int(self.block_size))

    @contextlib.contextmanager
    def _executor(self, given: cf.Executor | None, n_points: int) -> Iterator[cf.Executor | None]:
        """The caller's executor; else a thread pool of ``n_jobs`` threads when there is more than one block.

        None when neither applies.
        """
        threads = resolve_threads(self.n_jobs)
        if given is not None or threads < 2 or n_points <= int(self.block_size):
            yield given
            return
        with cf.ThreadPoolExecutor(max_workers=threads) as pool:
            yield pool

    def _refine(self, X: Any, embedding: np.ndarray, progress: Any, name: str) -> np.ndarray:
        """Every point's PCA coordinates, their k-NN graph, then :func:`~.placement.refine`."""
        if progress is not None:
            progress(1.0 - 0.5 * (1.0 - FIT_SHARE), f"{name}: refining all {embedding.shape[0]} points")
        reduced = reduce_rows(self.placer_, X, block=self._block(X))
        graph = knn_graph(reduced, int(self.refine_neighbors), n_probe=self.n_probe, random_state=self.random_state)
        del reduced
        return refine(embedding, graph, n_iter=int(self.refine_iter), n_jobs=resolve_threads(self.n_jobs),
                      random_state=seed_from(self.random_state))

    @staticmethod
    def _placement_progress(progress: Any, name: str, total: int) -> Any:
        if progress is None:
            return None
        progress(FIT_SHARE, f"{name}: placing {total} more points")
        return lambda done: progress(FIT_SHARE + (1.0 - FIT_SHARE) * done / max(1, total),
                                     f"{name}: placed {done} of {total} points")

    @staticmethod
    def _rebuilt(estimator: ProjectionBackend, progress: Any, share: float) -> ProjectionBackend:
        """A fresh copy of ``estimator`` (same parameters) whose progress is scaled to ``share`` of the bar."""
        params = estimator.get_params(deep=False)
        if progress is not None and "progress" in params:
            params["progress"] = (lambda f, msg: progress(f * share, msg)) if share < 1.0 else progress
        return type(estimator)(**params)
