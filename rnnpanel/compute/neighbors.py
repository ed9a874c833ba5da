"""Exact k-nearest neighbours in the original (hidden-state) space, chunked so memory stays bounded.

Used for the quality metrics, for placing points by k-NN interpolation and for the app's
"nearest neighbours of this state". Distances are Euclidean. Each chunk of queries is compared
with every reference point through the ``‖q‖² + ‖x‖² − 2 q·x`` expansion (one matrix product,
fast on BLAS or cuBLAS); the best candidates, plus a few spares, are then re-measured directly
so that the expansion's rounding cannot reorder near neighbours. Works on NumPy and CuPy.

Ties are frequent in hidden states (every sequence that starts with the same word has the same
h₁), so both steps order by (distance, index): the candidates are the smallest values *and,
among equal values, the lowest indices*, chosen by a threshold rather than by
``argpartition`` (which picks among ties arbitrarily on NumPy and by index on CuPy). So NumPy
and CuPy return the same neighbours, however many duplicates there are.
"""

from __future__ import annotations

from typing import Any

from rnnpanel.compute.xp import array_namespace, asarray

DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20
_SPARE_CANDIDATES = 8


def kneighbors(
    data: Any,
    k: int,
    *,
    queries: Any = None,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> tuple[Any, Any]:
    """The ``k`` nearest rows of ``data`` for every query row, nearest first.

    Without ``queries`` each row of ``data`` is its own query and is excluded from its own
    neighbours (the usual k-NN graph). Returns ``(indices (M, k) int64, distances (M, k))`` in
    the namespace of ``data``; ties are broken by the lower index, so results are deterministic.
    ``max_chunk_bytes`` bounds the size of one block of the distance matrix.
    """
    x = asarray(data)
    xp = array_namespace(x)
    if x.ndim != 2:
        raise ValueError(f"data must be a 2-D array (N, D), got shape {tuple(x.shape)}")
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(xp.float32)
    exclude_self = queries is None
    q_all = x if exclude_self else asarray(queries, xp=xp, dtype=x.dtype)
    if q_all.ndim != 2 or q_all.shape[1] != x.shape[1]:
        raise ValueError(f"queries must be (M, {x.shape[1]}) to match data, got shape {tuple(q_all.shape)}")
    n = int(x.shape[0])
    available = n - 1 if exclude_self else n
    if not 1 <= int(k) <= available:
        raise ValueError(f"k must be between 1 and {available} for {n} reference points, got {k}")
    k = int(k)
    n_candidates = min(available, k + _SPARE_CANDIDATES)
    m = int(q_all.shape[0])
    # the distance block, its partitioned copy and the int32 tie ranks, or the candidate block
    row_bytes = max(n * (2 * x.itemsize + 4 + 3), n_candidates * int(x.shape[1]) * x.itemsize)
    chunk = max(1, int(max_chunk_bytes) // max(1, row_bytes))

    x_sq = xp.sum(x * x, axis=1)
    indices = xp.empty((m, k), dtype=xp.int64)
    distances = xp.empty((m, k), dtype=x.dtype)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        q = q_all[start:stop]
        d2 = x_sq[None, :] - 2.0 * (q @ x.T)
        d2 += xp.sum(q * q, axis=1)[:, None]
        rows = xp.arange(stop - start)
        if exclude_self:
            d2[rows, rows + start] = xp.inf
        if n_candidates < n:
            cand = smallest_columns(xp, d2, n_candidates)
        else:
            cand = xp.broadcast_to(xp.arange(n), d2.shape)
        cand_d = _direct_distances(xp, q, x, cand)
        # candidates are in index order, so a stable sort orders by (distance, index)
        order = xp.argsort(cand_d, axis=1, kind="stable")[:, :k]
        indices[start:stop] = xp.take_along_axis(cand, order, axis=1)
        distances[start:stop] = xp.take_along_axis(cand_d, order, axis=1)
    return indices, distances


def _direct_distances(xp: Any, q: Any, x: Any, cand: Any) -> Any:
    """‖q_i − x_j‖ for the candidate columns ``cand`` of each query row, measured directly."""
    diff = x[cand] - q[:, None, :]
    return xp.sqrt(xp.sum(diff * diff, axis=2))


def smallest_columns(xp: Any, values: Any, m: int) -> Any:
    """Column indices ``(rows, m)`` of the ``m`` smallest entries of each row, ties taken by lower index.

    Deterministic and identical on NumPy and CuPy: the ``m``-th smallest value is the threshold;
    every column below it is taken, then the lowest-index columns equal to it until ``m`` are
    taken. Returned in increasing column order.
    """
    rows, n = values.shape
    if not 1 <= m <= n:
        raise ValueError(f"m must be between 1 and {n}, got {m}")
    threshold = xp.partition(values, m - 1, axis=1)[:, m - 1 : m]
    below = values < threshold
    missing = m - xp.sum(below, axis=1, keepdims=True, dtype=xp.int32)
    at = values == threshold
    rank_at = xp.cumsum(at, axis=1, dtype=xp.int32)  # 1, 2, ... over the tied columns, by index
    chosen = below | (at & (rank_at <= missing))
    return xp.nonzero(chosen)[1].reshape(rows, m)  # row-major: each row's columns ascending
