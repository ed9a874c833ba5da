"""The array namespace on CuPy.

DLPack hand-over, step distances, neighbours, metrics and PCA equal their CPU results.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness as sk_trustworthiness

from rnnpanel.compute.distances import step_distances
from rnnpanel.compute.metrics import projection_quality, trustworthiness
from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection import make_backend, place_by_neighbors
from rnnpanel.compute.xp import (
    array_namespace,
    asarray,
    is_gpu_array,
    to_numpy,
    to_torch,
)

from .conftest import requires_cuda, requires_cupy

pytestmark = [pytest.mark.gpu, requires_cupy]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(4, 24))
    labels = rng.integers(0, 4, size=1500)
    x = (centers[labels] + rng.normal(size=(1500, 24))).astype(np.float32)
    return x, labels


@requires_cuda
def test_cuda_tensor_is_shared_with_cupy_through_dlpack():
    import cupy

    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(4, 3)
    view = asarray(t)
    assert isinstance(view, cupy.ndarray) and array_namespace(t) is cupy and is_gpu_array(t)
    assert int(view.data.ptr) == int(t.data_ptr())
    t[0, 0] = 42.0
    torch.cuda.synchronize()
    assert float(view[0, 0]) == 42.0
    back = to_torch(view)
    assert back.device.type == "cuda" and int(back.data_ptr()) == int(t.data_ptr())
    np.testing.assert_array_equal(to_numpy(view), t.cpu().numpy())


@requires_cuda
def test_mixing_devices_is_refused():
    with pytest.raises(ValueError, match="different devices"):
        array_namespace(np.zeros(2), torch.zeros(2, device="cuda"))


@requires_cuda
def test_step_distances_gpu_equal_cpu(data):
    x, _ = data
    offsets = np.array([0, 10, 10, 400, 1499, 1500])
    gpu = step_distances(torch.from_numpy(x).cuda(), offsets, chunk_rows=97)
    np.testing.assert_allclose(to_numpy(gpu), step_distances(x, offsets), rtol=1e-5, equal_nan=True)


def test_neighbors_gpu_equal_cpu(data):
    import cupy

    x, _ = data
    idx_gpu, d_gpu = kneighbors(cupy.asarray(x), 8, max_chunk_bytes=1 << 20)
    idx_cpu, d_cpu = kneighbors(x, 8)
    assert np.mean(to_numpy(idx_gpu) == idx_cpu) > 0.999
    np.testing.assert_allclose(to_numpy(d_gpu), d_cpu, rtol=1e-4, atol=1e-4)


def test_metrics_gpu_equal_sklearn_and_cpu(data):
    import cupy

    x, labels = data
    y = make_backend("pca", device="cpu").fit_transform(x)
    xs, ys = x[:600], y[:600]
    assert trustworthiness(cupy.asarray(xs), cupy.asarray(ys), 10) == pytest.approx(
        sk_trustworthiness(xs, ys, n_neighbors=10), abs=1e-9)
    cpu = projection_quality(x, y, labels, max_points=800)
    gpu = projection_quality(cupy.asarray(x), cupy.asarray(y), cupy.asarray(labels), max_points=800)
    for key in ("trustworthiness", "knn_preservation", "neighborhood_hit"):
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-6)


@requires_cuda
def test_pca_on_cuda_matches_cpu(data):
    x, _ = data
    gpu = make_backend("pca", device="cuda").fit(torch.from_numpy(x).cuda())
    cpu = make_backend("pca", device="cpu").fit(x)
    assert gpu.device_.startswith("cuda")
    np.testing.assert_allclose(gpu.embedding_, cpu.embedding_, rtol=1e-4, atol=1e-3)


def test_place_by_neighbors_on_gpu(data):
    import cupy

    x, _ = data
    emb = make_backend("pca", device="cpu").fit_transform(x)
    gpu = place_by_neighbors(cupy.asarray(x[:1000]), emb[:1000], cupy.asarray(x[1000:]), k=5)
    cpu = place_by_neighbors(x[:1000], emb[:1000], x[1000:], k=5)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-5)


def test_neighbors_with_many_exact_duplicates_are_identical_on_gpu_and_cpu():
    """More than k + 8 copies of a state (shared h_1): the threshold selection gives CuPy and NumPy one answer."""
    import cupy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    x[rng.choice(2000, 300, replace=False)] = x[7]
    for chunk in (1 << 16, 1 << 28):
        idx_gpu, d_gpu = kneighbors(cupy.asarray(x), 10, max_chunk_bytes=chunk)
        idx_cpu, d_cpu = kneighbors(x, 10, max_chunk_bytes=chunk)
        np.testing.assert_array_equal(to_numpy(idx_gpu), idx_cpu)
        np.testing.assert_allclose(to_numpy(d_gpu), d_cpu, atol=1e-5)


def test_principal_axes_on_cupy_equal_numpy(data):
    import cupy

    from rnnpanel.compute.projection.pca import principal_axes, project_on_axes

    x, _ = data
    mean_c, comps_c, kept_c = principal_axes(cupy.asarray(x), 5)
    mean_n, comps_n, kept_n = principal_axes(x, 5)
    np.testing.assert_allclose(to_numpy(comps_c), comps_n, atol=1e-4)
    assert kept_c == pytest.approx(kept_n, rel=1e-5)
    np.testing.assert_allclose(to_numpy(project_on_axes(cupy.asarray(x), mean_c, comps_c)),
                               project_on_axes(x, mean_n, comps_n), atol=1e-3)
