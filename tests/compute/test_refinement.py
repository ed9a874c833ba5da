"""The bounded-memory refinement of a placed t-SNE map against openTSNE's refinement of the same map."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.compute.metrics import projection_quality
from rnnpanel.compute.projection import ScaledProjection, make_backend
from rnnpanel.compute.projection.placement import RepulsionField, knn_graph, reduce_rows, refine
from rnnpanel.compute.projection.refinement import attraction, knn_graph_int32, refine_streamed, reverse_graph
from tests.compute.test_projection_scale import _clusters


@pytest.fixture(scope="module")
def placed_map():
    """A t-SNE map of 2,000 clustered states, 600 fitted and the rest placed, and the k-NN graph of all."""
    x, y = _clusters(n_per=250, n_clusters=8, dims=30, seed=2)
    params = {"random_state": 0, "max_iter": 300, "n_jobs": 1}
    full = ScaledProjection(make_backend("opentsne", **params), max_fit=None).fit(x, y)
    part = ScaledProjection(make_backend("opentsne", **params), max_fit=600, n_probe=4, random_state=0,
                            n_jobs=1).fit(x, y)
    reduced = reduce_rows(part.placer_, x)
    return x, y, full.embedding_, part.embedding_, reduced


def test_the_int32_graph_is_the_ivf_graph_the_placement_builds(placed_map):
    *_, reduced = placed_map
    graph = knn_graph_int32(reduced.copy(), 15, n_probe=4, random_state=0)
    assert graph.dtype == np.int32 and graph.shape == (reduced.shape[0], 15)
    np.testing.assert_array_equal(graph, knn_graph(reduced.copy(), 15, n_probe=4, random_state=0))
    assert not (graph == np.arange(graph.shape[0])[:, None]).any()      # never a point's own neighbour


def test_attraction_sums_the_symmetrised_graph_both_ways():
    rng = np.random.default_rng(0)
    y = rng.normal(scale=3, size=(40, 2))
    graph = np.stack([rng.choice(np.delete(np.arange(40), i), 5, replace=False) for i in range(40)]).astype(np.int32)
    a = np.zeros((40, 40))
    np.put_along_axis(a, graph, 1.0, axis=1)
    p = a + a.T                                                # a mutual pair counts twice
    diff = y[:, None, :] - y[None, :, :]
    w = 1.0 / (1.0 + (diff**2).sum(-1))
    expected = np.einsum("ij,ijc->ic", p * w, diff)
    indptr, sources = reverse_graph(graph)
    for j in range(40):                                         # the states that have j as a neighbour
        np.testing.assert_array_equal(sources[indptr[j]:indptr[j + 1]], np.flatnonzero(a[:, j]))
    np.testing.assert_allclose(attraction(y, graph, indptr, sources), expected, rtol=1e-10, atol=1e-12)


def test_a_refreshed_repulsion_field_is_the_field_of_the_new_points():
    rng = np.random.default_rng(1)
    first, moved = rng.normal(scale=4, size=(500, 2)), rng.normal(scale=3, size=(500, 2))
    field = RepulsionField(first, margin=20.0)
    assert field.contains(moved)
    field.deposit(moved)
    d2 = ((moved[:, None, :] - moved[None, :, :]) ** 2).sum(-1)
    z = (1.0 / (1.0 + d2)).sum() - moved.shape[0]
    diff = moved[:, None, :] - moved[None, :, :]
    direct = moved.shape[0] * np.einsum("mn,mnc->mc", (1.0 / (1.0 + d2)) ** 2, diff) / z
    grid = np.stack(field.force(moved), axis=1)
    error = np.linalg.norm(grid - direct, axis=1) / np.linalg.norm(direct, axis=1).max()
    assert error.max() < 0.15 and np.median(error) < 0.03
    assert not field.contains(moved + 100.0)


def test_streamed_refinement_reaches_the_quality_of_opentsnes_refinement(placed_map):
    """Same graph, same start, same optimiser: only the repulsion's interpolation differs (a bilinear
    grid against FIt-SNE's polynomials), so the maps differ point by point but keep the same neighbourhoods."""
    x, y, full, placed, reduced = placed_map
    graph = knn_graph_int32(reduced.copy(), 30, n_probe=4, random_state=0)
    reference = refine(placed, graph.astype(np.int64), n_iter=150, n_jobs=1, random_state=0)
    streamed = refine_streamed(placed, graph, n_iter=150, n_jobs=1)
    assert streamed.dtype == np.float32 and streamed.shape == placed.shape and np.isfinite(streamed).all()
    q = {name: projection_quality(x, e, y, max_points=None) for name, e in
         (("full", full), ("placed", placed), ("reference", reference), ("streamed", streamed))}
    for metric, close in (("knn_preservation", 0.02), ("trustworthiness", 0.01), ("neighborhood_hit", 0.01)):
        assert abs(q["streamed"][metric] - q["reference"][metric]) < close, metric
    for metric in ("trustworthiness", "neighborhood_hit"):
        assert q["streamed"][metric] > q["full"][metric] - 0.01, metric
    assert q["streamed"]["knn_preservation"] > q["placed"]["knn_preservation"] + 0.02


def test_streamed_refinement_does_not_depend_on_threads_and_can_be_stopped(placed_map):
    *_, placed, reduced = placed_map
    graph = knn_graph_int32(reduced.copy(), 10, n_probe=4, random_state=0)
    one = refine_streamed(placed, graph, n_iter=20, n_jobs=1)
    np.testing.assert_array_equal(one, refine_streamed(placed, graph, n_iter=20, n_jobs=2))
    seen = []
    stopped = refine_streamed(placed, graph, n_iter=20, n_jobs=1, progress=lambda done, total: seen.append(done) or
                              done == 5)
    assert seen == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(stopped, refine_streamed(placed, graph, n_iter=5, n_jobs=1))
    with pytest.raises(ValueError, match="needs \\(N, 2\\)"):
        refine_streamed(placed[:10], graph, n_iter=1)
