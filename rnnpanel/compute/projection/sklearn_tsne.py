"""scikit-learn's Barnes-Hut t-SNE: always installed, the fallback of last resort and the benchmark's baseline."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from rnnpanel.compute.projection.base import (
    ParameterError,
    ProjectionBackend,
    check_choice,
    check_learning_rate,
    check_pca_init,
    check_positive_int,
    effective_perplexity,
    resolve_n_jobs,
)

SKLEARN_DEFAULT_MAX_ITER = 1000
SKLEARN_MIN_MAX_ITER = 250


class SklearnTSNE(ProjectionBackend):
    """``sklearn.manifold.TSNE(method="barnes_hut")`` with every core.

    Like scikit-learn's TSNE it has no ``transform``: larger samples are fitted on a stratified
    sample and the rest placed by k-NN (:mod:`.scale`). ``max_fit_size`` = 30,000: Barnes-Hut
    costs ``O(N log N)`` per iteration with a large constant — on our shared 2-core machine 9
    minutes at 20,000 states and 34 at 50,000 (benchmarks/RESULTS.md).

    Parameters
    ----------
    n_components : int, default=2
    perplexity : float, default=30.0
        Lowered to ``(N - 1) / 3`` on small inputs (:func:`~.base.effective_perplexity`).
    learning_rate : "auto" or float, default="auto"
        In the openTSNE / bh-tsne convention: a number is divided by 4 before it reaches
        scikit-learn, whose gradient is 4× larger; "auto" is scikit-learn's own
        ``max(N / early_exaggeration / 4, 50)``, the same rate.
    max_iter : int, default=None
        None = scikit-learn's 1,000 (including 250 of early exaggeration); at least 250.
    early_exaggeration : float, default=12.0
    init : {"pca", "random"}, default="pca"
    metric : str, default="euclidean"
    angle : float, default=0.5
        Barnes-Hut's accuracy trade-off.
    random_state : int, RandomState or None, default=None
    n_jobs : int or None, default=-1
        Threads of the neighbour search and of the Barnes-Hut gradient (scikit-learn's own
        ``n_jobs`` reaches only the former; the gradient's OpenMP threads are limited here, since
        spare threads on a busy machine only wait for each other).
    verbose : bool, default=False
    progress : callable, default=None
        See :data:`~.base.ProgressCallback` (start and end only).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
    perplexity_, learning_rate_, post_learning_rate_ : float
        The rates in the openTSNE convention (scikit-learn keeps one).
    kl_divergence_ : float
    n_iter_ : int
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "sklearn"
    method: ClassVar[str] = "tsne"
    hardware: ClassVar[str] = "cpu"
    max_fit_size: ClassVar[int | None] = 30_000

    def __init__(self, *, n_components: int = 2, perplexity: float = 30.0, learning_rate: Any = "auto",
                 max_iter: int | None = None, early_exaggeration: float = 12.0, init: str = "pca",
                 metric: str = "euclidean", angle: float = 0.5, random_state: Any = None, n_jobs: int | None = -1,
                 verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.perplexity = perplexity
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_exaggeration = early_exaggeration
        self.init = init
        self.metric = metric
        self.angle = angle
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.progress = progress

    def _fit(self, X: np.ndarray) -> np.ndarray:
        check_positive_int("n_components", self.n_components)
        check_choice("init", self.init, ("pca", "random"))
        check_pca_init(self.init, self.n_components, X.shape[1])
        check_learning_rate(self.learning_rate)
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        max_iter = SKLEARN_DEFAULT_MAX_ITER if self.max_iter is None else int(self.max_iter)
        if max_iter < SKLEARN_MIN_MAX_ITER:
            raise ParameterError(
                f"max_iter must be at least {SKLEARN_MIN_MAX_ITER} for scikit-learn's t-SNE, got {max_iter}"
            )
        self.perplexity_ = effective_perplexity(self.perplexity, X.shape[0])
        lr = "auto" if self.learning_rate == "auto" else float(self.learning_rate) / 4.0
        threads = resolve_n_jobs(self.n_jobs)
        tsne = TSNE(
            n_components=self.n_components,
            perplexity=self.perplexity_,
            early_exaggeration=self.early_exaggeration,
            learning_rate=lr,
            max_iter=max_iter,
            init=self.init,
            metric=self.metric,
            method="barnes_hut",
            angle=self.angle,
            random_state=self.random_state,
            n_jobs=threads,
            verbose=2 if self.verbose else 0,
        )
        self._report(0.05, "sklearn: neighbours, affinities and Barnes-Hut optimisation (no intermediate progress)")
        with threadpool_limits(limits=threads, user_api="openmp"):
            embedding = tsne.fit_transform(X)
        self.kl_divergence_ = float(tsne.kl_divergence_)
        self.n_iter_ = int(getattr(tsne, "n_iter_", max_iter))
        self.learning_rate_ = float(tsne.learning_rate_) * 4.0
        self.post_learning_rate_ = self.learning_rate_  # scikit-learn keeps one rate
        return embedding
