"""GPU projection backends for real: cuML t-SNE and UMAP, tsnecuda when a working build is installed, and ``auto``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.compute.projection import AutoProjection, make_backend, unavailable_reason
from rnnpanel.errors import BackendUnavailable

from .conftest import requires_cuda

pytestmark = [pytest.mark.gpu, requires_cuda]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8, size=(3, 32))
    labels = np.repeat(np.arange(3), 700)
    return (centers[labels] + rng.normal(size=(2100, 32))).astype(np.float32), labels


def separates(emb: np.ndarray, labels: np.ndarray) -> float:
    centroids = np.stack([emb[labels == c].mean(axis=0) for c in np.unique(labels)])
    nearest = np.argmin(((emb[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    return float(np.mean(nearest == labels))


def require(name: str) -> None:
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(f"{name} cannot run on this machine: {reason}")


@pytest.mark.parametrize("name", ["cuml", "cuml-umap", "tsnecuda"])
def test_gpu_backend_fits_from_a_cuda_tensor(name, blobs):
    require(name)
    x, labels = blobs
    est = make_backend(name, random_state=0).fit(torch.from_numpy(x).cuda())
    assert est.embedding_.shape == (2100, 2) and est.embedding_.dtype == np.float32
    assert np.isfinite(est.embedding_).all() and separates(est.embedding_, labels) > 0.95


def test_cuml_umap_transform_places_new_points(blobs):
    require("cuml-umap")
    x, _ = blobs
    est = make_backend("cuml-umap", random_state=0).fit(x[:1500])
    placed = est.transform(x[1500:])
    assert placed.shape == (600, 2) and np.isfinite(placed).all()


def test_auto_prefers_a_working_gpu_backend(blobs):
    x, labels = blobs
    auto = AutoProjection(method="tsne", random_state=0).fit(x, labels)
    working = [n for n in ("tsnecuda", "cuml") if unavailable_reason(n) is None]
    if working:
        assert auto.backend_used_ == working[0]
    else:
        assert auto.backend_used_ == "opentsne" and {"tsnecuda", "cuml"} <= set(auto.skipped_)
    assert separates(auto.embedding_, labels) > 0.95


def test_the_public_cuda_10_tsnecuda_wheel_is_detected_as_broken():
    """tsnecuda installed but not working (the 3.0.1 wheel) must be unavailable with the library's error."""
    try:
        import tsnecuda  # noqa: F401
    except ImportError:
        pytest.skip("tsnecuda is not installed")
    reason = unavailable_reason("tsnecuda")
    if reason is None:
        pytest.skip("this tsnecuda build works")
    with pytest.raises(BackendUnavailable):
        make_backend("tsnecuda").fit(np.zeros((50, 3), dtype=np.float32) + np.arange(50)[:, None])
    assert reason


def test_cuda_extraction_matches_cpu():
    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models import ModelConfig, RecurrentClassifier

    gen = torch.Generator().manual_seed(0)
    config = ModelConfig(cell="lstm", vocab_size=200, n_classes=2, embedding_dim=16, hidden_size=32, num_layers=2)
    model = RecurrentClassifier(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    model.eval()
    rng = np.random.default_rng(0)
    sequences = [rng.integers(2, 200, size=int(rng.integers(1, 60))).tolist() for _ in range(64)]
    cpu = extract_states(model, sequences, device="cpu")
    gpu = extract_states(model, sequences, device="cuda")
    for a, b in zip(cpu.layers, gpu.layers, strict=True):
        for kind in a:
            np.testing.assert_allclose(b[kind], a[kind], atol=1e-4)
    np.testing.assert_allclose(gpu.ep, cpu.ep, atol=1e-4)
