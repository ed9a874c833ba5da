"""Scale strategy: stratified sample, placement by transform or by k-NN, and the fitted mask."""

from __future__ import annotations

import concurrent.futures as cf
from typing import ClassVar

import numpy as np
import pytest

from rnnpanel.compute.metrics import projection_quality
from rnnpanel.compute.projection import (
    AutoProjection,
    ScaledProjection,
    make_backend,
    place_by_neighbors,
    stratified_sample,
)
from rnnpanel.compute.projection.pca import PCAProjection
from rnnpanel.compute.projection.placement import NeighborPlacer, RepulsionField, polish, weighted_geometric_median


class SmallPCA(PCAProjection):
    """PCA with a tiny documented limit, so "auto" subsampling can be exercised quickly."""

    name: ClassVar[str] = "small-pca"
    max_fit_size: ClassVar[int | None] = 50


def test_stratified_sample_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_sample(labels, 100, random_state=0)
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    np.testing.assert_array_equal(idx, stratified_sample(labels, 100, random_state=0))
    assert not np.array_equal(idx, stratified_sample(labels, 100, random_state=1))


def test_stratified_sample_gives_every_class_a_point_and_exact_size():
    labels = np.array([0] * 997 + [1, 2, 3])
    idx = stratified_sample(labels, 10, random_state=0)
    assert len(idx) == 10 and set(labels[idx]) == {0, 1, 2, 3}
    idx = stratified_sample(np.array(["a", "b", "b"]), 3)
    assert idx.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="size must be between 1 and"):
        stratified_sample(labels, 0)


def test_small_samples_are_fitted_whole():
    x = np.random.default_rng(0).normal(size=(40, 4))
    scaled = ScaledProjection(SmallPCA()).fit(x)
    assert scaled.fitted_.all() and scaled.placement_ == "none" and scaled.n_fitted_ == 40


def test_auto_limit_fits_a_sample_and_places_the_rest_by_transform():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = np.repeat([0, 1], [150, 50])
    seen = []
    scaled = ScaledProjection(SmallPCA(progress=lambda f, m: seen.append(f)), random_state=0).fit(x, y)
    assert scaled.n_fitted_ == 50 and scaled.placement_ == "transform"
    assert np.bincount(y[scaled.fitted_]).tolist() == [38, 12]
    est = scaled.estimator_
    np.testing.assert_allclose(scaled.embedding_[scaled.fitted_], est.embedding_)
    np.testing.assert_allclose(scaled.embedding_[~scaled.fitted_], est.transform(x[~scaled.fitted_]), rtol=1e-5)
    assert seen[-1] == 1.0 and max(seen[:-2]) <= 0.85  # the fit fills 85 % of the bar, placing the rest


def test_backends_without_transform_place_by_neighbors():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8, size=(3, 10))
    y = np.repeat([0, 1, 2], 70)
    x = (centers[y] + rng.normal(size=(210, 10))).astype(np.float32)
    est = make_backend("sklearn", random_state=0, max_iter=250, perplexity=10)
    scaled = ScaledProjection(est, max_fit=90, random_state=0).fit(x, y)
    assert scaled.placement_ == "neighbors" and scaled.n_fitted_ == 90
    fitted_emb = scaled.embedding_[scaled.fitted_]
    placed = scaled.embedding_[~scaled.fitted_]
    nearest = np.argmin(np.linalg.norm(placed[:, None] - fitted_emb[None], axis=2), axis=1)
    assert np.mean(y[scaled.fitted_][nearest] == y[~scaled.fitted_]) > 0.95
    assert scaled.transform(x[:4]).shape == (4, 2)
    assert est.get_params()["max_iter"] == 250 and not hasattr(est, "embedding_")  # the given estimator is untouched


def test_max_fit_none_never_subsamples_and_bad_values_are_refused():
    x = np.random.default_rng(0).normal(size=(80, 3))
    assert ScaledProjection(SmallPCA(), max_fit=None).fit(x).fitted_.all()
    with pytest.raises(ValueError, match="max_fit must be"):
        ScaledProjection(SmallPCA(), max_fit=1).fit(x)


def test_auto_projection_records_fitted_and_placed_points():
    x = np.random.default_rng(0).normal(size=(120, 4))
    auto = AutoProjection(method="pca", max_fit=30, random_state=0).fit(x, np.arange(120) % 3)
    assert auto.n_fitted_ == 30 and (~auto.fitted_).sum() == 90 and auto.placement_ == "transform"


# -- placement of many points (IVF neighbours, robust centre, blocks on executors, on-disk input) --------


