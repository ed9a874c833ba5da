"""Chunked exact k-NN against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.compute.neighbors import kneighbors, smallest_columns


def brute(data: np.ndarray, queries: np.ndarray, k: int, exclude_self: bool):
    d = np.linalg.norm(queries[:, None, :].astype(np.float64) - data[None, :, :], axis=2)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@pytest.mark.parametrize("max_chunk_bytes", [1, 4096, 1 << 28])
def test_self_neighbors_match_brute_force(max_chunk_bytes):
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


def lexicographic_reference(data: np.ndarray, queries: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    """The k nearest by (exact distance, index): np.lexsort with the index as the last resort."""
    d = np.linalg.norm(queries[:, None, :].astype(np.float64) - data[None, :, :], axis=2)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    cols = np.broadcast_to(np.arange(data.shape[0]), d.shape)
    return np.stack([np.lexsort((c, row))[:k] for c, row in zip(cols, d, strict=True)])


def with_duplicates(n_dup: int, n_other: int, dims: int = 16, seed: int = 0) -> np.ndarray:
    """``n_dup`` exact copies of one state scattered among ``n_other`` distinct ones (like shared h₁)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_dup + n_other, dims)).astype(np.float32)
    dup_rows = rng.choice(n_dup + n_other, size=n_dup, replace=False)
    x[dup_rows] = x[dup_rows[0]]
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_chunk_bytes", [1, 1 << 28])
def test_many_exact_duplicates_are_ordered_by_index(max_chunk_bytes, seed):
    """More than k + 8 copies of one point: the spare candidates cannot absorb the ties, the threshold must."""
    k = 10
    x = with_duplicates(30, 39, seed=seed)  # 30 > k + 8 duplicates among 69 rows
    idx, dist = kneighbors(x, k, max_chunk_bytes=max_chunk_bytes)
    np.testing.assert_array_equal(idx, lexicographic_reference(x, x, k, exclude_self=True))
    _, first, counts = np.unique(x, axis=0, return_index=True, return_counts=True)
    dup = np.flatnonzero((x == x[first[counts == 30][0]]).all(axis=1))
    assert np.all(dist[dup] == 0) and np.all(np.isin(idx[dup], dup))


def test_duplicates_seen_from_outside_are_ordered_by_index():
    x = with_duplicates(40, 25, seed=3)
    q = np.vstack([x[:5] + 0.01, x[5:8]])
    idx, _ = kneighbors(x, 12, queries=q, max_chunk_bytes=4096)
    np.testing.assert_array_equal(idx, lexicographic_reference(x, q, 12, exclude_self=False))


def test_smallest_columns_takes_ties_by_lower_index():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, size=(50, 40)).astype(np.float32)  # many ties at every threshold
    for m in (1, 7, 23, 40):
        got = smallest_columns(np, values, m)
        ref = np.sort(np.stack([np.lexsort((np.arange(40), row))[:m] for row in values]), axis=1)
        np.testing.assert_array_equal(got, ref)
