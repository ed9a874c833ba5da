"""UMAP on the CPU with umap-learn; places new points natively with ``transform``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from rnnpanel.compute.projection.base import (
    ProjectionBackend,
    check_choice,
    check_learning_rate,
    check_positive_int,
    resolve_n_jobs,
    seed_from,
)

log = logging.getLogger(__name__)


class UMAPProjection(ProjectionBackend):
    """``umap.UMAP`` with the shared parameter names.

    ``n_neighbors`` (15) and ``min_dist`` (0.1) are UMAP's own; ``max_iter`` maps to UMAP's
    ``n_epochs`` (None = UMAP's choice by N); ``learning_rate`` "auto" = UMAP's 1.0; ``init``
    "spectral" (UMAP's default), "pca" or "random". umap-learn runs single-threaded when a
    ``random_state`` is given (its reproducibility rule); ``n_jobs_`` records the threads used.

    ``max_fit_size`` = 200,000: nearest-neighbour descent plus 200 epochs take several minutes
    on a 2-core laptop beyond that; the rest is placed with :meth:`transform`.
    """

    name: ClassVar[str] = "umap"
    method: ClassVar[str] = "umap"
    hardware: ClassVar[str] = "cpu"
    max_fit_size: ClassVar[int | None] = 200_000
    supports_transform: ClassVar[bool] = True

    def __init__(self, *, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 learning_rate: Any = "auto", max_iter: int | None = None, init: str = "spectral",
                 metric: str = "euclidean", random_state: Any = None, n_jobs: int | None = -1,
                 verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.init = init
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.progress = progress

    def _fit(self, X: np.ndarray) -> np.ndarray:
        import umap

        check_positive_int("n_components", self.n_components)
        check_positive_int("n_neighbors", self.n_neighbors)
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        check_learning_rate(self.learning_rate)
        check_choice("init", self.init, ("spectral", "pca", "random"))
        seed = seed_from(self.random_state)
        self.n_jobs_ = 1 if seed is not None else resolve_n_jobs(self.n_jobs)
        self.umap_ = umap.UMAP(
            n_components=int(self.n_components),
            n_neighbors=min(int(self.n_neighbors), X.shape[0] - 1),
            min_dist=float(self.min_dist),
            learning_rate=1.0 if self.learning_rate == "auto" else float(self.learning_rate),
            n_epochs=None if self.max_iter is None else int(self.max_iter),
            init=self.init,
            metric=self.metric,
            random_state=seed,
            n_jobs=self.n_jobs_,
            verbose=bool(self.verbose),
        )
        self._report(0.05, "umap: neighbour graph and layout (no intermediate progress)")
        return self.umap_.fit_transform(X)

    def transform(self, X: Any) -> np.ndarray:
        """Place new points with umap-learn's ``transform``."""
        if not hasattr(self, "umap_"):
            raise RuntimeError("umap is not fitted yet; call fit first")
        return np.asarray(self.umap_.transform(np.asarray(X, dtype=np.float32)), dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("progress", None)
        return state
