"""cuML's t-SNE and UMAP backends run end to end on the CPU against a stand-in ``cuml`` (NumPy standing in for
CuPy): what reaches cuML — column-major states, an approximate neighbour graph in the layout cuML's
``TSNE.fit(X, knn_graph=...)`` checks, no seed unless ``deterministic`` — and RMM's resource set after the import."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

import rnnpanel.compute.xp as xpmod
from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection import AutoProjection, make_backend
from rnnpanel.compute.projection import gpu as gpu_mod
from rnnpanel.compute.projection.cuml_backend import APPROXIMATE_NEIGHBORS_FROM, CumlTSNE

from .test_projection_gpu_isolation import fake_rmm


def _check_knn_graph(knn_graph: tuple[Any, Any], n_samples: int, n_neighbors: int) -> None:
    """What cuML 26.10's ``cuml.manifold.utils.extract_knn_graph`` checks of a tuple (indices, distances)."""
    indices, distances = knn_graph
    if indices.shape[0] != n_samples or indices.shape != distances.shape:
        raise ValueError(f"Expected indices and distances to have shape=(n_samples, n_neighbors), got "
                         f"{indices.shape}, {distances.shape}")
    if not (indices[:, 0] == np.arange(n_samples)).all():
        raise ValueError("Expected indices and distances to include self references")
    if indices.shape[1] < n_neighbors:
        raise ValueError(f"Precomputed KNN data has {indices.shape[1]} neighbors per sample, but {n_neighbors=}")


class FakeTSNE:
    """cuML 26.10's ``TSNE`` signature (keyword names are matched against it), recording each fit."""

    calls: list[dict[str, Any]] = []

    def __init__(self, *, n_components=2, perplexity=30.0, early_exaggeration=12.0, late_exaggeration=1.0,
                 learning_rate=200.0, max_iter=1000, n_iter_without_progress=300, min_grad_norm=1e-07,
                 metric="euclidean", metric_params=None, init="random", random_state=None, method="fft", angle=0.5,
                 n_neighbors=90, perplexity_max_iter=100, exaggeration_iter=250, pre_momentum=0.5, post_momentum=0.8,
                 learning_rate_method="adaptive", square_distances=True, precomputed_knn=None, verbose=False,
                 output_type=None) -> None:
        self.kwargs = {k: v for k, v in locals().items() if k != "self"}

    def fit_transform(self, X: Any, y: Any = None, *, knn_graph: Any = None) -> np.ndarray:
        if knn_graph is not None:
            _check_knn_graph(knn_graph, X.shape[0], self.kwargs["n_neighbors"])
        FakeTSNE.calls.append({"kwargs": self.kwargs, "X": X, "knn_graph": knn_graph})
        self.n_iter_ = self.kwargs.get("max_iter", 1000)
        return np.random.default_rng(0).normal(size=(X.shape[0], 2)).astype(np.float32)


class FakeUMAP(FakeTSNE):
    """The part of cuML 26.10's ``UMAP`` signature the backend uses."""

    def __init__(self, *, n_neighbors=15, n_components=2, metric="euclidean", n_epochs=None, learning_rate=1.0,
                 min_dist=0.1, init="spectral", random_state=None, build_algo="auto", verbose=False,
                 output_type=None) -> None:
        self.kwargs = {k: v for k, v in locals().items() if k != "self"}


@pytest.fixture
def stand_in_cuml(monkeypatch, tmp_path):
    """``cuml`` 26.10 (``cuml.manifold.TSNE``/``UMAP`` recording their calls) and ``rmm``; NumPy as CuPy."""
    cuml = types.ModuleType("cuml")
    cuml.__version__ = "26.10.00"
    manifold = types.ModuleType("cuml.manifold")
    manifold.TSNE, manifold.UMAP = FakeTSNE, FakeUMAP
    cuml.manifold = manifold
    rmm, resources = fake_rmm()
    for name, module in (("cuml", cuml), ("cuml.manifold", manifold), ("rmm", rmm), ("rmm.mr", rmm.mr)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(xpmod, "cupy_unavailable_reason", lambda: None)
    monkeypatch.setattr(xpmod, "_cupy", lambda: np)
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path))
    gpu_mod.forget_probes()
    FakeTSNE.calls = []
    yield resources
    gpu_mod.forget_probes()


