"""The interface every projection backend follows, in the manner of a scikit-learn estimator.

``__init__`` takes keyword-only parameters and only stores them; ``fit(X)`` does the work and
sets attributes ending in ``_`` (``embedding_`` always, float32 ``(N, n_components)`` NumPy);
``fit_transform(X)`` returns ``embedding_``; randomness comes only from ``random_state``.
Parameters that mean the same thing carry the same name in every backend:

``n_components`` (2), ``perplexity`` (t-SNE; above ``(N − 1) / 3`` lowered to that on every
backend), ``learning_rate`` ("auto" or a number in the openTSNE / bh-tsne convention; the
scikit-learn backend converts), ``max_iter`` (total iterations including early exaggeration;
None = the backend's own schedule), ``init`` ("pca" by default), ``metric``, ``random_state``,
``n_jobs`` (-1 = every core), ``verbose`` and ``progress`` (see :data:`ProgressCallback`).

What the shared t-SNE parameters cannot make equal, and each backend records:

* ``learning_rate`` is the rate of the early-exaggeration phase ("auto" = ``max(N / 12, 200)``,
  :func:`auto_learning_rate`). After that phase openTSNE's "auto" uses ``N``, a number stays the
  same on openTSNE, scikit-learn and tsnecuda, and cuML always doubles it (its C++ code takes
  no separate rate; only its "adaptive" method avoids that, and it also rewrites perplexity,
  neighbours and exaggeration). Fitted backends record both rates in ``learning_rate_`` and
  ``post_learning_rate_``.
* ``random_state``: tsnecuda does not pass its seed on to its C code, so its maps differ from
  run to run; a seed sends cuML ≥ 26.08 to its deterministic path, 1.2–2.8× slower up to
  200,000 points (``deterministic_`` says when; the benchmark records it).
* ``n_iter_`` is the number of iterations actually run (cuML's own count where it reports one).

Parameter and input errors raise :class:`ParameterError` (a ``ValueError``): ``auto`` passes
those to the caller, because every backend would refuse them, and falls back on anything else.

Class attributes describe the backend to the registry, to ``auto`` and to the scale strategy:
``name``, ``method`` ("tsne", "umap" or "pca"), ``hardware`` ("cpu", "gpu" or "any"),
``max_fit_size`` (the largest N fitted directly, see :mod:`.scale`) and
``supports_transform`` (whether new points can be placed into a fitted map natively).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from rnnpanel.compute.xp import all_finite, asarray, is_torch_tensor, to_numpy

log = logging.getLogger(__name__)


class ParameterError(ValueError):
    """A parameter or input that no backend accepts; ``auto`` raises it instead of falling back."""

ProgressCallback = Callable[[float, str], Any]
"""``progress(fraction, message)``: ``fraction`` in [0, 1] of the fit done, ``message`` the phase.

