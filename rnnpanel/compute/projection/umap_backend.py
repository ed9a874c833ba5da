"""UMAP on the CPU with umap-learn; places new points natively with ``transform``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from rnnpanel.compute.projection.base import (
    ProjectionBackend,
    check_choice,
    check_learning_rate,
    check_pca_init,
    check_positive_int,
    resolve_n_jobs,
    seed_from,
)

log = logging.getLogger(__name__)


class UMAPProjection(ProjectionBackend):
    """``umap.UMAP`` with the shared parameter names.

    umap-learn runs single-threaded when a ``random_state`` is given (its reproducibility rule).
    ``max_fit_size`` = 200,000: nearest-neighbour descent plus 200 epochs take several minutes
    on a 2-core laptop beyond that; the rest is placed with :meth:`transform`.

    Parameters
    ----------
    n_components : int, default=2
    n_neighbors : int, default=15
        UMAP's own; at most ``N - 1``.
    min_dist : float, default=0.1
        UMAP's own.
    learning_rate : "auto" or float, default="auto"
        "auto" = UMAP's 1.0.
    max_iter : int, default=None
        UMAP's ``n_epochs``; None = UMAP's choice by N (500 up to 10,000 points, else 200).
    init : {"spectral", "pca", "random"}, default="spectral"
    metric : str, default="euclidean"
    random_state : int, RandomState, Generator or None, default=None
    n_jobs : int or None, default=-1
        Threads when no ``random_state`` is given.
    verbose : bool, default=False
    progress : callable, default=None
        See :data:`~.base.ProgressCallback` (start and end only).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
    umap_ : umap.UMAP
        The fitted model, which places new states.
    n_jobs_ : int
        Threads used.
    n_iter_ : int
        Epochs run.
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
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
        check_pca_init(self.init, self.n_components, X.shape[1])
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
        embedding = self.umap_.fit_transform(X)
        # umap-learn's own choice when n_epochs is None (umap.umap_.simplicial_set_embedding)
        self.n_iter_ = int(self.max_iter) if self.max_iter is not None else (500 if X.shape[0] <= 10_000 else 200)
        return embedding

    def transform(self, X: Any) -> np.ndarray:
        """Place new states with umap-learn's ``transform`` (optimised against the fixed map).

        Parameters
        ----------
        X : array-like of shape (n_new, n_features_in_)

        Returns
        -------
        embedding : ndarray of shape (n_new, n_components), float32

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        NonFiniteStates, ParameterError
            NaN or infinite values; another number of columns than the fitted states.
        """
        data = np.asarray(self._validate_new_states(X), dtype=np.float32)
        return np.asarray(self.umap_.transform(data), dtype=np.float32)
