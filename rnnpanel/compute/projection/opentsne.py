"""openTSNE, two ways: our tuned use (``opentsne``) and the library's own defaults (``opentsne-default``).

Both keep the fitted :class:`openTSNE.TSNEEmbedding` in ``tsne_embedding_`` so that
``transform(new_states)`` places new points into the existing map (openTSNE optimises only the
new points against the fixed reference, starting from the median of their neighbours) — what
the live-input feature needs. The map is centred after fitting (the centring openTSNE's
``transform`` would otherwise apply in place), so ``embedding_`` and later placements share one
frame.

What the tuned backend changes, and why (measured on real hidden states, benchmarks/RESULTS.md):

* **threads** — ``n_jobs="auto"``: one gradient-descent thread per *idle* core. On a busy
  machine, threads that compete for cores wait for each other at every iteration: on our shared
  2-core machine two threads made a 20,000-state run 2× *slower* than one. The neighbour search
  stays single-threaded because Annoy's parallel build gives different trees for different
  thread counts, and a map should not depend on how busy the machine was; the optimisation
  itself gives identical results for any thread count.
* **input reduced by PCA** to ``pca_components`` (50) dimensions when that keeps at least
  ``pca_min_variance`` (90 %) of the variance — LSTM states of 100 units keep ~95 % in 50 —:
  neighbour search and affinities cost ~linear in the dimension, and the measured
  trustworthiness and k-NN preservation (in the *original* space) did not drop;
* **neighbour search** — Annoy with 10 trees instead of openTSNE's 50; the perplexity-weighted
  affinities are insensitive to the rare missed far neighbour;
* **FFT gradients from 5,000 points** (openTSNE's default switches only at 10,000) on a grid
  half as fine (``ints_in_interval=2``): the FFT's cost is the grid, and the coarser one kept
  the metrics unchanged while taking a third less time;
* **a shorter schedule** — 125 early-exaggeration + 250 normal iterations instead of 250 + 500:
  with openTSNE's "auto" learning rate (N / exaggeration) the map has converged by then; the
  metrics matched the full schedule's.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from rnnpanel.compute.projection.base import (
    ParameterError,
    ProjectionBackend,
    check_choice,
    check_init,
    check_learning_rate,
    check_pca_init,
    check_positive_int,
    effective_perplexity,
    resolve_n_jobs,
    resolve_threads,
    seed_from,
)
from rnnpanel.compute.projection.pca import PCAProjection

log = logging.getLogger(__name__)

OPENTSNE_EE_ITER = 250
OPENTSNE_N_ITER = 500
TRANSFORM_CHUNK = 20_000
_AFFINITY_SHARE = 0.3  # share of the progress bar given to neighbours + affinities


class _OpenTSNEBase(ProjectionBackend):
    """Shared fitting code; subclasses choose the knobs through :meth:`_schedule` and :meth:`_tsne_options`."""

    method: ClassVar[str] = "tsne"
    hardware: ClassVar[str] = "cpu"
    supports_transform: ClassVar[bool] = True

    # -- knobs -----------------------------------------------------------------------------------
    def _schedule(self) -> tuple[int, int]:
        """(early-exaggeration iterations, normal iterations)."""
        raise NotImplementedError

    def _tsne_options(self, n_samples: int) -> dict[str, Any]:
        raise NotImplementedError

    def _optimisation_threads(self, options: dict[str, Any]) -> int:
        """Threads of the gradient descent (the same as openTSNE's ``n_jobs`` unless a subclass says otherwise)."""
        return int(options.get("n_jobs", 1))

    def _reduce_fit(self, X: np.ndarray) -> np.ndarray:
        """Input the affinities are computed on (the tuned backend may reduce it by PCA)."""
        self.reducer_ = None
        self.input_dims_ = int(X.shape[1])
        return X

    # -- fit ---------------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray) -> np.ndarray:
        import openTSNE
        from openTSNE.tsne import OptimizationInterrupt

        check_positive_int("n_components", self.n_components)
        start = check_init(self.init, ("pca", "random", "spectral"), n_samples=X.shape[0],
                           n_components=self.n_components)
        check_pca_init(self.init, self.n_components, X.shape[1])
        check_learning_rate(self.learning_rate)
        ee_iter, n_iter = self._schedule()
        self.perplexity_ = effective_perplexity(self.perplexity, X.shape[0])
        data = self._reduce_fit(X)
        options = self._tsne_options(data.shape[0])
        self.n_jobs_ = self._optimisation_threads(options)
        tsne = openTSNE.TSNE(
            n_components=self.n_components,
            perplexity=self.perplexity_,
            learning_rate=self.learning_rate,
            early_exaggeration=self.early_exaggeration,
            early_exaggeration_iter=ee_iter,
            n_iter=n_iter,
            initialization=self.init if start is None else openTSNE.initialization.rescale(start),
            metric=self.metric,
            random_state=seed_from(self.random_state),
            verbose=bool(self.verbose),
            **options,
        )
        self._report(0.02, f"{self.name}: nearest neighbours and affinities")
        embedding = tsne.prepare_initial(data)
        total = max(ee_iter + n_iter, 1)
        relay = _ProgressRelay(self, total)
        every = max(1, min(25, total // 20 or 1))
        phases = [
            (ee_iter, self.early_exaggeration, tsne.initial_momentum, "early exaggeration"),
            (n_iter, None, tsne.final_momentum, "optimisation"),
        ]
        try:
            for iters, exaggeration, momentum, label in phases:
                if iters <= 0:
                    continue
                relay.start_phase(label)
                callbacks = [relay] if self.progress is not None else None
                embedding = embedding.optimize(
                    n_iter=iters, exaggeration=exaggeration, momentum=momentum, inplace=True,
                    propagate_exception=True, callbacks=callbacks, callbacks_every_iters=every, n_jobs=self.n_jobs_,
                )
                relay.end_phase(iters)
        except OptimizationInterrupt as stop:
            relay.end_phase(relay.current)
            log.info("%s stopped by the progress callback after %d iterations", self.name, relay.done)
            embedding = stop.final_embedding
            self.stopped_early_ = True
        embedding -= (np.max(embedding, axis=0) + np.min(embedding, axis=0)) / 2
        self.tsne_embedding_ = embedding
        self.n_iter_ = relay.done
        if self.learning_rate == "auto":  # openTSNE's rule: N / the phase's exaggeration
            self.learning_rate_, self.post_learning_rate_ = (
                data.shape[0] / float(self.early_exaggeration),
                float(data.shape[0]),
            )
        else:
            self.learning_rate_ = self.post_learning_rate_ = float(self.learning_rate)
        self.kl_divergence_ = float(getattr(embedding, "kl_divergence", np.nan) or np.nan)
        return np.asarray(embedding)

    def transform(self, X: Any) -> np.ndarray:
        """Place new states into the fitted map with openTSNE's ``transform``.

        Each new state is optimised against the fixed map, starting from the median of its
        neighbours; the fitted states themselves are placed anew, so ``transform(X)`` of the
        fitted ``X`` is close to, not equal to, ``embedding_``.

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
        if self.reducer_ is not None:
            data = self.reducer_.transform(data)
        out = np.empty((data.shape[0], self.n_components), dtype=np.float32)
        for start in range(0, data.shape[0], TRANSFORM_CHUNK):
            part = self.tsne_embedding_.transform(data[start : start + TRANSFORM_CHUNK])
            out[start : start + TRANSFORM_CHUNK] = np.asarray(part)
            self._report(
                min(1.0, (start + TRANSFORM_CHUNK) / max(1, data.shape[0])), f"{self.name}: placing new points"
            )
        return out


class OpenTSNEProjection(_OpenTSNEBase):
    """openTSNE tuned for hidden states: idle cores, PCA-reduced input, lighter neighbours and grid, shorter schedule.

    Why each default differs from openTSNE's is in the module docstring. ``max_fit_size`` =
    250,000: time grows about linearly (FFT gradients, approximate neighbours) and a 2-core
    laptop needs several minutes beyond that; the rest of a larger sample is placed with
    :meth:`transform`.

    Parameters
    ----------
    n_components : int, default=2
    perplexity : float, default=30.0
        Lowered to ``(N - 1) / 3`` on small inputs (:func:`~.base.effective_perplexity`).
    learning_rate : "auto" or float, default="auto"
        openTSNE's "auto": ``N / early_exaggeration``, then ``N``.
    max_iter : int, default=None
        All iterations; None = the tuned 125 + 250.
    early_exaggeration_iter : int, default=None
        None = the tuned share (a third) of ``max_iter``.
    early_exaggeration : float, default=12.0
    init : {"pca", "random", "spectral"} or array of shape (n_samples, n_components), default="pca"
    metric : str, default="euclidean"
    pca_components : int, default=50
        Reduce the input to this many principal components first (None = never).
    pca_min_variance : float, default=0.9
        Reduce only when those components keep at least this share of the variance.
    neighbors : {"annoy", "exact", "pynndescent", "auto"}, default="annoy"
    n_trees : int, default=10
        Annoy trees.
    negative_gradient_method : {"auto", "fft", "bh"}, default="auto"
        "auto" = Barnes-Hut below ``FFT_FROM`` points, FFT from there.
    ints_in_interval : float, default=2.0
        FFT grid cell size.
    random_state : int, RandomState, Generator or None, default=None
    n_jobs : "auto", int or None, default="auto"
        Gradient-descent threads; "auto" = idle cores.
    verbose : bool, default=False
    progress : callable, default=None
        See :data:`~.base.ProgressCallback`; a truthy return stops the fit early.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
        Centred, in the frame :meth:`transform` places new states in.
    tsne_embedding_ : openTSNE.TSNEEmbedding
    reducer_ : PCAProjection or None
        The PCA the input was reduced with.
    input_dims_ : int
    pca_variance_kept_ : float
    perplexity_, learning_rate_, post_learning_rate_ : float
    n_iter_ : int
    n_jobs_ : int
    negative_gradient_method_ : str
    kl_divergence_ : float
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "opentsne"
    max_fit_size: ClassVar[int | None] = 250_000
    TUNED_EE_ITER: ClassVar[int] = 125
    TUNED_N_ITER: ClassVar[int] = 250
    FFT_FROM: ClassVar[int] = 5_000  # Barnes-Hut below: the FFT grid has a fixed cost per iteration

    def __init__(self, *, n_components: int = 2, perplexity: float = 30.0, learning_rate: Any = "auto",
                 max_iter: int | None = None, early_exaggeration_iter: int | None = None,
                 early_exaggeration: float = 12.0, init: str = "pca", metric: str = "euclidean",
                 pca_components: int | None = 50, pca_min_variance: float = 0.9, neighbors: str = "annoy",
                 n_trees: int = 10, negative_gradient_method: str = "auto", ints_in_interval: float = 2.0,
                 random_state: Any = None, n_jobs: int | str | None = "auto", verbose: bool = False,
                 progress: Any = None) -> None:
        self.n_components = n_components
        self.perplexity = perplexity
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_exaggeration_iter = early_exaggeration_iter
        self.early_exaggeration = early_exaggeration
        self.init = init
        self.metric = metric
        self.pca_components = pca_components
        self.pca_min_variance = pca_min_variance
        self.neighbors = neighbors
        self.n_trees = n_trees
        self.negative_gradient_method = negative_gradient_method
        self.ints_in_interval = ints_in_interval
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.progress = progress

    def _schedule(self) -> tuple[int, int]:
        """Tuned schedule; a ``max_iter`` alone keeps the tuned share of exaggerated iterations."""
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        check_positive_int("early_exaggeration_iter", self.early_exaggeration_iter, allow_none=True)
        tuned_total = self.TUNED_EE_ITER + self.TUNED_N_ITER
        total = tuned_total if self.max_iter is None else int(self.max_iter)
        if self.early_exaggeration_iter is None:
            ee = round(total * self.TUNED_EE_ITER / tuned_total)
        else:
            ee = int(self.early_exaggeration_iter)
        if total < ee:
            raise ParameterError(f"max_iter ({total}) must be at least early_exaggeration_iter ({ee})")
        return ee, total - ee

    def _tsne_options(self, n_samples: int) -> dict[str, Any]:
        check_choice("neighbors", self.neighbors, ("annoy", "exact", "pynndescent", "auto"))
        check_choice("negative_gradient_method", self.negative_gradient_method, ("auto", "fft", "bh"))
        check_positive_int("n_trees", self.n_trees)
        if not float(self.ints_in_interval) > 0:
            raise ParameterError(f"ints_in_interval must be positive, got {self.ints_in_interval!r}")
        method = self.negative_gradient_method
        if method == "auto":
            method = "bh" if n_samples < self.FFT_FROM else "fft"
        self.negative_gradient_method_ = method
        options: dict[str, Any] = {
            "n_jobs": 1,  # neighbours single-threaded: Annoy's parallel build changes with the thread count
            "neighbors": self.neighbors,
            "negative_gradient_method": method,
            "ints_in_interval": float(self.ints_in_interval),
        }
        if self.neighbors == "annoy":
            options["knn_kwargs"] = {"n_trees": int(self.n_trees)}
        return options

    def _optimisation_threads(self, options: dict[str, Any]) -> int:
        if self.n_jobs != "auto" and not isinstance(self.n_jobs, (int, np.integer, type(None))):
            raise ParameterError(f"n_jobs must be 'auto', None or an integer, got {self.n_jobs!r}")
        return resolve_threads(self.n_jobs)

    def _reduce_fit(self, X: np.ndarray) -> np.ndarray:
        self.reducer_ = None
        self.input_dims_ = int(X.shape[1])
        self.pca_variance_kept_ = 1.0
        target = self.pca_components
        check_positive_int("pca_components", target, allow_none=True)
        if not 0.0 < float(self.pca_min_variance) <= 1.0:
            raise ParameterError(f"pca_min_variance must be in (0, 1], got {self.pca_min_variance}")
        if target is None or X.shape[1] <= target or self.metric not in ("euclidean", "l2"):
            return X
        pca = PCAProjection(n_components=int(target), device="cpu").fit(X)
        kept = float(np.sum(pca.explained_variance_ratio_))
        if kept < self.pca_min_variance:
            log.info("%s: %d principal components keep only %.3f of the variance; using all %d dimensions",
                     self.name, target, kept, X.shape[1])
            return X
        self.reducer_ = pca
        self.input_dims_ = int(target)
        self.pca_variance_kept_ = kept
        return pca.embedding_


class OpenTSNEDefault(_OpenTSNEBase):
    """openTSNE exactly as its own defaults run it.

    One thread, 250 + 500 iterations, automatic neighbours and gradients. The peer our tuned backend must beat.

    Parameters
    ----------
    n_components, perplexity, learning_rate, early_exaggeration, init, metric, random_state, verbose, progress
        As :class:`OpenTSNEProjection`'s.
    max_iter : int, default=None
        None = openTSNE's 750; a number keeps the 250 early-exaggeration iterations (or fewer,
        when it is smaller) and shortens or extends the rest.
    n_jobs : int or None, default=1

    Attributes
    ----------
    As :class:`OpenTSNEProjection`'s (``reducer_`` always None).
    """

    name: ClassVar[str] = "opentsne-default"
    max_fit_size: ClassVar[int | None] = 250_000

    def __init__(self, *, n_components: int = 2, perplexity: float = 30.0, learning_rate: Any = "auto",
                 max_iter: int | None = None, early_exaggeration: float = 12.0, init: str = "pca",
                 metric: str = "euclidean", random_state: Any = None, n_jobs: int | None = 1,
                 verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.perplexity = perplexity
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_exaggeration = early_exaggeration
        self.init = init
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.progress = progress

    def _schedule(self) -> tuple[int, int]:
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        if self.max_iter is None:
            return OPENTSNE_EE_ITER, OPENTSNE_N_ITER
        ee = min(OPENTSNE_EE_ITER, int(self.max_iter))
        return ee, int(self.max_iter) - ee

    def _tsne_options(self, n_samples: int) -> dict[str, Any]:
        return {"n_jobs": resolve_n_jobs(self.n_jobs)}


class _ProgressRelay:
    """Turns openTSNE's per-phase iteration counts into one fraction for the backend's progress callback."""

    def __init__(self, backend: ProjectionBackend, total: int) -> None:
        self.backend, self.total, self.done, self.current, self.label = backend, total, 0, 0, ""

    def start_phase(self, label: str) -> None:
        self.label, self.current = label, 0

    def end_phase(self, iters: int) -> None:
        self.done += iters
        self.current = 0

    def __call__(self, iteration: int, error: float = float("nan"), embedding: Any = None) -> bool:
        """openTSNE's callback signature; a True return stops the optimisation."""
        self.current = iteration
        fraction = _AFFINITY_SHARE + (1 - _AFFINITY_SHARE) * (self.done + iteration) / self.total
        return self.backend._report(
            fraction, f"{self.backend.name}: {self.label}, iteration {self.done + iteration}/{self.total}"
        )
