"""tsnecuda (CannyLab's t-SNE-CUDA, FFT gradients on the GPU), when a working build is installed.

The ``tsnecuda`` wheel on the public package index (3.0.1) is a CUDA 10.2 build linked against
MKL: it imports, then fails when the estimator loads its library or runs. A build for CUDA
11–13 (4.x, from conda-forge or compiled from source, see gpu/README.md) works. Availability is
therefore decided by a real tiny fit, and a broken build is reported with the library's own
error as the reason. That fit runs in a child process (:func:`.gpu.probe_in_subprocess`):
tsnecuda's C code calls ``exit()`` on CUDA errors and ``assert(0)`` on cuBLAS errors, which
would end the caller's process; the verdict is cached on disk for this build and set-up when it
is a working build or one that does not load (see :mod:`.gpu`).

The real fit runs in a spawned child too (:func:`rnnpanel.compute.spawned.call_in_child`): a
probe that passed on 256 points says nothing about a million — the fit itself may run out of
memory, and tsnecuda then ends its process. A dead child is a :class:`BackendUnavailable` naming
its exit status or signal and its last line of output, so ``auto`` falls back to the next
backend with that reason. The child computes the PCA starting positions (CuPy when it sees a
device) and frees CuPy's memory pool before tsnecuda allocates its own. Starting the child costs
a second or two (an interpreter, NumPy, tsnecuda's library, a CUDA context).

tsnecuda takes host NumPy arrays only (its C++ code copies them to the device), so GPU input is
copied to the host once here. Its ``random_seed`` never reaches its C code, so its maps differ
from run to run whatever ``random_state`` says.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from rnnpanel.compute.projection.base import (
    ProjectionBackend,
    auto_learning_rate,
    check_choice,
    check_learning_rate,
    check_pca_init,
    check_positive_int,
    effective_perplexity,
    seed_from,
)
from rnnpanel.compute.projection.gpu import (
    PROBE_IMPORT_FAILED,
    PROBE_OK,
    TINY_INPUT_SOURCE,
    free_cupy_pools,
    probe_in_subprocess,
)
from rnnpanel.compute.projection.pca import principal_axes, project_on_axes
from rnnpanel.compute.spawned import ChildProcessDied, call_in_child
from rnnpanel.compute.xp import cupy_or_none, to_numpy
from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

TSNECUDA_HINT = "a tsnecuda build for your CUDA version (4.x; the 3.0.1 wheel on the public index is a CUDA 10.2 build)"
DEFAULT_MAX_ITER = 1000
DEFAULT_EE_ITER = 250
INIT_STD = 1e-4  # scale of a PCA initialisation, as openTSNE uses

PROBE_CODE = TINY_INPUT_SOURCE + f"""
try:  # importing tsnecuda and constructing its estimator loads its CUDA library: a failure is the build's
    import tsnecuda
    estimator = tsnecuda.TSNE(n_components=2, perplexity=10.0, n_iter=300, verbose=0)
except Exception as exc:
    print(f"{PROBE_IMPORT_FAILED}: {{type(exc).__name__}}: {{exc}}", flush=True)
    raise SystemExit(3)
out = np.asarray(estimator.fit_transform(x))
if out.shape != (256, 2) or not np.isfinite(out).all():
    raise SystemExit(f"tsnecuda's probe fit returned {{out.shape}} with non-finite values; the build is broken")
