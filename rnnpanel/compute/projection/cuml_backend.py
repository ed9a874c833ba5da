"""RAPIDS cuML on the GPU: ``TSNE`` (FFT) as backend ``cuml`` and ``UMAP`` as ``cuml-umap``.

From the ``cuml-cu12`` / ``cuml-cu13`` packages (gpu/requirements-cuda*.txt). Input that is
already on the GPU (a CUDA torch tensor or a CuPy array) is handed to cuML through DLPack with no
trip through the host; NumPy input is copied to the device once. Availability is CuPy seeing a
device (not torch: a CPU build of torch may sit next to a working cuML) and a real tiny fit per
process, because a cuML built for another CUDA major imports and then fails in its first
kernel. Keyword names that changed between cuML releases (``n_iter`` → ``max_iter``) are
resolved against the installed signature. After importing cuML, RMM (through which cuML's
import routes CuPy's allocations) gets a pooled resource (:func:`.gpu.use_pooled_rmm`).

**What a user gets by default: fast and unseeded on the GPU.** ``deterministic=False``: cuML is
not given the seed, so its t-SNE takes its fast path (from cuML 26.08 a seed selects a
deterministic one, 1.2–2.8× slower up to 200,000 points) and its UMAP builds its neighbours by
NN-descent above 50,000 states (a seed forces exact, quadratic, brute-force neighbours). Why: a
map is computed once and kept in the store, so what a seed buys — the same picture when the same
map is computed again — is rarely used, while its price is paid on every map; and two GPUs, or
two cuML releases, give different maps for the same seed anyway. ``random_state`` still seeds
everything rnnpanel draws itself (the sample fitted, the neighbour index, the placement), and the
CPU backends, for which a seed costs nothing, stay seeded. ``deterministic=True`` (``rnnpanel
project --deterministic``) hands cuML the seed: the same map again on the same GPU and cuML, at
that price. ``deterministic_`` records which path ran.

**Neighbours at scale.** cuML's t-SNE finds its ``3 × perplexity`` neighbours by exact brute
force, quadratic in N (a million states: 10¹² distances). From
:data:`APPROXIMATE_NEIGHBORS_FROM` states on (``neighbors="auto"``), the neighbour graph is
built here instead, approximately, with rnnpanel's IVF index on the same device
(:meth:`~rnnpanel.compute.ann.IVFIndex.self_neighbors`: cells of about
:data:`GRAPH_CELL_POINTS` states, ``n_probe`` of them searched per cell) and handed to
``TSNE.fit(X, knn_graph=(indices, distances))``; ``neighbors_``, ``neighbor_seconds_`` record it.
The states reach cuML column-major (its ``TSNE.fit`` copies anything else).
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from typing import Any, ClassVar

import numpy as np

from rnnpanel.compute.ann import IVFIndex
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
    import_or_unavailable,
    probe_once,
    require_cupy_device,
    tiny_input,
    use_pooled_rmm,
)
from rnnpanel.compute.projection.pca import reduce_dimensions
from rnnpanel.compute.xp import array_namespace, asarray, is_cupy_array, to_numpy
from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

CUML_HINT = "cuml-cu12 or cuml-cu13 (matching your CUDA major) with cupy-cuda12x / cupy-cuda13x"
DEFAULT_MAX_ITER = 1000
DEFAULT_EE_ITER = 250
LARGE_N = 500_000      # from here on the default schedule is shorter ...
LARGE_MAX_ITER = 500   # ... (the FFT gradients dominate; gpu/check.py's speed section times it)
DETERMINISTIC_FROM = (26, 8)  # cuML release whose seeded t-SNE takes a slower deterministic path
APPROXIMATE_NEIGHBORS_FROM = 200_000  # from here on (neighbors="auto") the t-SNE's neighbour graph is approximate
GRAPH_CELL_POINTS = 1_000  # states per cell of the index that builds it
GRAPH_PROBES = 32          # cells searched per cell (3 % of a million states; gpu/check.py measures its recall)
NEIGHBOR_CHOICES = ("auto", "exact", "approximate")
CUML_UMAP_EXACT_UP_TO = 50_000  # cuML UMAP's build_algo="auto": brute force up to here (or with a seed)


def _iterations_keyword(cls: type) -> str:
    params = inspect.signature(cls.__init__).parameters
    return "max_iter" if "max_iter" in params else "n_iter"


def _supported(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop keywords the installed cuML does not know (only optional tuning knobs reach here)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _to_device(X: Any) -> Any:
    """A CuPy array for ``X``: zero-copy through DLPack for GPU arrays, one host-to-device copy otherwise."""
    from rnnpanel.compute.xp import _cupy  # looked up at each call: a test stands NumPy in for CuPy

    arr = asarray(X)
    return arr if is_cupy_array(arr) else _cupy().asarray(arr)


def _cuml_manifold() -> Any:
    """``cuml.manifold``, imported (or :class:`BackendUnavailable` with the reason), with RMM's resource pooled."""
    manifold = import_or_unavailable("cuml.manifold", CUML_HINT)
    use_pooled_rmm()  # cuML's import sent CuPy through RMM's default cudaMalloc/cudaFree per array
    return manifold