def _clusters(n_per: int = 300, n_clusters: int = 6, dims: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Separated clusters, each a 2-D patch embedded in ``dims`` dimensions (so a map can keep its neighbourhoods)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8, size=(n_clusters, dims))
    planes = rng.normal(size=(n_clusters, 2, dims))
    y = np.repeat(np.arange(n_clusters), n_per)
    patch = rng.normal(size=(y.size, 2))
    x = centers[y] + np.einsum("nk,nkd->nd", patch, planes[y]) + 0.05 * rng.normal(size=(y.size, dims))
    return x.astype(np.float32), y


def test_weighted_geometric_median_follows_the_majority_and_weights():
    pts = np.array([[[0, 0], [0, 0.1], [0.1, 0], [10, 10], [10, 10.1]]], dtype=np.float32)
    centre = weighted_geometric_median(pts, np.ones((1, 5), dtype=np.float32))
    assert np.linalg.norm(centre[0]) < 0.5  # three of five neighbours: not pulled to the mean (4, 4)
    heavy = weighted_geometric_median(pts, np.array([[1, 1, 1, 5, 5]], dtype=np.float32))
    assert np.linalg.norm(heavy[0] - [10, 10]) < 0.2


def test_place_by_neighbors_goes_to_the_robust_centre_of_the_k_nearest():
    ref = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    ref_emb = np.array([[0, 0], [1, 10], [2, 20], [100, 0], [110, 0]], dtype=np.float32)
    out = place_by_neighbors(ref, ref_emb, np.array([[1.1], [10.4]]), k=3)
    assert 100 <= out[1, 0] <= 110 and abs(out[1, 1]) < 0.5  # with its two near neighbours, not pulled to (2, 20)
    assert np.linalg.norm(out[0] - [1, 10]) < 1.0 and out.dtype == np.float32  # the nearest weighs most
    with pytest.raises(ValueError, match="reference_embedding has"):
        place_by_neighbors(ref, ref_emb[:2], ref)


def test_neighbor_placer_puts_points_in_their_cluster_of_the_map():
    x, y = _clusters()
    fit = np.arange(0, x.shape[0], 4)
    emb = np.stack([y[fit] * 10.0, np.zeros(fit.size)], axis=1) + np.random.default_rng(1).normal(size=(fit.size, 2))
    placer = NeighborPlacer(x[fit], emb, k=10, components=8, n_probe=4, random_state=0)
    placed = placer.place(x)
    assert placed.shape == (x.shape[0], 2) and placed.dtype == np.float32
    assert np.mean(np.abs(placed[:, 0] - y * 10.0) < 3) > 0.99


def test_scaled_tsne_polished_placement_keeps_more_neighbors_than_the_median_and_refining_closes_the_gap():
    x, y = _clusters(n_per=250, n_clusters=8, dims=30, seed=2)
    params = {"random_state": 0, "max_iter": 300, "n_jobs": 1}
    full = ScaledProjection(make_backend("opentsne", **params), max_fit=None).fit(x, y)
    kw = {"max_fit": 600, "n_probe": 4, "random_state": 0, "n_jobs": 1}
    median = ScaledProjection(make_backend("opentsne", **params), polish_iter=0, **kw).fit(x, y)
    part = ScaledProjection(make_backend("opentsne", **params), **kw).fit(x, y)
    refined = ScaledProjection(make_backend("opentsne", **params), refine_iter=50, **kw).fit(x, y)
    assert part.placement_ == "neighbors" and part.n_fitted_ == 600 and part.timings_["place"] > 0
    assert part.placer_.polish_iter == 50 and median.placer_.field_ is None
    assert refined.placement_ == "neighbors+refine" and refined.timings_["refine"] > 0
    np.testing.assert_array_equal(median.embedding_[part.fitted_], part.embedding_[part.fitted_])  # same fitted map
    placed = ~part.fitted_
    for sel in (placed, np.ones_like(placed)):
        a, m, b, c = (projection_quality(x[sel], e.embedding_[sel], y[sel], max_points=1000)
                      for e in (full, median, part, refined))
        for q in (m, b, c):
            assert q["neighborhood_hit"] > a["neighborhood_hit"] - 0.01
            assert q["trustworthiness"] > a["trustworthiness"] - 0.01
        # the median stacks points that share fitted neighbours; the polish spreads them by their own
        # neighbours (measured +0.047 placed, +0.041 all), the refinement of all points a little more
        assert b["knn_preservation"] > m["knn_preservation"] + 0.02
        assert c["knn_preservation"] >= b["knn_preservation"]
        assert c["knn_preservation"] > a["knn_preservation"] - 0.07
    assert part.transform(x[:5]).shape == (5, 2)


