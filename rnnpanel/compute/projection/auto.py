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

Naming one backend instead of "auto" runs only that one: if it cannot run, the
:class:`~rnnpanel.errors.BackendUnavailable` (with its reason and remedy) reaches the caller.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from rnnpanel.compute.projection.base import ParameterError, ProjectionBackend, check_input
from rnnpanel.compute.projection.registry import (
    AUTO_ORDER,
    backend_class,
    check_method,
    make_backend,
    resolve_backend_name,
)
from rnnpanel.compute.projection.placement import DEFAULT_POLISH_ITER, in_memory
from rnnpanel.compute.projection.scale import ScaledProjection
from rnnpanel.compute.xp import asarray, is_torch_tensor
from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)


class AutoProjection(BaseEstimator):
    """Run ``method`` with ``backend`` ("auto" or a name), falling back along the candidates when "auto".

    Parameters: ``method`` ("tsne", "umap", "pca"); ``backend``; ``candidates`` (None = the
    built-in order for the method); ``params`` (dict of backend parameters, the shared names);
    ``max_fit`` and ``n_neighbors`` (scale strategy, see :class:`ScaledProjection`), and
    ``polish_iter`` (t-SNE steps of each placed point against the fixed fitted map) and
    ``refine_iter`` (t-SNE iterations of all points after placement; 0 = none);
    ``random_state`` (given to the backend unless ``params`` sets one, and to the sample);
    ``progress`` (given to the backend).

    Fitted: ``embedding_``, ``fitted_``, ``placement_``, ``backend_used_``, ``skipped_``
    (ordered ``{name: reason}``), ``estimator_`` (the fitted backend), ``params_used_``,
    ``n_fitted_``, ``seconds_`` (fit + placement of the backend that answered),
    ``stopped_early_``.
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

    def fit(self, X: Any, y: Any = None, *, executor: Any = None) -> AutoProjection:
        """Fit the first backend that works; ``X`` may be on disk (a chunked ``zarr.Array``: read
        block by block, never whole), ``executor`` places the points not fitted (see
        :class:`ScaledProjection`)."""
        names = self.candidate_names()
        if self.max_fit != "auto":  # a bad max_fit is the caller's error, not a reason to try the next backend
            ScaledProjection(None, max_fit=self.max_fit).fit_limit()
        fallback = resolve_backend_name(self.method, self.backend) == "auto"
        if is_torch_tensor(X) or not in_memory(X):  # a CUDA tensor needs no CuPy for torch-only backends
            data = X
        else:
            data = asarray(X)
        if in_memory(data):
            check_input(data)
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
                skip(name, _reason(name, exc))
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
                skip(name, _reason(name, exc))
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
        return self.fit(X, y).embedding_

    def transform(self, X: Any) -> np.ndarray:
        """Place new points into the fitted map (the backend's transform or k-NN interpolation)."""
        if not hasattr(self, "scaled_"):
            raise RuntimeError("AutoProjection is not fitted yet; call fit first")
        return self.scaled_.transform(X)

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


def _reason(name: str, exc: Exception) -> str:
    """The exception's message without a leading "name: " (the key of ``skipped_`` already says it)."""
    text = str(exc) or type(exc).__name__
    return text[len(name) + 2 :] if text.startswith(f"{name}: ") else text
