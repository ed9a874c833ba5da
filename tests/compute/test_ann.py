"""The IVF index: exact when every cell is probed, high recall on clustered data, k-means that finds clusters."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.compute.ann import IVFIndex, kmeans, smallest_k
from rnnpanel.compute.neighbors import kneighbors


def _blobs(n: int = 3000, dims: int = 16, centers: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=5, size=(centers, dims))
    return (c[rng.integers(0, centers, size=n)] + rng.normal(size=(n, dims))).astype(np.float32)


def test_smallest_k_gives_the_k_smallest_in_order():
    d = np.random.default_rng(0).random((50, 40)).astype(np.float32)
    idx, val = smallest_k(np, d.copy(), 5)
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1)[:, :5])
    np.testing.assert_allclose(val, np.sort(d, axis=1)[:, :5])


def test_probing_every_cell_is_exact_search():
    x = _blobs(800)
    index = IVFIndex(x[:600], n_cells=10, n_probe=10, random_state=0)
    idx, dist = index.query(x[600:], 7)
    ref_idx, ref_dist = kneighbors(x[:600], 7, queries=x[600:])
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)


def test_a_few_probes_find_most_true_neighbors_and_more_probes_find_more():
    x = _blobs(4000)
    exact, _ = kneighbors(x[:3000], 10, queries=x[3000:])

    def recall(n_probe: int) -> float:
        idx, _ = IVFIndex(x[:3000], n_probe=n_probe, random_state=0).query(x[3000:], 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact, strict=True)]))

    few, more = recall(6), recall(12)
    assert few > 0.8 and more > 0.98
    index = IVFIndex(x[:100], n_probe=2, random_state=0)
    with pytest.raises(ValueError, match="queries must be"):
        index.query(x[:5, :3], 2)


def test_kmeans_recovers_well_separated_centres():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [20, 0], [0, 20]], dtype=np.float32)
    x = np.concatenate([c + rng.normal(size=(200, 2)).astype(np.float32) for c in centres])
    found = kmeans(x, 3, n_iter=20, random_state=0)
    nearest = np.min(np.linalg.norm(found[:, None] - centres[None], axis=2), axis=0)
    assert np.all(nearest < 0.5)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 0)


def test_index_and_placement_on_cupy_match_numpy():
    from rnnpanel.compute.projection.placement import NeighborPlacer
    from rnnpanel.compute.xp import cupy_or_none

    cp = cupy_or_none()
    if cp is None:
        pytest.skip("needs CuPy and a CUDA device")
    x = _blobs(2000)
    emb = np.random.default_rng(0).normal(size=(1500, 2)).astype(np.float32)
    cpu = NeighborPlacer(x[:1500], emb, components=8, n_probe=4, random_state=0)
    gpu = NeighborPlacer(cp.asarray(x[:1500]), emb, components=8, n_probe=4, random_state=0)
    i_cpu, _ = cpu.neighbors(x[1500:])
    i_gpu, _ = gpu.neighbors(cp.asarray(x[1500:]))
    assert np.mean(cp.asnumpy(i_gpu) == i_cpu) > 0.95  # same cells and ranks up to float rounding
    np.testing.assert_allclose(gpu.place(cp.asarray(x[1500:])), cpu.place(x[1500:]), atol=1e-2)


def test_tiny_references_still_answer_k_neighbors():
    x = _blobs(60, dims=4)
    index = IVFIndex(x[:12], n_cells=6, n_probe=1, random_state=0)  # one probed cell holds fewer than k points
    idx, _ = index.query(x[12:], 10)
    np.testing.assert_array_equal(idx, kneighbors(x[:12], 10, queries=x[12:])[0])
    with pytest.raises(ValueError, match="k must be between"):
        index.query(x[12:], 13)


def test_an_index_that_takes_its_reference_reorders_it_in_place_and_answers_the_same(monkeypatch):
    import rnnpanel.compute.ann as ann

    monkeypatch.setattr(ann, "_BLOCK_BYTES", 3000 * 4 * 5)      # columns moved five at a time, rows in blocks
    x = _blobs(3000)
    copied = IVFIndex(x, n_probe=3, random_state=0)
    owned = x.copy()
    taken = IVFIndex(owned, n_probe=3, random_state=0, copy=False)
    assert taken.points is owned and not np.shares_memory(copied.points, x)
    for name in ("centroids", "order", "bounds", "points", "points_sq", "probes"):
        np.testing.assert_array_equal(getattr(taken, name), getattr(copied, name))
    for a, b in zip(copied.query(x[::7], 5), taken.query(x[::7], 5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nearest_centroid_is_the_brute_force_argmin_whatever_the_block(monkeypatch):
    import rnnpanel.compute.ann as ann

    rng = np.random.default_rng(3)
    points, centroids = rng.normal(size=(1000, 6)).astype(np.float32), rng.normal(size=(37, 6)).astype(np.float32)
    brute = np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(2), axis=1)
    whole = ann.nearest_centroid(np, points, centroids)
    monkeypatch.setattr(ann, "_ASSIGN_BYTES", 4 * 37 * 99)        # blocks of 99 rows, the last one short
    np.testing.assert_array_equal(ann.nearest_centroid(np, points, centroids), whole)
    assert np.mean(whole == brute) > 0.99                          # ties up to rounding aside


class CopySpy:
    """NumPy standing in for CuPy's namespace, counting the calls that would copy host arrays to the device."""

    def __init__(self) -> None:
        self.copies = 0

    def __getattr__(self, name: str):
        return getattr(np, name)

    def asarray(self, *args, **kwargs):
        self.copies += 1
        return np.asarray(*args, **kwargs)

    def array(self, *args, **kwargs):
        self.copies += 1
        return np.array(*args, **kwargs)