def _cuml_version() -> str:
    import sys

    return str(getattr(sys.modules.get("cuml"), "__version__", ""))


def neighbor_graph(data: Any, n_neighbors: int, *, n_probe: int = GRAPH_PROBES,
                   random_state: Any = None) -> tuple[Any, Any]:
    """The approximate ``n_neighbors``-NN graph cuML's ``TSNE.fit(X, knn_graph=...)`` takes, on ``data``'s device.

    ``(indices (N, n_neighbors) int64, distances float32)``, as cuML's own search returns them:
    each row's own index first at distance 0, then its ``n_neighbors − 1`` nearest others
    (Euclidean; cuML squares them), from an IVF index of cells of about :data:`GRAPH_CELL_POINTS`
    states with ``n_probe`` cells searched per cell.
    """
    n = int(data.shape[0])
    index = IVFIndex(data, n_cells=max(1, round(n / GRAPH_CELL_POINTS)), n_probe=int(n_probe),
                     random_state=random_state)
    return index.self_neighbors(int(n_neighbors) - 1)


def release_tuple(version: str) -> tuple[int, int]:
    """``"26.08.00"`` → ``(26, 8)``; ``(0, 0)`` when the string is not a release number."""
    match = re.match(r"(\d+)\.(\d+)", str(version))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def seed_takes_deterministic_path(version: str, seed: int | None) -> bool:
    """True when cuML ``version`` given ``seed`` runs its slower deterministic t-SNE (1.2–2.8× up to 200k points)."""
    return seed is not None and release_tuple(version) >= DETERMINISTIC_FROM


def _probe_tsne() -> None:
    cupy = require_cupy_device()
    manifold = _cuml_manifold()
    kw = {_iterations_keyword(manifold.TSNE): 300, "n_components": 2, "perplexity": 10.0, "output_type": "numpy"}
    out = np.asarray(manifold.TSNE(**kw).fit_transform(cupy.asarray(tiny_input())))
    if out.shape != (256, 2) or not np.all(np.isfinite(out)):
        raise BackendUnavailable("cuML TSNE's probe fit returned non-finite values; the installation is broken")


def _probe_umap() -> None:
    cupy = require_cupy_device()
    manifold = _cuml_manifold()
    out = np.asarray(
        manifold.UMAP(n_components=2, n_neighbors=10, output_type="numpy").fit_transform(cupy.asarray(tiny_input()))
    )
    if out.shape != (256, 2) or not np.all(np.isfinite(out)):
        raise BackendUnavailable("cuML UMAP's probe fit returned non-finite values; the installation is broken")


