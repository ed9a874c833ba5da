"""Chunked exact k-NN against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.compute.neighbors import kneighbors


def brute(data: np.ndarray, queries: np.ndarray, k: int, exclude_self: bool):
    d = np.linalg.norm(queries[:, None, :].astype(np.float64) - data[None, :, :], axis=2)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@pytest.mark.parametrize("max_chunk_bytes", [1, 4096, 1 << 28])
def test_self_neighbours_match_brute_force(max_chunk_bytes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    idx, dist = kneighbors(x, 7, max_chunk_bytes=max_chunk_bytes)
    ref_idx, ref_dist = brute(x, x, 7, exclude_self=True)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)
    assert idx.dtype == np.int64


def test_queries_against_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    q = rng.normal(size=(31, 5))
    idx, dist = kneighbors(x, 4, queries=q, max_chunk_bytes=2048)
    ref_idx, ref_dist = brute(x, q, 4, exclude_self=False)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10)


def test_ties_are_broken_by_lower_index_and_k_can_be_all():
    x = np.array([[0.0], [1.0], [1.0], [-1.0], [5.0]])
    idx, dist = kneighbors(x, 4)
    np.testing.assert_array_equal(idx[0], [1, 2, 3, 4])
    np.testing.assert_allclose(dist[0], [1, 1, 1, 5])
    idx, _ = kneighbors(x, 5, queries=np.array([[1.0]]))
    np.testing.assert_array_equal(idx[0], [1, 2, 0, 3, 4])


def test_integer_data_is_accepted():
    x = np.array([[0, 0], [0, 1], [5, 5]])
    idx, _ = kneighbors(x, 1)
    np.testing.assert_array_equal(idx[:, 0], [1, 0, 1])


@pytest.mark.parametrize("k", [0, 5])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match="k must be between 1 and 4"):
        kneighbors(np.zeros((5, 2)), k)


def test_query_width_must_match():
    with pytest.raises(ValueError, match="queries must be"):
        kneighbors(np.zeros((5, 2)), 1, queries=np.zeros((3, 3)))