print({PROBE_OK!r})
"""


def initial_positions(X: np.ndarray) -> np.ndarray:
    """The PCA initialisation tsnecuda starts from: first two principal components scaled to ``INIT_STD``.

    Computed on the GPU when CuPy sees one (float32 block products), else in float32 on the
    CPU; Fortran order, as tsnecuda reads it. CuPy's memory pool is emptied afterwards: tsnecuda
    allocates with ``cudaMalloc`` itself and would otherwise find the PCA's blocks still reserved.
    """
    cp = cupy_or_none()
    data = cp.asarray(X) if cp is not None else X
    mean, comps, _ = principal_axes(data, 2)
    pca = to_numpy(project_on_axes(data, mean, comps))
    del data, mean, comps
    if cp is not None:
        free_cupy_pools()
    std = float(np.std(pca[:, 0])) or 1.0
    return np.asfortranarray(pca / std * INIT_STD, dtype=np.float32)


def fit_in_this_process(X: np.ndarray, *, options: dict[str, Any], pca_init: bool) -> np.ndarray:
    """tsnecuda's fit of ``X`` with ``options`` (its own keyword names): what the spawned child runs.

    It may end the process that calls it (see the module's docstring); call it through
    :func:`rnnpanel.compute.spawned.call_in_child`.
    """
    init = initial_positions(X) if pca_init else None
    import tsnecuda

    data = np.ascontiguousarray(X, dtype=np.float32)
    embedding = tsnecuda.TSNE(**options).fit_transform(data, init)  # its second argument: the starting positions
    return np.asarray(embedding, dtype=np.float32)


class TsneCudaProjection(ProjectionBackend):
    """t-SNE on the GPU with tsnecuda.

    Shared parameters as everywhere (``learning_rate`` "auto" = ``max(N / 12, 200)``,
    ``max_iter`` None = 1,000 including ``early_exaggeration_iter`` = 250); ``device`` is the
    CUDA device index. Only ``metric="euclidean"`` and ``n_components=2`` are supported.

    ``max_fit_size`` = 5,000,000: GPU memory (the neighbour graph, ``N × 3·perplexity`` entries,
    plus the FFT grid) stays under ~10 GB up to there.

    Parameters
    ----------
    n_components : int, default=2
        2 only; another value is refused.
    perplexity, learning_rate, early_exaggeration, init, random_state, verbose, progress
        The shared parameters (see :mod:`.base`); ``init`` "pca" or "random"; ``random_state``
        does not reach tsnecuda's C code, so maps differ from run to run.
    max_iter : int, default=None
        None = 1,000.
    early_exaggeration_iter : int, default=250
    metric : {"euclidean"}, default="euclidean"
    device : int, default=0
        CUDA device index.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, 2), float32
    perplexity_, learning_rate_, post_learning_rate_ : float
    n_iter_ : int
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "tsnecuda"
    method: ClassVar[str] = "tsne"
    hardware: ClassVar[str] = "gpu"
    max_fit_size: ClassVar[int | None] = 5_000_000

    def __init__(self, *, n_components: int = 2, perplexity: float = 30.0, learning_rate: Any = "auto",
                 max_iter: int | None = None, early_exaggeration_iter: int = DEFAULT_EE_ITER,
                 early_exaggeration: float = 12.0, init: str = "pca", metric: str = "euclidean",
                 random_state: Any = None, device: int = 0, verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.perplexity = perplexity
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_exaggeration_iter = early_exaggeration_iter
        self.early_exaggeration = early_exaggeration
        self.init = init
        self.metric = metric
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.progress = progress

    @classmethod
    def check_available(cls) -> None:
        probe_in_subprocess(cls.name, "tsnecuda", PROBE_CODE)

    def _fit(self, X: np.ndarray) -> np.ndarray:
        self.check_available()
        if self.n_components != 2:
            raise BackendUnavailable(
                f"tsnecuda embeds into 2 dimensions only, n_components={self.n_components} was asked"
            )
        if self.metric not in ("euclidean", "l2"):
            raise BackendUnavailable(f"tsnecuda supports metric='euclidean' only, got {self.metric!r}")
        check_choice("init", self.init, ("pca", "random"))
        check_pca_init(self.init, 2, X.shape[1])
        check_learning_rate(self.learning_rate)
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        check_positive_int("early_exaggeration_iter", self.early_exaggeration_iter)
        n = X.shape[0]
        self.perplexity_ = effective_perplexity(self.perplexity, n)
        self.learning_rate_ = (
            auto_learning_rate(n, self.early_exaggeration)
            if self.learning_rate == "auto"
            else float(self.learning_rate)
        )
        self.post_learning_rate_ = self.learning_rate_
        max_iter = DEFAULT_MAX_ITER if self.max_iter is None else int(self.max_iter)
        seed = seed_from(self.random_state)
        self.deterministic_ = False
        if seed is not None:
            log.info("tsnecuda does not pass random_state on to its C code; its maps differ between runs")
        options = {
            "n_components": 2,
            "perplexity": self.perplexity_,
            "learning_rate": self.learning_rate_,
            "early_exaggeration": float(self.early_exaggeration),
            "force_magnify_iters": min(int(self.early_exaggeration_iter), max_iter),
            "n_iter": max_iter,
            "num_neighbors": min(1023, max(1, int(3 * self.perplexity_)), n - 1),
            "random_seed": seed,
            "device": int(self.device),
            "verbose": 1 if self.verbose else 0,
        }
        self._report(0.05, "tsnecuda: running on the GPU in a separate process (no intermediate progress)")
        free_cupy_pools()  # memory this process's CuPy keeps reserved is memory the child's tsnecuda lacks
        try:
            embedding = call_in_child(fit_in_this_process, np.asarray(X),
                                      {"options": options, "pca_init": self.init == "pca"}, what="the tsnecuda map")
        except ChildProcessDied as exc:
            raise BackendUnavailable(f"tsnecuda: its fit in a separate process failed ({exc})") from exc
        self.n_iter_ = max_iter
        return np.asarray(embedding)