def test_smallest_k_above_the_argmin_rounds_partitions_and_sorts():
    d = np.random.default_rng(3).random((30, 200)).astype(np.float32)
    idx, val = smallest_k(np, d, 40)
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1, kind="stable")[:, :40])
    np.testing.assert_allclose(val, np.sort(d, axis=1)[:, :40])
    assert idx.dtype == np.int64


def test_a_query_copies_nothing_to_the_device_per_cell():
    """A cell's candidates are joined from slices of the index's own arrays: the number of copies through the
    namespace does not grow with the cells searched (was one upload of candidate positions per cell)."""
    x = _blobs(3600)
    index = IVFIndex(x[:3000], n_cells=60, n_probe=4, random_state=0)
    expected = index.query(x[3000:], 10)
    spy = CopySpy()
    index.xp = spy
    idx, dist = index.query(x[3000:], 10)
    np.testing.assert_array_equal(idx, expected[0])
    np.testing.assert_array_equal(dist, expected[1])
    assert spy.copies <= 1  # the queries themselves
    spy.copies = 0
    index.self_neighbors(30)
    assert spy.copies == 0
    wide = IVFIndex(x[:3000], n_cells=60, n_probe=12, random_state=0)  # more probes than slices joined at once
    expected = wide.query(x[3000:], 10), wide.self_neighbors(30)
    wide.xp = spy
    spy.copies = 0
    got = wide.query(x[3000:], 10), wide.self_neighbors(30)
    assert spy.copies <= 2  # the queries, and every cell's candidate positions once
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_the_self_graph_puts_each_point_first_then_its_nearest_others():
    x = _blobs(900)
    x[100:140] = x[99]  # 41 exact duplicates: more than k + 1, so some searches miss their own row
    exact_idx, exact_dist = kneighbors(x, 20)
    index = IVFIndex(x, n_cells=12, n_probe=12, random_state=0)  # every cell probed: exact
    idx, dist = index.self_neighbors(20)
    assert idx.shape == dist.shape == (900, 21) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx[:, 0], np.arange(900))
    assert np.all(dist[:, 0] == 0) and np.all(np.diff(dist, axis=1) >= -1e-4)
    assert np.all(idx[:, 1:] != np.arange(900)[:, None])
    tied = np.arange(99, 140)
    plain = np.flatnonzero(~np.isin(np.arange(900), tied) & ~np.isin(exact_idx, tied).any(axis=1))
    np.testing.assert_array_equal(idx[plain, 1:], exact_idx[plain])  # rows without ties: the exact neighbours
    np.testing.assert_allclose(dist[:, 1:], exact_dist, atol=2e-3)
    approx, _ = IVFIndex(x, random_state=0).self_neighbors(20)  # the default probes
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(approx[plain, 1:], exact_idx[plain], strict=True)])
    assert recall > 0.9