def test_repulsion_field_matches_the_direct_t_sne_repulsion():
    rng = np.random.default_rng(0)
    fitted = np.concatenate([rng.normal(size=(300, 2)) * 3, rng.normal(size=(200, 2)) + [15, 5]]).astype(np.float32)
    points = (rng.normal(size=(50, 2)) * 6).astype(np.float32)
    d2 = ((fitted[:, None, :] - fitted[None, :, :]) ** 2).sum(-1)
    z = (1.0 / (1.0 + d2)).sum() - fitted.shape[0]
    diff = points[:, None, :].astype(np.float64) - fitted[None, :, :]
    w = 1.0 / (1.0 + (diff**2).sum(-1))
    direct = fitted.shape[0] * np.einsum("mn,mnc->mc", w * w, diff) / z
    for spacing, worst in ((0.5, 0.15), (0.25, 0.04)):  # measured 0.11 and 0.03 of the largest force
        grid = np.stack(RepulsionField(fitted, spacing=spacing).force(points), axis=1)
        error = np.linalg.norm(grid - direct, axis=1) / np.linalg.norm(direct, axis=1).max()
        assert error.max() < worst and np.median(error) < worst / 5
    with pytest.raises(ValueError, match="needs a 2-D map"):
        RepulsionField(np.zeros((5, 3)))


def test_polish_spreads_points_by_their_own_neighbors_and_is_off_for_other_maps():
    anchors = np.array([[[0, 0], [4, 0]]] * 3, dtype=np.float32)  # three points between the same two fitted ones
    affinity = np.array([[1.0, 0.1], [1.0, 1.0], [0.1, 1.0]], dtype=np.float32)
    field = RepulsionField(np.array([[0, 0], [4, 0], [2, 8]], dtype=np.float32))
    start = np.full((3, 2), [2.0, 0.0], dtype=np.float32)  # stacked, as a median of shared neighbours would stack them
    moved = polish(start, anchors, affinity, field, 50)
    assert moved[0, 0] < moved[1, 0] < moved[2, 0]  # each drawn towards the neighbour it is most like
    x, y = _clusters(n_per=50)
    with pytest.raises(ValueError, match="polish_iter must be 0 or a positive"):
        NeighborPlacer(x[:40], np.zeros((40, 2)), polish_iter=-1)
    line = NeighborPlacer(x[:40], np.zeros((40, 1), dtype=np.float32), polish_iter=30)
    assert line.polish_iter == 0 and line.field_ is None and line.place(x[40:45]).shape == (5, 1)
    pca = ScaledProjection(SmallPCA(), placement="neighbors", random_state=0).fit(x, y)  # not t-SNE: no t-SNE polish
    assert pca.placement_ == "neighbors" and pca.placer_.polish_iter == 0 and pca.placer_.field_ is None


def _scaled(**kw):
    params = {"random_state": 0, "max_iter": 100, "n_jobs": 1}
    return ScaledProjection(make_backend("opentsne", **params), max_fit=300, n_probe=4, random_state=0,
                            block_size=256, **kw)


def test_executor_placement_equals_serial_placement():
    x, y = _clusters(n_per=200)
    serial = _scaled(n_jobs=1).fit(x, y)
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        pooled = _scaled(n_jobs=1).fit(x, y, executor=pool)
    threaded = _scaled(n_jobs=2).fit(x, y)  # its own pool of two threads
    np.testing.assert_array_equal(serial.fitted_, pooled.fitted_)
    np.testing.assert_allclose(pooled.embedding_, serial.embedding_, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(threaded.embedding_, serial.embedding_, rtol=1e-5, atol=1e-4)


def test_chunked_zarr_input_gives_the_same_map_as_memory(tmp_path):
    zarr = pytest.importorskip("zarr")
    x, y = _clusters(n_per=200)
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(100, x.shape[1]), dtype="f4")
    z[:] = x
    on_disk = _scaled(n_jobs=1).fit(z, y)
    in_memory = _scaled(n_jobs=1).fit(x, y)
    np.testing.assert_array_equal(on_disk.fitted_, in_memory.fitted_)
    np.testing.assert_allclose(on_disk.embedding_, in_memory.embedding_, rtol=1e-5, atol=1e-4)
    assert on_disk.timings_["read"] >= 0 and set(on_disk.timings_) == {"read", "fit", "place", "refine"}


