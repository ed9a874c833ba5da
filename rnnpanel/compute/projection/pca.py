"""PCA with torch on any device: the linear map, also the initialisation and input reduction of t-SNE.

The covariance ``Xᶜᵀ Xᶜ`` is accumulated block by block in float64 and diagonalised (``D`` is a
few hundred at most for hidden states), so a million states never need a second dense copy and
the same code runs on the CPU or, through DLPack, on CUDA tensors and CuPy arrays. Component
signs are fixed (largest loading positive), so the result is deterministic.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from rnnpanel.compute.device import resolve_device
from rnnpanel.compute.projection.base import ParameterError, ProjectionBackend, check_positive_int
from rnnpanel.compute.xp import array_namespace, asarray, is_gpu_array, to_numpy, to_torch

BLOCK_ROWS = 1 << 16


class PCAProjection(ProjectionBackend):
    """Principal component analysis by eigendecomposition of the covariance, on CPU or CUDA.

    Exact and deterministic, and linear: ``transform`` places new states exactly, so the scale
    strategy fits PCA on every state and has no size limit.

    Parameters
    ----------
    n_components : int, default=2
        Dimensions of the map; at most the number of columns.
    device : str, default="auto"
        "auto" (the device of a GPU input, else CUDA when available, else CPU), "cpu", "cuda", "cuda:N".
    random_state : ignored
        Accepted for a uniform interface; PCA is exact.
    verbose : bool, default=False
        Log progress.
    progress : callable, default=None
        ``progress(fraction, message)``, see :data:`~.base.ProgressCallback`.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
    components_ : ndarray of shape (n_components, n_features_in_)
        Unit axes, each signed so that its largest loading is positive.
    mean_ : ndarray of shape (n_features_in_,)
    explained_variance_, explained_variance_ratio_ : ndarray of shape (n_components,)
    device_ : str
        The device the fit ran on.
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "pca"
    method: ClassVar[str] = "pca"
    hardware: ClassVar[str] = "any"
    max_fit_size: ClassVar[int | None] = None  # linear in N, no limit
    supports_transform: ClassVar[bool] = True
    accepts_gpu_input: ClassVar[bool] = True
    min_samples: ClassVar[int] = 2

    def __init__(self, *, n_components: int = 2, device: str = "auto", random_state: Any = None,
                 verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.progress = progress

    def _fit(self, X: Any) -> np.ndarray:
        check_positive_int("n_components", self.n_components)
        if self.n_components > X.shape[1]:
            raise ParameterError(f"n_components ({self.n_components}) cannot exceed the number of columns "
                                 f"(n_features = {X.shape[1]})")
        device = X.device if hasattr(X, "device") and is_gpu_array(X) else None
        dev = torch.device("cuda", torch.cuda.current_device()) if device is not None else resolve_device(self.device)
        data = to_torch(X, device=dev)
        self.device_ = str(dev)
        mean, cov = _mean_and_covariance(data)
        eigval, eigvec = torch.linalg.eigh(cov)
        order = torch.argsort(eigval, descending=True)
        eigval, eigvec = eigval[order].clamp(min=0), eigvec[:, order]
        comps = eigvec[:, : self.n_components].T.contiguous()
        signs = torch.sign(comps.gather(1, comps.abs().argmax(dim=1, keepdim=True)))
        comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
        total = float(eigval.sum())
        self.mean_ = to_numpy(mean)
        self.components_ = to_numpy(comps)
        self.explained_variance_ = to_numpy(eigval[: self.n_components])
        self.explained_variance_ratio_ = self.explained_variance_ / total if total > 0 else np.zeros(self.n_components)
        self._mean_t, self._comps_t = mean, comps
        return to_numpy(_project(data, mean, comps))

    def transform(self, X: Any) -> np.ndarray:
        """Project new states with the fitted components.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features_in_)
            NumPy-like, or a torch tensor or CuPy array (projected on the fitted device).

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
        data = to_torch(self._validate_new_states(X), device=self._mean_t.device)
        return to_numpy(_project(data, self._mean_t, self._comps_t)).astype(np.float32)


def _mean_and_covariance(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column means and covariance in float64, accumulated over row blocks."""
    n, d = data.shape
    total = torch.zeros(d, dtype=torch.float64, device=data.device)
    for start in range(0, n, BLOCK_ROWS):
        total += data[start : start + BLOCK_ROWS].to(torch.float64).sum(dim=0)
    mean = total / n
    cov = torch.zeros((d, d), dtype=torch.float64, device=data.device)
    for start in range(0, n, BLOCK_ROWS):
        block = data[start : start + BLOCK_ROWS].to(torch.float64) - mean
        cov += block.T @ block
    return mean, cov / max(n - 1, 1)


def _project(data: torch.Tensor, mean: torch.Tensor, comps: torch.Tensor) -> torch.Tensor:
    out = torch.empty((data.shape[0], comps.shape[0]), dtype=torch.float32, device=data.device)
    for start in range(0, data.shape[0], BLOCK_ROWS):
        block = data[start : start + BLOCK_ROWS].to(torch.float64) - mean
        out[start : start + BLOCK_ROWS] = (block @ comps.T).to(torch.float32)
    return out


def pca_reduce(X: np.ndarray, n_components: int) -> tuple[np.ndarray, PCAProjection]:
    """``X`` projected on its first ``n_components`` principal axes (float32) and the fitted PCA."""
    pca = PCAProjection(n_components=n_components, device="cpu")
    return pca.fit(X).embedding_, pca


def principal_axes(X: Any, n_components: int, *, block_rows: int = BLOCK_ROWS) -> tuple[Any, Any, float]:
    """``(mean (D,), components (n_components, D), share of the variance they keep)`` of ``X``, in ``X``'s namespace.

    For work that must stay on the device that holds ``X`` (NumPy or CuPy, so no torch CUDA
    build is needed): reducing the input of GPU t-SNE, initialising it. Block products run in
    float32, the fast path of every GPU, on centred data and are summed in float64; only the
    small ``D × D`` covariance is diagonalised in float64. Signs as :class:`PCAProjection`'s.
    """
    x = asarray(X)
    xp = array_namespace(x)
    n, d = int(x.shape[0]), int(x.shape[1])
    check_positive_int("n_components", n_components)
    if n_components > d:
        raise ParameterError(f"n_components ({n_components}) cannot exceed the number of columns (n_features = {d})")
    total = xp.zeros(d, dtype=xp.float64)
    for start in range(0, n, block_rows):
        total += xp.sum(x[start : start + block_rows], axis=0, dtype=xp.float64)
    mean = (total / max(n, 1)).astype(xp.float32)
    cov = xp.zeros((d, d), dtype=xp.float64)
    for start in range(0, n, block_rows):
        block = x[start : start + block_rows].astype(xp.float32, copy=False) - mean
        cov += (block.T @ block).astype(xp.float64)
    cov /= max(n - 1, 1)
    eigval, eigvec = xp.linalg.eigh(cov)
    order = xp.argsort(eigval)[::-1][:n_components]
    comps = eigvec[:, order].T
    signs = xp.sign(xp.take_along_axis(comps, xp.argmax(xp.abs(comps), axis=1)[:, None], axis=1))
    comps = comps * xp.where(signs == 0, 1.0, signs)
    eigval = xp.maximum(eigval, 0)
    total = float(xp.sum(eigval))
    kept = float(xp.sum(eigval[order])) / total if total > 0 else 1.0
    return mean, comps.astype(xp.float32), kept


def reduce_dimensions(X: Any, n_components: int | None, min_variance: float, *,
                      order: str = "C") -> tuple[Any, float]:
    """``X`` on its first ``n_components`` principal axes when that keeps ``min_variance`` of the variance, else ``X``.

    Returns ``(data, share kept)``, in ``X``'s namespace. Neighbour searches and affinities cost
    about linearly in the dimension, so GPU t-SNE runs on the reduced states, like the tuned
    openTSNE backend (``None`` = never reduce). ``order`` is the memory layout of a reduced result
    ("F" for cuML's t-SNE, which reads column-major input and would copy anything else).
    """
    if n_components is None or int(X.shape[1]) <= int(n_components):
        return X, 1.0
    if not 0.0 < float(min_variance) <= 1.0:
        raise ParameterError(f"pca_min_variance must be in (0, 1], got {min_variance}")
    mean, comps, kept = principal_axes(X, int(n_components))
    if kept < min_variance:
        return X, 1.0
    return project_on_axes(X, mean, comps, order=order), kept


def project_on_axes(X: Any, mean: Any, components: Any, *, block_rows: int = BLOCK_ROWS, order: str = "C") -> Any:
    """``(X − mean) · componentsᵀ`` in float32, block by block, in ``X``'s namespace (``order``: "C" or "F")."""
    x = asarray(X)
    xp = array_namespace(x)
    out = xp.empty((int(x.shape[0]), int(components.shape[0])), dtype=xp.float32, order=order)
    for start in range(0, int(x.shape[0]), block_rows):
        out[start : start + block_rows] = (
            x[start : start + block_rows].astype(xp.float32, copy=False) - mean
        ) @ components.T
    return out