Backends call it from the thread that runs ``fit``. A truthy return value asks the backend to
stop; backends that can (openTSNE) return the embedding reached so far and set
``stopped_early_ = True``; the others finish their current call.
"""



class ProjectionBackend(BaseEstimator):
    """Base class: validation, timing, progress and the ``fit``/``fit_transform`` contract."""

    name: ClassVar[str] = ""
    method: ClassVar[str] = ""
    hardware: ClassVar[str] = "cpu"
    max_fit_size: ClassVar[int | None] = None
    supports_transform: ClassVar[bool] = False
    accepts_gpu_input: ClassVar[bool] = False
    min_samples: ClassVar[int] = 5

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`~rnnpanel.errors.BackendUnavailable` (reason and remedy) when this backend cannot run here.

        CPU backends whose libraries are core dependencies are always available; GPU backends
        import their library and run a tiny fit, because a broken build (tsnecuda's public
        CUDA 10.2 wheel) imports fine and only fails when it is used.
        """

    # -- the estimator contract -------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> ProjectionBackend:
        """Compute the embedding of ``X`` (N, D); ``y`` is ignored (accepted for pipeline symmetry)."""
        data = self._validate_input(X)
        self.n_samples_fit_ = int(data.shape[0])
        self.n_features_in_ = int(data.shape[1])
        self.stopped_early_ = False
        started = time.perf_counter()
        self._report(0.0, f"{self.name}: starting on {self.n_samples_fit_} points")
        embedding = self._fit(data)
        self.seconds_ = time.perf_counter() - started
        self.embedding_ = self._check_embedding(embedding, self.n_samples_fit_)
        self._report(1.0, f"{self.name}: done in {self.seconds_:.1f} s")
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).embedding_

    def transform(self, X: Any) -> np.ndarray:
        """Place new points into the fitted map (only where ``supports_transform``)."""
        raise NotImplementedError(
            f"backend {self.name!r} cannot place new points into a fitted map; "
            "use rnnpanel.compute.projection.place_by_neighbors, or a backend with transform "
            "(opentsne, umap, pca)"
        )

    def _fit(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------------
    def _validate_input(self, X: Any) -> Any:
        """2-D, finite, enough rows; NumPy float32 for CPU backends, device arrays kept for GPU ones."""
        # a torch tensor stays one (a CUDA tensor needs no CuPy for torch-only backends such as PCA)
        data = X if is_torch_tensor(X) else asarray(X)
        check_input(data)
        if data.shape[0] < self.min_samples:
            raise ParameterError(f"{self.name} needs at least {self.min_samples} points, got {data.shape[0]}")
        if not self.accepts_gpu_input:
            data = to_numpy(data)
        if is_torch_tensor(data):
            return data if data.is_floating_point() and data.element_size() >= 4 else data.float()
        if data.dtype.kind != "f" or data.dtype.itemsize < 4:
            data = data.astype("float32")
        return data

    def _check_embedding(self, embedding: Any, n: int) -> np.ndarray:
        """Float32 NumPy ``(n, n_components)``; a non-finite result is an error, never a silent answer."""
        emb = np.ascontiguousarray(to_numpy(embedding), dtype=np.float32)
        n_components = int(getattr(self, "n_components", 2))
        if emb.shape != (n, n_components):
            raise RuntimeError(f"{self.name} returned an embedding of shape {emb.shape}, expected {(n, n_components)}")
        if not np.all(np.isfinite(emb)):
            raise RuntimeError(f"{self.name} returned non-finite coordinates; the run diverged")
        return emb

    def _report(self, fraction: float, message: str) -> bool:
        """Forward progress; True when the callback asked to stop."""
        if getattr(self, "verbose", False):
            log.info("%s (%.0f%%)", message, 100 * fraction)
        callback = getattr(self, "progress", None)
        if callback is None:
            return False
        return bool(callback(min(max(float(fraction), 0.0), 1.0), message))


# -- shared parameter rules -------------------------------------------------------------------
def check_input(data: Any) -> None:
    """2-D, at least one column, finite: else :class:`ParameterError` (NumPy, CuPy or torch, on any device)."""
    if data.ndim != 2:
        raise ParameterError(f"X must be a 2-D array (N, D), got shape {tuple(data.shape)}")
    if data.shape[1] < 1:
        raise ParameterError("X must have at least one column")
    if not all_finite(data):
        raise ParameterError("X contains NaN or infinite values; projections need finite states")


def effective_perplexity(perplexity: float, n_samples: int) -> float:
    """The perplexity a t-SNE backend can honour on ``n_samples`` points.

    Perplexity-based affinities look at ``3 × perplexity`` neighbours, so a perplexity above
    ``(N − 1) / 3`` is lowered to that, the same rule openTSNE applies; every backend uses it so
    they stay comparable. The change is logged and each backend records it in ``perplexity_``.
    """
    if not perplexity > 0:
        raise ParameterError(f"perplexity must be positive, got {perplexity}")
    limit = (n_samples - 1) / 3.0
    if perplexity > limit:
        log.warning("perplexity %.3g is too large for %d points; using %.3g", perplexity, n_samples, limit)
        return float(limit)
    return float(perplexity)


def auto_learning_rate(n_samples: int, early_exaggeration: float = 12.0) -> float:
    """``N / early_exaggeration``, floored at 200: Belkina et al.'s rule as FIt-SNE applies it.

    In the openTSNE / bh-tsne convention (the scikit-learn backend divides by 4, as scikit-learn
    does for its own "auto").
    """
    return max(n_samples / float(early_exaggeration), 200.0)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """scikit-learn's convention: -1 = every core, -2 = all but one, None = 1."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ParameterError("n_jobs must be a positive number of threads or negative (-1 = every core), not 0")
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs


def idle_cores() -> int:
    """Cores not already busy: all of them minus the 1-minute load average, at least one.

    On a shared machine, threads that compete for busy cores wait on each other at every
    iteration; one thread per free core is faster (measured in benchmarks/RESULTS.md).
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on every platform
        return cores
    return max(1, min(cores, round(cores - busy)))


def resolve_threads(n_jobs: int | str | None) -> int:
    """``"auto"`` = :func:`idle_cores`; otherwise scikit-learn's convention (see :func:`resolve_n_jobs`)."""
    if n_jobs == "auto":
        return idle_cores()
    return resolve_n_jobs(n_jobs)  # type: ignore[arg-type]


def seed_from(random_state: Any) -> int | None:
    """An int seed for libraries that take one (None stays None: the library's own randomness)."""
    if random_state is None:
        return None
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ParameterError(f"random_state must be None, an int, a RandomState or a Generator, got {type(random_state).__name__}")


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def check_learning_rate(value: Any) -> None:
    if value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"learning_rate must be 'auto' or a positive number, got {value!r}")