def decaying_states(n: int, d: int = 120, seed: int = 0) -> np.ndarray:
    """States whose spectrum decays like extracted LSTM states' (50 components keep well over 90 %)."""
    rng = np.random.default_rng(seed)
    scales = 1.0 / (1.0 + np.arange(d))
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    centres = rng.normal(scale=3.0, size=(5, d)) * scales
    return (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d)) * scales) @ basis.T


def test_cuml_gets_column_major_states_an_approximate_graph_and_no_seed(stand_in_cuml):
    x = decaying_states(3000).astype(np.float32)
    est = CumlTSNE(neighbors="approximate", max_iter=300, random_state=0).fit(x)
    (call,) = [c for c in FakeTSNE.calls if c["X"].shape[0] == 3000]
    data, (indices, distances) = call["X"], call["knn_graph"]
    assert data.flags.f_contiguous and data.dtype == np.float32 and data.shape == (3000, 50)
    assert call["kwargs"]["random_state"] is None and est.deterministic_ is False  # fast path, unseeded
    k = call["kwargs"]["n_neighbors"]  # cuML counts each state itself among its neighbours, first
    assert indices.shape == distances.shape == (3000, k) and indices.dtype == np.int64
    assert np.all(distances[:, 0] == 0) and np.all(np.diff(distances, axis=1) >= -1e-3)
    exact, _ = kneighbors(np.ascontiguousarray(data), k - 1)
    recall = np.mean([len(set(a) & set(b)) / (k - 1) for a, b in zip(indices[:, 1:], exact, strict=True)])
    assert recall > 0.9
    assert est.neighbors_ == "approximate" and est.neighbor_seconds_ > 0 and est.input_dims_ == 50
    assert [type(r).__name__ for r in stand_in_cuml] == ["CudaMemoryResource", "CudaAsyncMemoryResource"]


def test_the_graph_is_cumls_own_below_the_threshold_and_the_seed_only_when_deterministic(stand_in_cuml):
    x = decaying_states(600).astype(np.float32)
    est = CumlTSNE(max_iter=300, random_state=7, deterministic=True).fit(x)
    call = FakeTSNE.calls[-1]
    assert call["knn_graph"] is None and est.neighbors_ == "exact" and 600 < APPROXIMATE_NEIGHBORS_FROM
    assert call["kwargs"]["random_state"] == 7 and est.deterministic_ is True  # cuML >= 26.08: the slow path
    assert call["X"].flags.f_contiguous
    assert CumlTSNE(pca_components=None).reduce(x).flags.f_contiguous  # not reduced: still column-major
    assert CumlTSNE().uses_approximate_neighbors(APPROXIMATE_NEIGHBORS_FROM)
    assert not CumlTSNE(neighbors="exact").uses_approximate_neighbors(10**7)
    assert not CumlTSNE(metric="cosine", neighbors="approximate").uses_approximate_neighbors(10**7)


def test_cuml_umap_is_unseeded_by_default(stand_in_cuml):
    x = decaying_states(400).astype(np.float32)
    fast = make_backend("cuml-umap", random_state=0).fit(x)
    assert FakeTSNE.calls[-1]["kwargs"]["random_state"] is None and FakeTSNE.calls[-1]["kwargs"]["build_algo"] == "auto"
    assert fast.deterministic_ is False
    seeded = make_backend("cuml-umap", random_state=0, deterministic=True).fit(x)
    assert FakeTSNE.calls[-1]["kwargs"]["random_state"] == 0 and seeded.neighbors_ == "brute_force_knn"


def test_deterministic_reaches_only_the_backends_that_take_it(stand_in_cuml):
    """Asking auto for reproducible GPU maps must not make the CPU fallback refuse the parameter."""
    x = decaying_states(300, d=8).astype(np.float32)
    params = {"deterministic": True, "max_iter": 60, "early_exaggeration_iter": 30}
    auto = AutoProjection(method="tsne", candidates=("cuml", "opentsne"), params=params, random_state=3).fit(x)
    assert auto.backend_used_ == "cuml" and auto.params_used_["deterministic"] is True
    cpu = AutoProjection(method="tsne", candidates=("opentsne",), params=params, random_state=3).fit(x)
    assert cpu.backend_used_ == "opentsne" and "deterministic" not in cpu.params_used_