class CumlTSNE(ProjectionBackend):
    """cuML's FFT t-SNE with our shared parameters.

    cuML's "adaptive" learning-rate method also changes perplexity, neighbours and exaggeration
    with N; it is switched off so that the same perplexity means the same thing on every
    backend, and "auto" uses ``max(N / 12, 200)``. Without it cuML doubles the rate after early
    exaggeration (recorded in ``post_learning_rate_``; see :mod:`.base`). ``max_iter`` None =
    1,000 (250 of them exaggerated), 500 from ``LARGE_N`` points on.

    Like the tuned openTSNE backend, the states are first reduced on the GPU to
    ``pca_components`` principal components when those keep ``pca_min_variance`` of the
    variance (the neighbour search costs linearly in the dimension). From
    :data:`APPROXIMATE_NEIGHBORS_FROM` states on the neighbour graph is approximate (see the
    module docstring); below, cuML's exact search is fast enough. The seed reaches cuML only with
    ``deterministic=True`` (see the module docstring: fast and unseeded by default).

    ``max_fit_size`` = 2,000,000: cuML keeps the ``N × 3·perplexity`` neighbour graph and its
    symmetrised copy in GPU memory; beyond ~2 M states that passes 16 GB cards.

    Parameters
    ----------
    n_components : int, default=2
        cuML embeds into 2 dimensions only; another value is refused.
    perplexity, learning_rate, early_exaggeration, init, metric, random_state, verbose, progress
        The shared parameters (see :mod:`.base`); ``init`` "pca" or "random".
    max_iter : int, default=None
        None = 1,000, or 500 from ``LARGE_N`` points on.
    early_exaggeration_iter : int, default=250
    pca_components : int, default=50
        Reduce the input on the GPU to this many principal components first (None = never).
    pca_min_variance : float, default=0.9
        Reduce only when those components keep at least this share of the variance.
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        The neighbour graph: cuML's exact search, or rnnpanel's IVF index on the GPU; "auto" =
        approximate from :data:`APPROXIMATE_NEIGHBORS_FROM` states on.
    n_probe : int, default=GRAPH_PROBES
        Cells searched per cell by the approximate graph (more: higher recall, slower).
    deterministic : bool, default=False
        Hand ``random_state`` to cuML: reproducible maps on the same GPU and cuML, on cuML's
        slower deterministic path (≥ 26.08). False: cuML's fast path, unseeded.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, 2), float32
    perplexity_, learning_rate_, post_learning_rate_ : float
    max_iter_, n_iter_ : int
    deterministic_ : bool
        Whether cuML took its deterministic (slower) path.
    neighbors_ : {"exact", "approximate"}
        How the neighbour graph was built.
    neighbor_seconds_ : float
        Time building the approximate graph (0 for cuML's own exact search, which it does not report).
    input_dims_ : int
    pca_variance_kept_ : float
    kl_divergence_ : float
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "cuml"
    method: ClassVar[str] = "tsne"
    hardware: ClassVar[str] = "gpu"
    max_fit_size: ClassVar[int | None] = 2_000_000
    accepts_gpu_input: ClassVar[bool] = True

    def __init__(self, *, n_components: int = 2, perplexity: float = 30.0, learning_rate: Any = "auto",
                 max_iter: int | None = None, early_exaggeration_iter: int = DEFAULT_EE_ITER,
                 early_exaggeration: float = 12.0, init: str = "pca", metric: str = "euclidean",
                 pca_components: int | None = 50, pca_min_variance: float = 0.9, neighbors: str = "auto",
                 n_probe: int = GRAPH_PROBES, deterministic: bool = False,
                 random_state: Any = None, verbose: bool = False, progress: Any = None) -> None:
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
        self.n_probe = n_probe
        self.deterministic = deterministic
        self.random_state = random_state
        self.verbose = verbose
        self.progress = progress

    @classmethod
    def check_available(cls) -> None:
        probe_once(cls.name, _probe_tsne)

    def tsne_options(self, n: int, iterations_keyword: str = "max_iter") -> dict[str, Any]:
        """The keyword arguments for ``cuml.manifold.TSNE`` on ``n`` points (validates; sets the ``*_`` rates)."""
        if self.n_components != 2:
            raise BackendUnavailable(
                f"cuML's t-SNE embeds into 2 dimensions only, n_components={self.n_components} was asked"
            )
        check_choice("init", self.init, ("pca", "random"))
        check_learning_rate(self.learning_rate)
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        check_positive_int("early_exaggeration_iter", self.early_exaggeration_iter)
        check_choice("neighbors", self.neighbors, NEIGHBOR_CHOICES)
        check_positive_int("n_probe", self.n_probe)
        check_choice("deterministic", self.deterministic, (False, True))
        seed = seed_from(self.random_state)  # checked always; given to cuML only when deterministic
        self.perplexity_ = effective_perplexity(self.perplexity, n)
        self.learning_rate_ = (
            auto_learning_rate(n, self.early_exaggeration)
            if self.learning_rate == "auto"
            else float(self.learning_rate)
        )
        self.post_learning_rate_ = 2.0 * self.learning_rate_  # cuML's non-adaptive rule
        if self.max_iter is not None:
            max_iter = int(self.max_iter)
        else:
            max_iter = LARGE_MAX_ITER if n >= LARGE_N else DEFAULT_MAX_ITER
        self.max_iter_ = max_iter
        return {
            "n_components": 2,
            "perplexity": self.perplexity_,
            "learning_rate": self.learning_rate_,
            "learning_rate_method": None,
            "early_exaggeration": float(self.early_exaggeration),
            "exaggeration_iter": min(int(self.early_exaggeration_iter), max_iter),
            iterations_keyword: max_iter,
            "n_neighbors": min(1023, max(1, int(3 * self.perplexity_)), n - 1),
            "init": self.init,
            "metric": self.metric,
            "method": "fft",
            "random_state": seed if self.deterministic else None,
            "verbose": bool(self.verbose),
            "output_type": "cupy",
        }

    def uses_approximate_neighbors(self, n: int) -> bool:
        """Whether a fit of ``n`` states builds its neighbour graph here (approximately) rather than in cuML."""
        check_choice("neighbors", self.neighbors, NEIGHBOR_CHOICES)
        if self.metric not in ("euclidean", "l2"):
            return False  # the index is Euclidean
        return self.neighbors == "approximate" or (self.neighbors == "auto" and n >= APPROXIMATE_NEIGHBORS_FROM)

    def reduce(self, data: Any) -> Any:
        """The states the neighbour search reads: PCA-reduced on their own device when that keeps enough variance,
        column-major (as cuML's ``TSNE.fit`` reads them; it would copy a row-major array)."""
        check_positive_int("pca_components", self.pca_components, allow_none=True)
        self.input_dims_ = int(data.shape[1])
        self.pca_variance_kept_ = 1.0
        xp = array_namespace(data)
        if self.metric not in ("euclidean", "l2"):
            return xp.asfortranarray(data)
        reduced, kept = reduce_dimensions(data, self.pca_components, self.pca_min_variance, order="F")
        self.input_dims_, self.pca_variance_kept_ = int(reduced.shape[1]), kept
        return xp.asfortranarray(reduced)

    def _fit(self, X: Any) -> np.ndarray:
        self.check_available()
        TSNE = _cuml_manifold().TSNE  # noqa: N806 - cuML's class

        n = int(X.shape[0])
        kwargs = self.tsne_options(n, _iterations_keyword(TSNE))
        check_pca_init(self.init, 2, X.shape[1])
        self.deterministic_ = seed_takes_deterministic_path(_cuml_version(), kwargs["random_state"])
        if self.deterministic_:
            log.info("cuml: deterministic=True runs cuML's deterministic t-SNE, reproducible and slower")
        data = self.reduce(_to_device(X))
        graph, self.neighbors_, self.neighbor_seconds_ = None, "exact", 0.0
        if self.uses_approximate_neighbors(n):
            self._report(0.02, f"cuml: approximate neighbour graph of {n} states on the GPU")
            started = time.perf_counter()
            graph = neighbor_graph(data, kwargs["n_neighbors"], n_probe=self.n_probe,
                                   random_state=seed_from(self.random_state))
            self.neighbors_, self.neighbor_seconds_ = "approximate", time.perf_counter() - started
        self._report(0.05, "cuml: t-SNE on the GPU (no intermediate progress)")
        tsne = TSNE(**_supported(TSNE, kwargs))
        embedding = tsne.fit_transform(data) if graph is None else tsne.fit_transform(data, knn_graph=graph)
        del graph
        self.kl_divergence_ = float(getattr(tsne, "kl_divergence_", np.nan))
        reported = getattr(tsne, "n_iter_", None)
        self.n_iter_ = int(reported) if isinstance(reported, (int, np.integer)) and reported > 0 else self.max_iter_
        return to_numpy(embedding)


class CumlUMAP(ProjectionBackend):
    """cuML's UMAP on the GPU; places new points with ``transform``.

    ``max_fit_size`` = 5,000,000: the fuzzy graph (``N × n_neighbors``) and the embedding fit in
    GPU memory up to there. Fast and unseeded by default, like :class:`CumlTSNE` (see the module
    docstring): without a seed cuML builds the neighbour graph by NN-descent above 50,000 states
    and optimises in parallel; ``deterministic=True`` hands it the seed, which forces exact
    brute-force neighbours (quadratic in N) and its slower reproducible optimisation.

    Parameters
    ----------
    n_components, n_neighbors, min_dist, learning_rate, max_iter, metric, random_state, verbose, progress
        As :class:`~.umap_backend.UMAPProjection`'s.
    init : {"spectral", "random"}, default="spectral"
        cuML's UMAP has no PCA initialisation.
    deterministic : bool, default=False
        Hand ``random_state`` to cuML (reproducible, slower).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float32
    umap_ : cuml.manifold.UMAP
    n_iter_ : int
        Epochs run.
    deterministic_ : bool
        Whether cuML was given the seed.
    neighbors_ : {"nn_descent", "brute_force_knn"}
        The neighbour search cuML's ``build_algo="auto"`` chose (brute force with a seed or up to 50,000 states).
    n_features_in_, n_samples_fit_, seconds_, stopped_early_
        See :class:`~.base.ProjectionBackend`.
    """

    name: ClassVar[str] = "cuml-umap"
    method: ClassVar[str] = "umap"
    hardware: ClassVar[str] = "gpu"
    max_fit_size: ClassVar[int | None] = 5_000_000
    supports_transform: ClassVar[bool] = True
    accepts_gpu_input: ClassVar[bool] = True

    def __init__(self, *, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 learning_rate: Any = "auto", max_iter: int | None = None, init: str = "spectral",
                 metric: str = "euclidean", deterministic: bool = False, random_state: Any = None,
                 verbose: bool = False, progress: Any = None) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.init = init
        self.metric = metric
        self.deterministic = deterministic
        self.random_state = random_state
        self.verbose = verbose
        self.progress = progress

    @classmethod
    def check_available(cls) -> None:
        probe_once(cls.name, _probe_umap)

    def _fit(self, X: Any) -> np.ndarray:
        self.check_available()
        UMAP = _cuml_manifold().UMAP  # noqa: N806 - cuML's class

        check_positive_int("n_neighbors", self.n_neighbors)
        check_choice("deterministic", self.deterministic, (False, True))
        seed = seed_from(self.random_state)
        check_positive_int("max_iter", self.max_iter, allow_none=True)
        check_learning_rate(self.learning_rate)
        if self.init == "pca":
            raise BackendUnavailable("cuML's UMAP has no PCA initialisation; use init='spectral' or 'random'")
        check_choice("init", self.init, ("spectral", "random"))
        kwargs = {
            "n_components": int(self.n_components),
            "n_neighbors": min(int(self.n_neighbors), int(X.shape[0]) - 1),
            "min_dist": float(self.min_dist),
            "learning_rate": 1.0 if self.learning_rate == "auto" else float(self.learning_rate),
            "n_epochs": None if self.max_iter is None else int(self.max_iter),
            "init": self.init,
            "metric": self.metric,
            "random_state": seed if self.deterministic else None,
            "build_algo": "auto",  # cuML's: NN-descent above 50,000 states when unseeded, else brute force
            "verbose": bool(self.verbose),
            "output_type": "cupy",
        }
        self.deterministic_ = kwargs["random_state"] is not None
        self.neighbors_ = ("brute_force_knn" if self.deterministic_ or int(X.shape[0]) <= CUML_UMAP_EXACT_UP_TO
                           else "nn_descent")
        self._report(0.05, "cuml-umap: UMAP on the GPU (no intermediate progress)")
        self.umap_ = UMAP(**_supported(UMAP, kwargs))
        embedding = to_numpy(self.umap_.fit_transform(_to_device(X)))
        # cuML chooses as umap-learn does when n_epochs is None: 500 epochs up to 10,000 points, else 200
        self.n_iter_ = int(self.max_iter) if self.max_iter is not None else (500 if X.shape[0] <= 10_000 else 200)
        return embedding

    def transform(self, X: Any) -> np.ndarray:
        """Place new states with cuML's ``transform`` (float32 NumPy ``(n_new, n_components)``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        NonFiniteStates, ParameterError
            NaN or infinite values; another number of columns than the fitted states.
        """
        data = self._validate_new_states(X)
        return np.asarray(to_numpy(self.umap_.transform(_to_device(data))), dtype=np.float32)