def test_transform_placement_is_still_available_and_recorded():
    x, y = _clusters(n_per=100)
    scaled = _scaled(placement="transform").fit(x, y)
    assert scaled.placement_ == "transform" and scaled.placer_ is None
    with pytest.raises(ValueError, match="placement must be one of"):
        _scaled(placement="magic").fit(x, y)


def test_placement_on_a_dask_cluster_equals_serial_placement():
    distributed = pytest.importorskip("distributed")
    x, y = _clusters(n_per=200)
    serial = _scaled(n_jobs=1).fit(x, y)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        clustered = _scaled(n_jobs=1).fit(x, y, executor=client.get_executor())
    np.testing.assert_allclose(clustered.embedding_, serial.embedding_, rtol=1e-5, atol=1e-4)


def test_polish_on_cupy_matches_numpy():
    from rnnpanel.compute.xp import cupy_or_none

    cp = cupy_or_none()
    if cp is None:
        pytest.skip("needs CuPy and a CUDA device")
    rng = np.random.default_rng(0)
    fitted = (rng.normal(size=(400, 2)) * 5).astype(np.float32)
    anchors = fitted[rng.integers(0, 400, size=(300, 10))]
    affinity = rng.uniform(0.1, 1.0, size=(300, 10)).astype(np.float32)
    start = np.median(anchors, axis=1)
    cpu = polish(start, anchors, affinity, RepulsionField(fitted), 30)
    gpu = polish(cp.asarray(start), cp.asarray(anchors), cp.asarray(affinity), RepulsionField(cp.asarray(fitted)), 30)
    np.testing.assert_allclose(cp.asnumpy(gpu), cpu, atol=1e-2)  # float rounding may flip a gain


def test_placed_positions_stay_on_the_device_between_the_median_and_the_polish(monkeypatch):
    """One copy in (the rows) and one out (the positions) per placed block: the starting positions are not
    downloaded and uploaded again for the polish."""
    import rnnpanel.compute.projection.placement as placement_mod

    x, _ = _clusters(n_per=150)
    emb = PCAProjection(device="cpu").fit_transform(x[:600])
    placer = NeighborPlacer(x[:600], emb, k=5, components=10, polish_iter=10, random_state=0)
    expected = placer.place(x[600:])

    class Spy:  # NumPy standing in for CuPy's namespace, counting the copies made through it
        copies = 0

        def __getattr__(self, name):
            return getattr(np, name)

        def asarray(self, *args, **kwargs):
            Spy.copies += 1
            return np.asarray(*args, **kwargs)

    downloads = []
    real = placement_mod.to_numpy
    monkeypatch.setattr(placement_mod, "to_numpy", lambda a: downloads.append(a.shape) or real(a))
    placer.index.xp = Spy()
    placed = placer.place(x[600:])
    np.testing.assert_array_equal(placed, expected)
    assert downloads == [(300, 2)] and Spy.copies <= 2  # the rows (and their reduction handed to the index)


@pytest.mark.slow
def test_a_dask_cluster_receives_the_placer_once_not_with_every_task(monkeypatch):
    """The placer (IVF index and fitted sample: hundreds of MB at scale) is scattered to the workers once; the
    tasks get its future. Counted by how often this process pickles it, on two worker processes over loopback."""
    distributed = pytest.importorskip("distributed")
    from rnnpanel.compute.projection.placement import place_all

    x, _ = _clusters(n_per=200)
    emb = PCAProjection(device="cpu").fit_transform(x[:600])
    placer = NeighborPlacer(x[:600], emb, k=5, components=10, polish_iter=5, random_state=0)
    rows = np.arange(600, 1200)
    expected = place_all(placer, x, rows, block=50)
    pickled = []

    def counting(self, protocol):
        pickled.append(protocol)
        return object.__reduce_ex__(self, protocol)

    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                 dashboard_address="127.0.0.1:0") as cluster,
        distributed.Client(cluster) as client,
    ):
        monkeypatch.setattr(NeighborPlacer, "__reduce_ex__", counting, raising=False)
        placed = place_all(placer, x, rows, executor=client.get_executor(), block=50)
        monkeypatch.undo()
        n_workers = len(client.scheduler_info()["workers"])
    np.testing.assert_allclose(placed, expected, rtol=1e-5, atol=1e-4)  # the tasks had the placer
    # once by the client, and (the local cluster's scheduler runs in this process) at most once per worker it
    # forwards to; never once per task (12 blocks of 50 rows)
    assert n_workers == 2 and 1 <= len(pickled) <= 1 + n_workers, f"pickled {len(pickled)} times for 12 tasks"
