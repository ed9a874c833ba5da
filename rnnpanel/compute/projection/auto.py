"""``auto``: the best backend that is installed *and works* here, with the reason every other one was skipped.

For t-SNE the order is cuML → tsnecuda → openTSNE (tuned) → scikit-learn; for UMAP cuML →
umap-learn; PCA has one backend. Each candidate is checked for real (GPU backends run a tiny
probe fit, see :mod:`.gpu`), constructed, and fitted through the scale strategy. A candidate
that is missing, broken, refuses the parameters, or fails while fitting — whatever it raises,
a ``ValueError`` from inside cuML included (a GPU out of memory, a diverged run, a library
that rejects its input) — is skipped with its reason logged and recorded in ``skipped_``; the
run never crashes while a later candidate can still answer, and never returns a non-finite map.
Only a :class:`~.base.ParameterError` (our own check of the parameters or the input, which
every backend would refuse) reaches the caller at once.

A GPU backend skipped for any reason but its library being absent is logged as a **warning**:
on a machine with a GPU stack installed, a map computed on the CPU instead is something to
notice, not an INFO line (a CPU machine without cuML or tsnecuda is not warned about). The map's
stored attributes record ``backend_used`` and ``skipped`` either way.

Naming one backend instead of "auto" runs only that one: if it cannot run, the
:class:`~rnnpanel.errors.BackendUnavailable` (with its reason and remedy) reaches the caller.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Tags, TransformerTags
from sklearn.utils.validation import check_is_fitted, validate_data

from rnnpanel.compute.projection.base import GPU_ONLY_PARAMS, ParameterError, ProjectionBackend, validate_states
from rnnpanel.compute.projection.gpu import LibraryAbsent
from rnnpanel.compute.projection.placement import DEFAULT_POLISH_ITER
from rnnpanel.compute.projection.registry import (
    AUTO_ORDER,
    backend_class,
    check_method,
    make_backend,
    resolve_backend_name,
)
from rnnpanel.compute.projection.scale import ScaledProjection
from rnnpanel.compute.row_blocks import in_memory
from rnnpanel.compute.xp import asarray  # noqa: F401 - a test patches it to prove torch input never goes through it
from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)


class AutoProjection(BaseEstimator):
    """Run ``method`` with ``backend`` ("auto" or a name), falling back along the candidates when "auto".

    Parameters
    ----------
    method : {"tsne", "umap", "pca"}, default="tsne"
    backend : str, default="auto"
        "auto" (the first candidate that works) or one backend's name, which alone is tried.
    candidates : tuple of str, default=None
        The backends "auto" walks, in order; None = the built-in order for the method.
    params : dict, default=None
        Backend parameters under the shared names (see :mod:`.base`); a GPU-only option
        (``deterministic``) goes only to the backends that take it.
    max_fit : "auto", int or None, default="auto"
        Scale strategy (see :class:`~.scale.ScaledProjection`): "auto" = the backend's limit.
    n_neighbors : int, default=10
        Neighbours that place each state not fitted.
    polish_iter : int, default=DEFAULT_POLISH_ITER
        t-SNE steps of each placed point against the fixed fitted map.
    refine_iter : int, default=0
        t-SNE iterations of all points after placement (0 = none).
    random_state : int or None, default=None
        Given to the backend unless ``params`` sets one, and to the sample.
    progress : callable, default=None
        Given to the backend (see :data:`~.base.ProgressCallback`).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
    fitted_ : ndarray of shape (n_samples,), bool
        Which states were fitted (the others were placed).
    placement_ : str
    backend_used_ : str
    skipped_ : dict
        ``{name: reason}`` of the candidates skipped, in order.
    estimator_ : ProjectionBackend
        The fitted backend.
    scaled_ : ScaledProjection
    params_used_ : dict
    n_fitted_ : int
    n_features_in_ : int
    seconds_ : float
        Fit + placement of the backend that answered.
    stopped_early_ : bool
    """

    def __init__(self, *, method: str = "tsne", backend: str = "auto", candidates: tuple[str, ...] | None = None,
                 params: dict[str, Any] | None = None, max_fit: Any = "auto", n_neighbors: int = 10,
                 polish_iter: int = DEFAULT_POLISH_ITER, refine_iter: int = 0, random_state: Any = None,
                 progress: Any = None) -> None:
        self.method = method
        self.backend = backend
        self.candidates = candidates
        self.params = params
        self.max_fit = max_fit
        self.n_neighbors = n_neighbors
        self.polish_iter = polish_iter
        self.refine_iter = refine_iter
        self.random_state = random_state
        self.progress = progress

    def candidate_names(self) -> tuple[str, ...]:
        """The backends this run will try, in order."""
        check_method(self.method)
        name = resolve_backend_name(self.method, self.backend)
        if name != "auto":
            return (name,)
        names = tuple(self.candidates) if self.candidates is not None else AUTO_ORDER[self.method]
        for cand in names:
            if backend_class(cand).method != self.method:
                raise ValueError(f"candidate {cand!r} computes {backend_class(cand).method}, not {self.method}")
        return names

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])  # maps are float32
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        try:  # as reproducible as the least reproducible backend it may run (GPU ones, see ProjectionBackend)
            tags.non_deterministic = any(backend_class(name).hardware == "gpu" for name in self.candidate_names())
        except (ValueError, TypeError):  # a bad method or backend is fit's error to raise, not the tags'
            pass
        return tags

    def fit(self, X: Any, y: Any = None, *, executor: Any = None) -> AutoProjection:
        """Fit the first backend that works.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy-like, a torch tensor or CuPy array (kept on its device), or an on-disk array
            chunked by rows (a ``zarr.Array``: read block by block, never whole).
        y : array-like of shape (n_samples,), default=None
            The class of each state: stratifies the sample fitted when there are more states than
            ``max_fit``.
        executor : concurrent.futures.Executor, default=None
            Places the states not fitted (see :class:`ScaledProjection`).

        Returns
        -------
        self : AutoProjection

        Raises
        ------
        NonFiniteStates
            ``X`` holds NaN or infinite values (a diverged model).
        ParameterError
            A parameter or ``X`` no backend would accept.
        BackendUnavailable
            The backend named cannot run here, or no candidate can.
        """
        names = self.candidate_names()
        if self.max_fit != "auto":  # a bad max_fit is the caller's error, not a reason to try the next backend
            ScaledProjection(None, max_fit=self.max_fit).fit_limit()
        fallback = resolve_backend_name(self.method, self.backend) == "auto"
        if not _on_disk(X):  # a CUDA tensor stays one: it needs no CuPy for torch-only backends
            data = validate_states(self, X, reset=True, keep_device=True)
        else:
            data = X
            if getattr(data, "ndim", None) != 2:
                raise ParameterError(f"X must be a 2-D array (N, D), got shape {tuple(data.shape)}")
            validate_data(self, data, skip_check_array=True)  # n_features_in_; the blocks are checked as they are read
        skipped: dict[str, str] = {}

        def skip(name: str, reason: str, *, level: int = logging.INFO) -> None:
            skipped[name] = reason
            log.log(level, "projection backend %s skipped: %s", name, reason)

        for name in names:
            try:
                estimator = self._construct(name)
            except (BackendUnavailable, ValueError) as exc:
                if not fallback:
                    raise
                skip(name, _reason(name, exc), level=_skip_level(name, exc))
                continue
            except Exception as exc:  # a broken install can fail in any way while initialising
                if not fallback:
                    raise BackendUnavailable(f"{name} failed to initialise ({type(exc).__name__}: {exc})") from exc
                skip(name, f"failed to initialise ({type(exc).__name__}: {exc})", level=logging.WARNING)
                continue
            scaled = ScaledProjection(estimator, max_fit=self.max_fit, n_neighbors=self.n_neighbors,
                                      polish_iter=self.polish_iter, refine_iter=self.refine_iter,
                                      random_state=self.random_state)
            try:
                scaled.fit(data, y, executor=executor)
            except ParameterError:
                raise  # bad parameters or input: every backend would refuse them
            except BackendUnavailable as exc:
                if not fallback:
                    raise
                skip(name, _reason(name, exc), level=_skip_level(name, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a library failing at run time is a reason to fall back
                if not fallback:
                    raise
                skip(name, f"failed while fitting ({type(exc).__name__}: {exc})", level=logging.WARNING)
                continue
            self._record(name, scaled, skipped)
            return self
        detail = "; ".join(f"{n}: {r}" for n, r in skipped.items())
        raise BackendUnavailable(f"no {self.method} backend can run here ({detail})")

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit ``X`` (see :meth:`fit`) and return its map, ``embedding_`` (n_samples, n_components) float32."""
        return self.fit(X, y).embedding_

    def transform(self, X: Any) -> np.ndarray:
        """Place new states into the fitted map, the way its own states were placed.

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
        check_is_fitted(self)
        return self.scaled_.transform(validate_states(self, X, reset=False, keep_device=True))

    # -- internals ---------------------------------------------------------------------------------
    def _construct(self, name: str) -> ProjectionBackend:
        cls = backend_class(name)
        try:
            cls.check_available()
        except BackendUnavailable:
            raise
        except Exception as exc:  # a check that itself crashes means the install is broken
            raise BackendUnavailable(f"{name}: availability check failed ({type(exc).__name__}: {exc})") from exc
        params = dict(self.params or {})
        accepted = cls._get_param_names()
        for option in GPU_ONLY_PARAMS:  # e.g. deterministic: meaningless to a backend that is reproducible anyway
            if option not in accepted:
                params.pop(option, None)
        if "random_state" in accepted:
            params.setdefault("random_state", self.random_state)
        if "progress" in accepted and self.progress is not None:
            params.setdefault("progress", self.progress)
        return make_backend(name, **params)

    def _record(self, name: str, scaled: ScaledProjection, skipped: dict[str, str]) -> None:
        self.scaled_ = scaled
        self.estimator_ = scaled.estimator_
        self.embedding_ = scaled.embedding_
        self.fitted_ = scaled.fitted_
        self.placement_ = scaled.placement_
        self.n_fitted_ = scaled.n_fitted_
        self.seconds_ = scaled.seconds_
        self.stopped_early_ = scaled.stopped_early_
        self.backend_used_ = name
        self.skipped_ = skipped
        self.params_used_ = {k: v for k, v in scaled.estimator_.get_params(deep=False).items() if k != "progress"}
        if skipped:
            log.info("projection ran on %s (skipped: %s)", name, ", ".join(skipped))


def _on_disk(X: Any) -> bool:
    """A chunked array read block by block (zarr, HDF5): validated as it is read, never loaded whole."""
    return not in_memory(X) and hasattr(X, "chunks") and hasattr(X, "shape")


def _skip_level(name: str, exc: Exception) -> int:
    """WARNING for a GPU backend that is installed but was not used (broken, out of memory, refused), else INFO."""
    if backend_class(name).hardware == "gpu" and not isinstance(exc, LibraryAbsent):
        return logging.WARNING
    return logging.INFO


def _reason(name: str, exc: Exception) -> str:
    """The exception's message without a leading "name: " (the key of ``skipped_`` already says it)."""
    text = str(exc) or type(exc).__name__
    return text[len(name) + 2 :] if text.startswith(f"{name}: ") else text
