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
  run to run; cuML gets it only with ``deterministic=True`` (a seed sends cuML ≥ 26.08 to its
  deterministic t-SNE, 1.2–2.8× slower up to 200,000 points, and its UMAP to brute-force
  neighbours), so by default GPU maps are fast and unseeded (``deterministic_`` says which ran;
  the reasons are in :mod:`.cuml_backend`). ``deterministic`` is a GPU-only option
  (:data:`GPU_ONLY_PARAMS`): ``auto`` hands it to the backends that take it and leaves it out for
  the others, whose maps a seed already makes reproducible.
* ``n_iter_`` is the number of iterations actually run (cuML's own count where it reports one).

Parameter and input errors raise :class:`ParameterError` (a ``ValueError``): ``auto`` passes
those to the caller, because every backend would refuse them, and falls back on anything else.
States with NaN or infinite values (a diverged model) raise :class:`NonFiniteStates`, which the
command line and the app also show as one line.

Input is checked as scikit-learn checks it (:func:`validate_states`: ``validate_data`` sets
``n_features_in_`` in ``fit`` and compares it in ``transform``, sparse input is refused, an
unfitted ``transform`` raises ``NotFittedError``), and the tags say so (``__sklearn_tags__``), so
scikit-learn's own ``check_estimator`` suite runs on every backend (tests/compute/test_estimator_checks.py).

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
from sklearn.utils import Tags, TransformerTags
from sklearn.utils.validation import check_is_fitted, validate_data

from rnnpanel.compute.xp import all_finite, array_namespace, asarray, is_cupy_array, is_torch_tensor, to_numpy
from rnnpanel.errors import DataError

log = logging.getLogger(__name__)


class ParameterError(ValueError):
    """A parameter or input that no backend accepts; ``auto`` raises it instead of falling back."""


class NonFiniteStates(ParameterError, DataError):
    """States with NaN or infinite values, most often from a model whose training diverged.

    A :class:`ParameterError` (a ``ValueError``, as scikit-learn's contract asks, that ``auto``
    passes on instead of trying another backend) and a :class:`~rnnpanel.errors.DataError`, so
    the command line and the app show its message as one line instead of drawing a map of garbage.
    """


class TransformUnavailable(AttributeError, NotImplementedError):
    """``transform`` of a backend that cannot place new points into its map.

    An ``AttributeError``, so ``hasattr(backend, "transform")`` is False as scikit-learn's duck
    typing expects, and a ``NotImplementedError``, as callers were told before.
    """


#: Options only some (GPU) backends take; ``auto`` drops them for a backend without them instead of skipping it.
GPU_ONLY_PARAMS = ("deterministic",)

ProgressCallback = Callable[[float, str], Any]
"""``progress(fraction, message)``: ``fraction`` in [0, 1] of the fit done, ``message`` the phase.

Backends call it from the thread that runs ``fit``. A truthy return value asks the backend to
stop; backends that can (openTSNE) return the embedding reached so far and set
``stopped_early_ = True``; the others finish their current call.
"""



class ProjectionBackend(BaseEstimator):
    """Base class of the projection backends: validation, tags, timing, progress, the ``fit`` contract.

    Subclasses store their keyword-only parameters unchanged in ``__init__`` and compute the map
    in ``_fit``; the class attributes describe them to the registry (see the module docstring).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
        The map of the fitted states.
    n_features_in_ : int
        Columns of the fitted states; ``transform`` refuses any other number.
    n_samples_fit_ : int
        Rows of the fitted states.
    seconds_ : float
        Time the fit took.
    stopped_early_ : bool
        Whether the progress callback stopped the fit (see :data:`ProgressCallback`).
    """

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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # A transformer (fit_transform; transform where supports_transform) whose maps are float32
        # whatever comes in: float32 is the one dtype it preserves.
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        tags.input_tags.sparse = False  # hidden states are dense; sparse input is refused by name
        tags.input_tags.allow_nan = False
        # GPU runs sum in a varying order and tsnecuda ignores its seed: the same call may give another map
        tags.non_deterministic = self.hardware == "gpu"
        return tags

    # -- the estimator contract -------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> ProjectionBackend:
        """Compute the map of the states ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The states: NumPy-like (lists, DataFrames, memmaps), or a torch tensor or CuPy array,
            kept on its device by backends that compute there. Dense, finite, at least
            ``min_samples`` rows.
        y : ignored
            Accepted for pipeline symmetry.

        Returns
        -------
        self : ProjectionBackend
            Fitted; the map is ``embedding_``.

        Raises
        ------
        NonFiniteStates
            When ``X`` holds NaN or infinite values.
        ParameterError
            When a parameter or ``X`` (shape, size, dtype) is refused.
        TypeError
            When ``X`` is sparse.
        """
        data = self._validate_input(X)
        self.n_samples_fit_ = int(data.shape[0])
        self.stopped_early_ = False
        started = time.perf_counter()
        self._report(0.0, f"{self.name}: starting on {self.n_samples_fit_} points")
        embedding = self._fit(data)
        self.seconds_ = time.perf_counter() - started
        self.embedding_ = self._check_embedding(embedding, self.n_samples_fit_)
        self._report(1.0, f"{self.name}: done in {self.seconds_:.1f} s")
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit ``X`` and return its map, ``embedding_`` (see :meth:`fit`).

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_components), float32
        """
        return self.fit(X, y).embedding_

    def __getattr__(self, name: str) -> Any:
        # Reached only when normal lookup fails: backends that cannot place new points have no transform.
        if name == "transform":
            raise TransformUnavailable(
                f"backend {self.name!r} cannot place new points into a fitted map; "
                "use rnnpanel.compute.projection.place_by_neighbors, or a backend with transform "
                "(opentsne, umap, pca)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the progress callback (often a closure over a UI); it comes back as None."""
        state = super().__getstate__()
        return {**state, "progress": None} if state.get("progress") is not None else state

    def _fit(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------------
    def _validate_input(self, X: Any) -> Any:
        """The states to fit (see :func:`validate_states`); float32 or wider, device arrays kept for GPU backends."""
        data = validate_states(self, X, reset=True, min_samples=self.min_samples, keep_device=self.accepts_gpu_input)
        if is_torch_tensor(data):
            return data if data.is_floating_point() and data.element_size() >= 4 else data.float()
        if data.dtype.kind != "f" or data.dtype.itemsize < 4:
            data = data.astype("float32")
        return data

    def _validate_new_states(self, X: Any) -> Any:
        """New states for ``transform``: ``NotFittedError`` before ``fit``, then the fitted number of columns."""
        check_is_fitted(self)
        return validate_states(self, X, reset=False, keep_device=self.accepts_gpu_input)

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


# -- input checks -----------------------------------------------------------------------------
def validate_states(estimator: BaseEstimator, X: Any, *, reset: bool, min_samples: int = 1,
                    keep_device: bool = False) -> Any:
    """``X`` checked as scikit-learn checks estimator input, with the projections' own messages.

    NumPy-like input goes through ``validate_data``: 2-D, numeric (integers and float16 become
    float32, float64 stays), dense, at least ``min_samples`` rows, and ``n_features_in_`` set
    (``reset=True``, in ``fit``) or compared (``reset=False``, in ``transform``). A torch tensor
    or CuPy array stays on its device when ``keep_device`` (checked there, never copied to the
    host), else it is copied to NumPy first.

    Returns
    -------
    data : ndarray, torch.Tensor or cupy.ndarray
        The validated states.

    Raises
    ------
    NonFiniteStates
        NaN or infinite values, counted in the message.
    ParameterError
        Any other refusal (shape, size, dtype, number of columns), with scikit-learn's message.
    TypeError
        Sparse input: states are dense (``.toarray()`` converts a small matrix).
    """
    on_device = is_torch_tensor(X) or is_cupy_array(X)
    if on_device and not keep_device:
        X, on_device = to_numpy(X), False
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 2:
        raise ParameterError(f"X must be a 2-D array (N, D), got shape {tuple(shape)}. Reshape your data: "
                             "X.reshape(-1, 1) if it has a single feature, X.reshape(1, -1) if it is a single state")
    try:
        if on_device:
            check_input(X)  # finiteness by torch or CuPy, on the device
            validate_data(estimator, X, reset=reset, skip_check_array=True)  # n_features_in_
            data = X
        else:
            data = validate_data(estimator, X, reset=reset, accept_sparse=False, dtype=[np.float32, np.float64],
                                 ensure_all_finite=False)
    except ParameterError:
        raise
    except ValueError as exc:
        hint = "" if reset else f"; new states must be shaped like the fitted states, (M, {estimator.n_features_in_})"
        raise ParameterError(f"{exc}{hint}") from exc
    if int(data.shape[0]) < min_samples:
        raise ParameterError(f"{type(estimator).__name__} needs at least {min_samples} samples; found "
                             f"{data.shape[0]} sample(s) (shape={tuple(data.shape)})")
    check_finite(data)
    return data


def check_finite(data: Any, what: str = "the states") -> None:
    """Raise :class:`NonFiniteStates` saying how many values and rows are NaN or infinite (NumPy, CuPy or torch)."""
    if all_finite(data):
        return
    if is_torch_tensor(data):
        import torch

        nan, inf = int(torch.isnan(data).sum()), int(torch.isinf(data).sum())
        bad = ~torch.isfinite(data)
        rows = int(bad.any(dim=1).sum()) if data.ndim == 2 else int(bad.sum())
    else:
        arr = asarray(data)
        xp = array_namespace(arr)
        nan, inf = int(xp.isnan(arr).sum()), int(xp.isinf(arr).sum())
        bad = ~xp.isfinite(arr)
        rows = int(bad.any(axis=1).sum()) if arr.ndim == 2 else int(bad.sum())
    counts = " and ".join(f"{count:,} {kind} value{'s' if count != 1 else ''}"
                          for kind, count in (("NaN", nan), ("infinite", inf)) if count)
    raise NonFiniteStates(
        f"{what} contain {counts} (in {rows:,} of {int(data.shape[0]):,} rows): the model that produced them may "
        "have diverged; retrain it (a lower learning rate, gradient clipping) and extract its states again"
    )


# -- shared parameter rules -------------------------------------------------------------------
def check_input(data: Any) -> None:
    """2-D, at least one column, finite: else :class:`ParameterError` (NumPy, CuPy or torch, on any device).

    For device arrays that must not leave the GPU; :func:`validate_states` does the rest.
    """
    if data.ndim != 2:
        raise ParameterError(f"X must be a 2-D array (N, D), got shape {tuple(data.shape)}")
    if data.shape[1] < 1:
        raise ParameterError("X must have at least one column")
    check_finite(data)


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
    raise ParameterError(
        f"random_state must be None, an int, a RandomState or a Generator, got {type(random_state).__name__}"
    )


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_init(init: Any, allowed: tuple[str, ...], *, n_samples: int, n_components: int) -> np.ndarray | None:
    """``init`` as one of the named initialisations, or as starting positions ``(n_samples,
    n_components)`` (returned as float64: a neighbouring map to start from keeps two maps aligned)."""
    if isinstance(init, str):
        check_choice("init", init, allowed)
        return None
    positions = np.asarray(init, dtype=np.float64)
    if positions.shape != (int(n_samples), int(n_components)) or not np.all(np.isfinite(positions)):
        raise ParameterError(f"init must be one of {', '.join(map(repr, allowed))} or finite starting positions of "
                             f"shape ({n_samples}, {n_components}); got {positions.shape}")
    return positions


def check_pca_init(init: Any, n_components: int, n_features: int) -> None:
    """A PCA initialisation needs at least ``n_components`` columns (the libraries fail deep inside otherwise)."""
    if isinstance(init, str) and init == "pca" and int(n_features) < int(n_components):
        raise ParameterError(f"init='pca' needs at least n_components ({n_components}) columns, but the states have "
                             f"n_features = {n_features}; use init='random'")


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
