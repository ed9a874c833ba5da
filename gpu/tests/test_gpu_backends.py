"""GPU projection backends for real: cuML t-SNE and UMAP, tsnecuda when a working build is installed, and ``auto``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.compute.projection import AutoProjection, make_backend, unavailable_reason
from rnnpanel.errors import BackendUnavailable

from .conftest import requires_cuda, requires_cupy

pytestmark = [pytest.mark.gpu]


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


@requires_cuda
@pytest.mark.parametrize("name", ["cuml", "cuml-umap", "tsnecuda"])
def test_gpu_backend_fits_from_a_cuda_tensor(name, blobs):
    require(name)
    x, labels = blobs
    est = make_backend(name, random_state=0).fit(torch.from_numpy(x).cuda())
    assert est.embedding_.shape == (2100, 2) and est.embedding_.dtype == np.float32
    assert np.isfinite(est.embedding_).all() and separates(est.embedding_, labels) > 0.95


@requires_cupy
def test_cuml_umap_transform_places_new_points(blobs):
    require("cuml-umap")
    x, _ = blobs
    est = make_backend("cuml-umap", random_state=0).fit(x[:1500])
    placed = est.transform(x[1500:])
    assert placed.shape == (600, 2) and np.isfinite(placed).all()


@requires_cupy
def test_auto_prefers_cuml_then_tsnecuda(blobs):
    x, labels = blobs
    auto = AutoProjection(method="tsne", random_state=0).fit(x, labels)
    working = [n for n in ("cuml", "tsnecuda") if unavailable_reason(n) is None]
    if working:
        assert auto.backend_used_ == working[0]
    else:
        assert auto.backend_used_ == "opentsne" and {"tsnecuda", "cuml"} <= set(auto.skipped_)
    assert separates(auto.embedding_, labels) > 0.95


@requires_cupy
def test_cuml_reports_its_own_iterations_and_rates(blobs):
    require("cuml")
    x, _ = blobs
    est = make_backend("cuml", max_iter=400).fit(x)
    assert 0 < est.n_iter_ <= 400 and est.post_learning_rate_ == 2 * est.learning_rate_
    assert est.deterministic_ is False and est.input_dims_ == 32  # 32 columns: nothing to reduce


@requires_cupy
def test_cuml_reduces_wide_states_on_the_device():
    require("cuml")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3000, 10)) @ rng.normal(size=(10, 256)) + 0.01 * rng.normal(size=(3000, 256))).astype(
        np.float32
    )
    est = make_backend("cuml").fit(x)
    assert est.input_dims_ == 50 and est.pca_variance_kept_ > 0.99 and np.isfinite(est.embedding_).all()


def test_tsnecuda_probe_runs_in_a_child_process_and_is_cached(tmp_path, monkeypatch):
    """Whatever the build does (work, raise, or end its process), this process survives and remembers the verdict
    of the build (a failure of the moment, such as out of memory, is not written to disk)."""
    from rnnpanel.compute.projection import forget_probes
    from rnnpanel.compute.projection import gpu as gpu_mod

    try:
        import tsnecuda  # noqa: F401
    except Exception:  # noqa: BLE001 - absent or broken at import: nothing to probe
        pytest.skip("tsnecuda is not installed (or fails to import)")
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path))
    forget_probes()
    first = unavailable_reason("tsnecuda")
    if "tsnecuda" not in gpu_mod._read_verdicts():  # only a working build or one that does not load is written
        assert first is not None and not gpu_mod.is_lasting_failure(first)
        forget_probes()
        return
    gpu_mod._probe_results.clear()
    assert unavailable_reason("tsnecuda") == (
        first if first is None else first + " (cached verdict; forget_probes() to probe again)"
    )
    forget_probes()


@requires_cuda
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


@requires_cuda
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


@requires_cuda
def test_cuda_batches_are_larger_and_give_the_same_states():
    from rnnpanel.compute.device import default_batch_size
    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models import ModelConfig, RecurrentClassifier

    assert default_batch_size("cuda") >= 1024 and default_batch_size("cpu") == 256
    model = RecurrentClassifier(ModelConfig(cell="lstm", vocab_size=100, n_classes=2, embedding_dim=8,
                                            hidden_size=16, num_layers=1)).eval()
    rng = np.random.default_rng(1)
    sequences = [rng.integers(2, 100, size=int(rng.integers(1, 30))).tolist() for _ in range(3000)]
    big = extract_states(model, sequences, device="cuda")  # default batch: one or two batches, pinned copies
    small = extract_states(model, sequences, device="cuda", batch_size=64)
    np.testing.assert_allclose(big.layers[0]["c"], small.layers[0]["c"], atol=1e-5)
    np.testing.assert_array_equal(big.predictions, small.predictions)


@requires_cuda
def test_auto_takes_a_cuda_tensor_to_pca_with_or_without_cupy(blobs):
    x, _ = blobs
    auto = AutoProjection(method="pca").fit(torch.from_numpy(x).cuda())
    assert auto.backend_used_ == "pca" and auto.estimator_.device_.startswith("cuda")
