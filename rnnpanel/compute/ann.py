"""Approximate nearest neighbours for millions of queries: an inverted-file (IVF) index.

Placing millions of states into a fitted map asks for the ``k`` nearest of a few hundred
thousand reference points for every state; exact search (:mod:`.neighbors`) costs
``M × N × D`` and is out of reach. The index partitions the reference points into k-means
*cells*; a query is compared only with the points of the ``n_probe`` cells whose centroids are
nearest its own cell's centroid. Queries are grouped by their cell, so each group is one
matrix product against one contiguous candidate block (BLAS or cuBLAS), and the ``k``
smallest distances of a row are found by ``k`` rounds of ``argmin`` — no sorting or
partitioning of whole rows, which on NumPy measured six times faster than ``argpartition``
for ``k = 10`` and on CuPy avoids a full sort; from ``k`` = 17 on (t-SNE's 90 neighbours) one
``argpartition`` of each row and a sort of its ``k`` smallest replace the rounds. Everything runs
on NumPy or CuPy arrays alike.

On CuPy nothing crosses between host and device inside the loops: a cell's candidates are the
reordered reference's contiguous blocks of its probed cells, joined on the device from slices
whose bounds the index keeps on the host (never an index array uploaded per cell), and the only
transfers of a query are its input (when it comes from the host) and the one download of the
query cells' bounds. :meth:`IVFIndex.self_neighbors` builds the k-nearest-neighbour graph of the
indexed points themselves (cuML's t-SNE takes it instead of its exact, quadratic search).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnpanel.compute.xp import array_namespace, asarray

_BLOCK_BYTES = 64 * 2**20  # bound on one block of a distance matrix (or any other temporary)
#: The block of point-to-centroid distances assigning points to cells: small enough to stay in
#: cache and be reused, large enough for an efficient matrix product.
_ASSIGN_BYTES = 8 * 2**20


#: Up to this ``k``, :func:`smallest_k` takes ``k`` rounds of ``argmin``; above, a partition and a short sort.
ARGMIN_ROUNDS_UP_TO = 16
#: Up to this many probed cells a cell's candidates are joined from slices (CuPy copies each with one kernel);
#: more, and on CuPy they are gathered through positions built once for every cell (CuPy would upload pointer
#: arrays to join more than 8 slices at once). NumPy always joins slices (no positions held in memory).
SLICES_UP_TO = 8


def smallest_k(xp: Any, d2: Any, k: int) -> tuple[Any, Any]:
    """Column indices and values of the ``k`` smallest entries of each row, in increasing order.

    ``k`` rounds of ``argmin`` up to :data:`ARGMIN_ROUNDS_UP_TO` (``d2`` is overwritten: the chosen
    entries become ``inf``); for a larger ``k``, ``argpartition`` then a stable sort of the ``k``
    chosen (``d2`` is left as it was).
    """
    if k > ARGMIN_ROUNDS_UP_TO and k < int(d2.shape[1]):
        part = xp.argpartition(d2, k - 1, axis=1)[:, :k]
        val = xp.take_along_axis(d2, part, axis=1)
        order = xp.argsort(val, axis=1, kind="stable")
        return xp.take_along_axis(part, order, axis=1).astype(xp.int64), xp.take_along_axis(val, order, axis=1)
    rows = xp.arange(d2.shape[0])
    idx = xp.empty((d2.shape[0], k), dtype=xp.int64)
    val = xp.empty((d2.shape[0], k), dtype=d2.dtype)
    for j in range(k):
        best = xp.argmin(d2, axis=1)
        idx[:, j] = best
        val[:, j] = d2[rows, best]
        d2[rows, best] = xp.inf
    return idx, val


def nearest_centroid(xp: Any, points: Any, centroids: Any, centroid_sq: Any = None) -> Any:
    """Index of the nearest centroid of every point (blocked matrix products).

    ``|c|² − 2 p·c`` is computed as ``p @ (−2 c)ᵀ + |c|²`` (the same floats: scaling by −2 is exact)
    into one reused block of :data:`_ASSIGN_BYTES`: allocating a fresh 64 MB matrix per block and
    two elementwise passes over it cost more than the matrix product itself.
    """
    c_sq = xp.sum(centroids * centroids, axis=1) if centroid_sq is None else centroid_sq
    n, n_centroids = int(points.shape[0]), int(centroids.shape[0])
    neg2_t = (-2.0 * centroids).T
    dtype = xp.result_type(points.dtype, centroids.dtype)
    block = max(1, min(n, _ASSIGN_BYTES // (xp.dtype(dtype).itemsize * max(1, n_centroids))))
    d2 = xp.empty((block, n_centroids), dtype=dtype)
    out = xp.empty(n, dtype=xp.int64)
    for start in range(0, n, block):
        rows = points[start : start + block]
        part = d2[: rows.shape[0]]
        xp.matmul(rows, neg2_t, out=part)
        part += c_sq
        out[start : start + block] = xp.argmin(part, axis=1)
    return out


def permute_rows(x: Any, order: Any) -> Any:
    """``x[order]`` written into ``x`` itself: a few columns at a time, so the extra memory is one
    block of columns (at most :data:`_BLOCK_BYTES`), not a second copy of ``x``. Returns ``x``."""
    n, width = int(x.shape[0]), int(x.shape[1])
    step = max(1, min(width, _BLOCK_BYTES // max(1, n * x.dtype.itemsize)))
    for start in range(0, width, step):
        cols = slice(start, min(start + step, width))
        x[:, cols] = x[:, cols][order]
    return x


def row_norms_sq(x: Any) -> Any:
    """``sum(x * x, axis=1)`` by blocks of rows (the same floats, without an ``x``-sized temporary)."""
    xp = array_namespace(x)
    n = int(x.shape[0])
    block = max(1, _BLOCK_BYTES // max(1, int(x.shape[1]) * x.dtype.itemsize))
    out = xp.empty(n, dtype=x.dtype)
    for start in range(0, n, block):
        rows = x[start : start + block]
        out[start : start + block] = xp.sum(rows * rows, axis=1)
    return out


def _group(xp: Any, labels: Any, n_groups: int) -> tuple[Any, Any]:
    """``(order, bounds)``: ``order`` lists the rows of group ``g`` at ``order[bounds[g]:bounds[g + 1]]``."""
    order = xp.argsort(labels, kind="stable")
    bounds = xp.searchsorted(labels[order], xp.arange(n_groups + 1))
    return order, bounds


def kmeans(points: Any, n_clusters: int, *, n_iter: int = 10, random_state: Any = None) -> Any:
    """Lloyd's k-means from a random choice of points; returns the centroids ``(n_clusters, D)``.

    Cluster sums come from a cumulative sum over the points ordered by cluster (portable to
    CuPy, no scatter-add); an emptied cluster keeps its previous centroid.
    """
    x = asarray(points)
    xp = array_namespace(x)
    n = int(x.shape[0])
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 1 and the number of points ({n}), got {n_clusters}")
    rng = np.random.default_rng(random_state)
    centroids = x[xp.asarray(np.sort(rng.choice(n, size=n_clusters, replace=False)))].copy()
    for _ in range(n_iter):
        labels = nearest_centroid(xp, x, centroids)
        order, bounds = _group(xp, labels, n_clusters)
        csum = xp.cumsum(x[order].astype(xp.float64), axis=0)
        csum = xp.concatenate([xp.zeros((1, x.shape[1]), dtype=xp.float64), csum])
        counts = bounds[1:] - bounds[:-1]
        sums = csum[bounds[1:]] - csum[bounds[:-1]]
        filled = counts > 0
        means = (sums / xp.maximum(counts, 1)[:, None]).astype(x.dtype)
        centroids = xp.where(filled[:, None], means, centroids)
    return centroids


class IVFIndex:
    """Inverted-file index over ``reference`` (N, D) for batched approximate k-NN queries.

    ``n_cells`` (None = ``2·√N``, cells of about ``√N / 2`` points) k-means cells, trained on at
    most ``train_per_cell · n_cells`` points; a query searches the ``n_probe`` cells nearest its
    own. With ``n_probe = n_cells`` the search is exact. The reference is kept (reordered by
    cell) in its own namespace: a copy, or with ``copy=False`` the caller's floating array
    itself, its rows reordered in place (the index then owns it), so that a reference of
    hundreds of megabytes never exists twice while the index is built.
    """

    def __init__(self, reference: Any, *, n_cells: int | None = None, n_probe: int = 8, n_iter: int = 10,
                 train_per_cell: int = 40, random_state: Any = None, copy: bool = True) -> None:
        ref = asarray(reference)
        xp = array_namespace(ref)
        if ref.ndim != 2 or ref.shape[0] < 1:
            raise ValueError(f"reference must be a non-empty 2-D array (N, D), got shape {tuple(ref.shape)}")
        if not xp.issubdtype(ref.dtype, xp.floating):
            ref = ref.astype(xp.float32)
        n = int(ref.shape[0])
        cells = max(1, round(2 * math.sqrt(n))) if n_cells is None else int(n_cells)
        cells = min(cells, n)
        if n_probe < 1:
            raise ValueError(f"n_probe must be at least 1, got {n_probe}")
        rng = np.random.default_rng(random_state)
        train = ref
        if n > train_per_cell * cells:
            train = ref[xp.asarray(np.sort(rng.choice(n, size=train_per_cell * cells, replace=False)))]
        self.xp = xp
        self.centroids = kmeans(train, cells, n_iter=n_iter, random_state=rng)
        del train
        self.centroid_sq = xp.sum(self.centroids * self.centroids, axis=1)
        labels = nearest_centroid(xp, ref, self.centroids, self.centroid_sq)
        self.order, self.bounds = _group(xp, labels, cells)
        del labels
        # reordered: cell c is one contiguous block
        if copy or not ref.flags.c_contiguous:
            self.points = ref[self.order]
        else:
            self.points = permute_rows(ref, self.order)
        self.points_sq = row_norms_sq(self.points)
        self.n_probe = min(int(n_probe), cells)
        # the cells searched for a query of cell c: the n_probe centroids nearest c's centroid
        cc = self.centroid_sq[:, None] + self.centroid_sq[None, :] - 2.0 * (self.centroids @ self.centroids.T)
        self.probes = smallest_k(xp, cc, self.n_probe)[0]
        self.probes_host = np.asarray(self.probes.get() if hasattr(self.probes, "get") else self.probes)
        self.bounds_host = np.asarray(self.bounds.get() if hasattr(self.bounds, "get") else self.bounds)

    #: What :meth:`arrays` saves and :meth:`from_arrays` restores.
    ARRAYS = ("centroids", "centroid_sq", "order", "bounds", "points", "points_sq", "probes")

    def arrays(self) -> dict[str, np.ndarray]:
        """The index as NumPy arrays, to store it (e.g. memory-mapped, :mod:`rnnpanel.store.mapped`)."""
        return {name: np.asarray(getattr(self, name).get() if hasattr(getattr(self, name), "get")
                                 else getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> IVFIndex:
        """The index :meth:`arrays` saved, searched on the CPU over the given arrays (memory-mapped
        ones stay on disk: a query reads only the cells it probes)."""
        index = cls.__new__(cls)
        index.xp = np
        for name in cls.ARRAYS:
            setattr(index, name, arrays[name])
        index.n_probe = int(index.probes.shape[1])
        index.probes_host, index.bounds_host = np.asarray(index.probes), np.asarray(index.bounds)
        return index

    @property
    def n_cells(self) -> int:
        return int(self.centroids.shape[0])

    def candidates(self, cell: int) -> np.ndarray:
        """Positions (into the reordered reference) searched for queries of ``cell``, on the host."""
        parts = [np.arange(a, b) for a, b in self._candidate_ranges(cell)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _candidate_ranges(self, cell: int) -> list[tuple[int, int]]:
        """The contiguous blocks ``(start, stop)`` of the reordered reference that ``cell``'s queries search."""
        bounds = self.bounds_host
        return [(int(bounds[c]), int(bounds[c + 1])) for c in self.probes_host[cell] if bounds[c + 1] > bounds[c]]

    def _gather(self, cell: int, ranges: list[tuple[int, int]] | None) -> tuple[Any, Any, Any]:
        """``(points, squared norms, reference indices)`` of ``cell``'s candidate blocks ``ranges`` (None = all
        points), in their namespace: joined from slices, or gathered through :meth:`_candidate_positions`;
        nothing travels to the device per cell."""
        if ranges is None:
            return self.points, self.points_sq, self.order
        if len(ranges) == 1:
            (a, b), = ranges
            return self.points[a:b], self.points_sq[a:b], self.order[a:b]
        if len(ranges) <= SLICES_UP_TO or self.xp is np:  # NumPy joins any number of slices in place
            join = self.xp.concatenate
            return (join([self.points[a:b] for a, b in ranges]), join([self.points_sq[a:b] for a, b in ranges]),
                    join([self.order[a:b] for a, b in ranges]))
        positions, offsets = self._candidate_positions()
        cand = positions[int(offsets[cell]) : int(offsets[cell + 1])]
        return self.points[cand], self.points_sq[cand], self.order[cand]

    def _candidate_positions(self) -> tuple[Any, np.ndarray]:
        """Every cell's candidate positions, one after the other, in the index's namespace (built and copied
        once), and each cell's offset into them on the host."""
        if getattr(self, "_positions", None) is None:
            parts = [self.candidates(cell) for cell in range(self.n_cells)]
            offsets = np.concatenate([[0], np.cumsum([p.size for p in parts])])
            dtype = np.int32 if int(self.points.shape[0]) < 2**31 else np.int64
            self._positions = (self.xp.asarray(np.concatenate(parts).astype(dtype)), offsets)
        return self._positions

    def _search_cell(self, cell: int, q: Any, q_sq: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` nearest candidates ``(reference indices, distances)`` of the queries ``q`` (all of ``cell``)."""
        xp = self.xp
        ranges = self._candidate_ranges(cell)
        if sum(b - a for a, b in ranges) < k:  # sparse cells around this one: search everything (exact, and rare)
            ranges = None
        pts, pts_sq, ids = self._gather(cell, ranges)
        m = int(q.shape[0])
        idx = xp.empty((m, k), dtype=xp.int64)
        dist = xp.empty((m, k), dtype=q.dtype)
        block = max(1, _BLOCK_BYTES // (4 * int(pts.shape[0])))
        for s in range(0, m, block):
            d2 = pts_sq[None, :] - 2.0 * (q[s : s + block] @ pts.T)
            j, v = smallest_k(xp, d2, k)
            idx[s : s + block] = ids[j]
            dist[s : s + block] = xp.sqrt(xp.maximum(v + q_sq[s : s + block][:, None], 0.0))
        return idx, dist

    def _check_k(self, k: int) -> None:
        if not 1 <= int(k) <= int(self.points.shape[0]):
            raise ValueError(
                f"k must be between 1 and the number of reference points ({self.points.shape[0]}), got {k}"
            )

    def query(self, queries: Any, k: int) -> tuple[Any, Any]:
        """``(indices (M, k) int64 into the reference, distances (M, k))``, nearest first."""
        xp = self.xp
        q = asarray(queries, xp=xp, dtype=self.points.dtype)
        if q.ndim != 2 or q.shape[1] != self.points.shape[1]:
            raise ValueError(f"queries must be (M, {self.points.shape[1]}), got shape {tuple(q.shape)}")
        self._check_k(k)
        m = int(q.shape[0])
        idx = xp.empty((m, k), dtype=xp.int64)
        dist = xp.empty((m, k), dtype=q.dtype)
        q_sq = xp.sum(q * q, axis=1)
        cells = nearest_centroid(xp, q, self.centroids, self.centroid_sq)
        order, bounds = _group(xp, cells, self.n_cells)
        bounds_h = np.asarray(bounds.get() if hasattr(bounds, "get") else bounds)  # the one download
        for cell in np.flatnonzero(np.diff(bounds_h)):
            members = order[int(bounds_h[cell]) : int(bounds_h[cell + 1])]
            idx[members], dist[members] = self._search_cell(int(cell), q[members], q_sq[members], k)
        return idx, dist

    def self_neighbors(self, k: int) -> tuple[Any, Any]:
        """The k-NN graph of the indexed points: ``(indices (N, k + 1), distances (N, k + 1))`` in their namespace.

        Row ``i`` is reference point ``i``: column 0 is ``i`` itself at distance 0, then its ``k``
        nearest other points (approximate: the ``n_probe`` cells nearest its own), nearest first —
        the layout cuML's ``TSNE.fit(X, knn_graph=(indices, distances))`` takes (self references
        first, Euclidean distances that it squares). The points are already grouped by cell, so a
        cell's queries are one contiguous block; nothing is uploaded to the device.
        """
        xp = self.xp
        n = int(self.points.shape[0])
        self._check_k(k + 1)
        indices = xp.empty((n, k + 1), dtype=xp.int64)
        distances = xp.empty((n, k + 1), dtype=self.points.dtype)
        indices[:, 0] = xp.arange(n)
        distances[:, 0] = 0.0
        for cell in np.flatnonzero(np.diff(self.bounds_host)):
            start, stop = int(self.bounds_host[cell]), int(self.bounds_host[cell + 1])
            found, dist = self._search_cell(int(cell), self.points[start:stop], self.points_sq[start:stop], k + 1)
            rows = self.order[start:stop]
            own = found == rows[:, None]
            # the column each row drops: its own, or its farthest when duplicates pushed it out (no boolean
            # indexing, whose size CuPy would have to read back from the device)
            drop = xp.where(own.any(axis=1), xp.argmax(own, axis=1), k)
            cols = xp.arange(k)[None, :]
            cols = cols + (cols >= drop[:, None])
            indices[rows, 1:] = xp.take_along_axis(found, cols, axis=1)
            distances[rows, 1:] = xp.take_along_axis(dist, cols, axis=1)
        return indices, distances
