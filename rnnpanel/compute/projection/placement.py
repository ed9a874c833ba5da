"""Placing millions of points into a fitted map.

Neighbours in PCA space, a robust centre, a short polish, parallel blocks.

A fitted map of a sample is extended to the rest of the states by putting each new state
where its nearest fitted states lie. openTSNE's ``transform`` does that and then optimises the
new points for 250 iterations — good, but too slow for millions (measured in
``benchmarks/placement.py``). Here the neighbours come from an IVF index (:mod:`..ann`) over
the sample reduced by PCA, and the start is the **weighted geometric median** of the
neighbours' map positions (a few Weiszfeld steps): like openTSNE's coordinate-wise median it
does not land between two clusters when the neighbours straddle them, but it needs only
elementwise operations and sums (no sort per row on CuPy).

A median (or any average) of fitted positions stacks the points that share neighbours on top of
one another, so the placed points lose their own neighbourhood order (0.059 k-NN preservation
against a full fit, benchmarks/RESULTS.md). ``polish_iter`` t-SNE steps of each placed point
then follow: attraction to its fitted neighbours, repulsion from the fitted map frozen once on a
grid (:class:`RepulsionField`, scaled as if every point were there). Frozen, the field needs no
other placed point, so blocks stay independent; measured, it placed as well as recomputing the
repulsion of all points every step.

Input may live on disk: any array with ``shape`` and row slicing (NumPy, CuPy, a
``zarr.Array``) is read one block of rows at a time, so a corpus never needs to fit in memory.
Blocks are placed independently, so they run on any :class:`concurrent.futures.Executor`
(threads here, ``dask.distributed.Client.get_executor()`` on a cluster).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rnnpanel.compute.ann import IVFIndex
from rnnpanel.compute.projection.base import check_finite
from rnnpanel.compute.row_blocks import block_rows, in_memory, read_rows, row_blocks
from rnnpanel.compute.xp import array_namespace, asarray, to_numpy

#: Steps of :func:`polish` a placed t-SNE point gets by default (measured in benchmarks/RESULTS.md).
DEFAULT_POLISH_ITER = 50
_WEISZFELD_ITER = 8


def reduce_rows(placer: NeighborPlacer | PrincipalAxes, X: Any, *, block: int | None = None) -> np.ndarray:
    """Every row of ``X`` in the placer's PCA space, float32 NumPy ``(N, d)``, read block by block."""
    step = block_rows(X) if block is None else block
    width = int(placer.basis.shape[1]) if placer.basis is not None else int(X.shape[1])
    out = np.empty((int(X.shape[0]), width), dtype=np.float32)
    for start, stop in row_blocks(int(X.shape[0]), step):
        rows = asarray(read_rows(X, start, stop), xp=array_namespace(placer.mean), dtype=placer.mean.dtype)
        out[start:stop] = to_numpy(placer.reduce(rows))
    return out


def weighted_geometric_median(points: Any, weights: Any, n_iter: int = _WEISZFELD_ITER) -> Any:
    """Per row, the point minimising the weighted sum of distances to ``points`` (M, k, C).

    Weiszfeld's iteration from the weighted mean; ``weights`` (M, k) non-negative. Elementwise
    work on one (M, k) array per map coordinate (reductions over a last axis of length 2 are
    slow), the same on NumPy and CuPy.
    """
    xp = array_namespace(points)
    coords = [xp.ascontiguousarray(points[:, :, c]) for c in range(points.shape[2])]
    w = weights / xp.sum(weights, axis=1, keepdims=True)
    centre = [xp.sum(p * w, axis=1, keepdims=True) for p in coords]
    for _ in range(n_iter):
        dist = xp.sqrt(sum((p - c) ** 2 for p, c in zip(coords, centre, strict=True)))
        inv = w / xp.maximum(dist, 1e-6 * (xp.max(dist, axis=1, keepdims=True) + 1e-12))
        total = xp.sum(inv, axis=1, keepdims=True)
        centre = [xp.sum(p * inv, axis=1, keepdims=True) / total for p in coords]
    return xp.concatenate(centre, axis=1)


def position_from_neighbors(embedding: Any, idx: Any, dist: Any) -> np.ndarray:
    """Map positions (M, C) float32 NumPy: the weighted geometric median of ``embedding[idx]`` (M, k, C).

    Weights fall off with distance relative to the nearest neighbour's, ``exp(−(d² − d₁²) / d₁²)``,
    so a far neighbour counts less than a close one; ``dist`` (M, k) is sorted nearest first.
    """
    return to_numpy(weighted_geometric_median(embedding[idx], neighbor_weights(dist))).astype(np.float32)


def _positions_on_device(embedding: Any, idx: Any, weights: Any) -> Any:
    """:func:`position_from_neighbors`'s positions, float32, left in the namespace of ``embedding`` (no download)."""
    return weighted_geometric_median(embedding[idx], weights).astype(array_namespace(embedding).float32)


def neighbor_weights(dist: Any) -> Any:
    """``exp(−(d² − d₁²) / d₁²)`` per row of ``dist`` (M, k), nearest first.

    1 for the nearest, less for farther ones.
    """
    xp = array_namespace(dist)
    d2 = dist.astype(xp.float32) ** 2
    scale = xp.maximum(d2[:, :1], 1e-12 * (1.0 + d2[:, -1:]))
    return xp.exp(-(d2 - d2[:, :1]) / scale)


class RepulsionField:
    """The t-SNE repulsion of a fitted 2-D map, frozen on a grid, as if every point of the data were there.

    t-SNE pushes point ``y`` away from every other by ``Σ_j w_j² (y − y_j) / Z`` with
    ``w_j = 1 / (1 + |y − y_j|²)``. The fitted points, deposited on a grid of ``spacing`` map
    units (bilinear, FFT convolution with the kernel, like FIt-SNE) and each standing for
    ``N / n`` points of a stratified sample, give that force everywhere; ``N`` cancels: with
    openTSNE's learning rate ``N / 12`` a step is ``(attraction − n · F / Z_fit) / 3``, the
    field stores ``n · F / Z_fit``. Built once from the fitted map; a placed point reads it by
    bilinear interpolation (four gathers), the same on NumPy and CuPy.
    """

    def __init__(self, embedding: Any, *, spacing: float = 0.5, margin: float = 5.0, max_grid: int = 1024) -> None:
        emb = asarray(embedding)
        xp = array_namespace(emb)
        if emb.ndim != 2 or emb.shape[1] != 2:
            raise ValueError(f"the repulsion field needs a 2-D map (n, 2), got shape {tuple(emb.shape)}")
        y = emb.astype(xp.float64)
        lo = xp.min(y, axis=0) - margin
        extent = float(xp.max(xp.max(y, axis=0) + margin - lo))
        g = int(min(max_grid, np.ceil(extent / spacing) + 3))
        self.xp, self.lo, self.size = xp, lo.astype(xp.float32), g
        self.spacing = extent / (g - 3)
        offsets = xp.arange(-g + 1, g, dtype=xp.float64) * self.spacing
        dx, dy = offsets[:, None], offsets[None, :]
        w = 1.0 / (1.0 + dx * dx + dy * dy)
        shape = (2 * g, 2 * g)
        # the kernels' spectra, kept: a field refreshed for moved points (:meth:`deposit`) reuses them
        self._spectra = [xp.fft.rfft2(kernel, s=shape) for kernel in (w, w * w * dx, w * w * dy)]
        self.deposit(y)

    def deposit(self, points: Any) -> None:
        """The field of ``points`` (n, 2) in this grid's frame (points outside it count at its edge).

        The frame and the kernels' spectra stay: refreshing the field of a moving map costs one
        deposit, one forward and three inverse FFTs.
        """
        xp = self.xp
        y = points.astype(xp.float64)
        rho = self._deposit(y)
        phi, fx, fy = self._convolve(rho)
        n = int(y.shape[0])
        z = float(xp.sum(self._read(phi, y))) - n  # every pair once each way; the self term w(0) = 1 removed
        scale = n / max(z, 1e-12)
        self.fx, self.fy = (scale * fx).astype(xp.float32), (scale * fy).astype(xp.float32)

    def contains(self, points: Any) -> bool:
        """Whether every point lies inside the grid (else its force would be read at the edge)."""
        xp = self.xp
        hi = self.lo + self.spacing * (self.size - 2)
        return bool(xp.all(points >= self.lo) and xp.all(points <= hi))

    def _cells(self, y: Any) -> tuple[Any, Any, Any]:
        """Flat index of each point's lower-left grid node and its fractional offsets (x, y)."""
        xp, g = self.xp, self.size
        u = (y - self.lo) / self.spacing
        i = xp.clip(xp.floor(u), 0, g - 2)
        f = xp.clip(u - i, 0.0, 1.0)
        i = i.astype(xp.int64)
        return i[:, 0] * g + i[:, 1], f[:, 0], f[:, 1]

    def _corners(self, y: Any) -> Iterator[tuple[Any, Any]]:
        """(flat node index, bilinear weight) of the four grid nodes around each point."""
        flat, fx, fy = self._cells(y)
        g = self.size
        for shift, wx in ((0, 1 - fx), (g, fx)):
            for step, wy in ((0, 1 - fy), (1, fy)):
                yield flat + shift + step, wx * wy

    def _deposit(self, y: Any) -> Any:
        xp, g = self.xp, self.size
        rho = xp.zeros(g * g, dtype=xp.float64)
        for node, weight in self._corners(y):
            rho += xp.bincount(node, weights=weight, minlength=g * g)
        return rho.reshape(g, g)

    def _convolve(self, rho: Any) -> list[Any]:
        """``Σ_nodes rho · kernel(here − node)`` on the grid for each kernel (zero-padded FFT, no wrap-around)."""
        xp, g = self.xp, self.size
        shape = (2 * g, 2 * g)
        spectrum = xp.fft.rfft2(rho, s=shape)
        return [xp.ascontiguousarray(xp.fft.irfft2(spectrum * kernel, s=shape)[g - 1 : 2 * g - 1, g - 1 : 2 * g - 1])
                .ravel() for kernel in self._spectra]

    def _read(self, field: Any, y: Any) -> Any:
        return sum(weight * field[node] for node, weight in self._corners(y))

    def force(self, y: Any) -> tuple[Any, Any]:
        """The scaled repulsion ``n · Σ_j w_j² (y − y_j) / Z`` at points ``y`` (M, 2), as (x, y) components."""
        y = self.clip(y)
        return self._read(self.fx, y), self._read(self.fy, y)

    def clip(self, y: Any) -> Any:
        """Points kept inside the grid (a placed point never leaves the fitted map's frame)."""
        hi = self.lo + self.spacing * (self.size - 2)
        return self.xp.clip(y, self.lo, hi)


def polish(start: Any, anchors: Any, affinities: Any, field: RepulsionField, n_iter: int, *,
           momentum: float = 0.8) -> Any:
    """``n_iter`` t-SNE gradient steps of placed points (M, 2) against fixed ``anchors`` (M, k, 2).

    Each point is attracted to its ``k`` fitted neighbours in proportion to ``affinities``
    (M, k; :func:`neighbor_weights`, measured a little better than uniform ones) and repelled
    by the frozen ``field``; openTSNE's gains and momentum, its learning rate ``N / 12`` folded
    into the field's scale. Points that started on one spot spread by their own neighbours'
    pull instead of staying stacked. Coordinates stay in separate (M, k) arrays: reductions
    over a last axis of length 2 are slow.
    """
    xp = array_namespace(start)
    ax, ay = (xp.ascontiguousarray(anchors[:, :, c]) for c in range(2))
    y = field.clip(start.astype(xp.float32))
    px, py = xp.ascontiguousarray(y[:, 0]), xp.ascontiguousarray(y[:, 1])
    p = affinities.astype(xp.float32) / xp.sum(affinities, axis=1, keepdims=True, dtype=xp.float32)
    ux, uy = xp.zeros_like(px), xp.zeros_like(py)
    gx, gy = xp.ones_like(px), xp.ones_like(py)
    lo, hi = field.lo, field.lo + field.spacing * (field.size - 2)
    for _ in range(int(n_iter)):
        dx, dy = px[:, None] - ax, py[:, None] - ay
        w = p / (1.0 + dx * dx + dy * dy)
        rx, ry = field.force(xp.stack([px, py], axis=1))
        grad_x = (xp.sum(w * dx, axis=1) - rx) * (4.0 / 12.0)
        grad_y = (xp.sum(w * dy, axis=1) - ry) * (4.0 / 12.0)
        gx = xp.maximum(xp.where(xp.sign(grad_x) != xp.sign(ux), gx + 0.2, gx * 0.8), 0.01)
        gy = xp.maximum(xp.where(xp.sign(grad_y) != xp.sign(uy), gy + 0.2, gy * 0.8), 0.01)
        ux, uy = momentum * ux - gx * grad_x, momentum * uy - gy * grad_y
        px, py = xp.clip(px + ux, lo[0], hi[0]), xp.clip(py + uy, lo[1], hi[1])
    return xp.stack([px, py], axis=1)


def principal_axes(reference: Any, components: int | None) -> tuple[Any, Any]:
    """``(mean, basis (D, components) or None)`` of ``reference`` (n, D) float32, in its namespace.

    The placement space: :class:`NeighborPlacer` reduces by it, and a refinement of the map in
    another process recomputes the same axes from the map's fitted states (same rows, same numbers).
    None when ``components`` is None or not fewer than D (all dimensions are kept).
    """
    xp = array_namespace(reference)
    mean = xp.mean(reference, axis=0)
    if components is None or int(components) >= int(reference.shape[1]):
        return mean, None
    centred = (reference - mean).astype(xp.float64)
    _, vectors = xp.linalg.eigh(centred.T @ centred)
    return mean, xp.ascontiguousarray(vectors[:, ::-1][:, : int(components)].astype(xp.float32))


class PrincipalAxes:
    """Rows reduced to the placement space: centred, projected on ``basis`` (None: centred only)."""

    def __init__(self, mean: Any, basis: Any) -> None:
        self.mean, self.basis = mean, basis

    def reduce(self, rows: Any) -> Any:
        """Rows in the placement space (centred, projected on the principal components)."""
        centred = rows - self.mean
        return centred if self.basis is None else centred @ self.basis


class NeighborPlacer(PrincipalAxes):
    """Places points at the weighted geometric median of the map positions of their nearest reference points.

    Built from the fitted sample (``reference`` (n, D), its map ``embedding`` (n, C)):
    ``components`` principal components of the reference (None = keep all dimensions), an IVF
    index over them with ``n_probe`` probed cells, ``k`` neighbours, weighted as in
    :func:`position_from_neighbors`; then, for a 2-D map, ``polish_iter`` steps of
    :func:`polish` against the frozen :class:`RepulsionField` (``field_``; None without
    polishing). Picklable, so a cluster's workers can receive it.
    """

    def __init__(self, reference: Any, embedding: Any, *, k: int = 10, components: int | None = 50,
                 n_probe: int = 8, n_cells: int | None = None, polish_iter: int = 0,
                 random_state: Any = None) -> None:
        ref = asarray(reference)
        xp = array_namespace(ref)
        ref = ref.astype(xp.float32) if ref.dtype != xp.float32 else ref
        emb = asarray(embedding, xp=xp, dtype=xp.float32)
        if emb.ndim != 2 or emb.shape[0] != ref.shape[0]:
            raise ValueError(f"embedding has shape {tuple(emb.shape)} for {ref.shape[0]} reference points")
        if not 1 <= int(k) <= int(ref.shape[0]):
            raise ValueError(f"k must be between 1 and the number of reference points ({ref.shape[0]}), got {k}")
        self.k = int(k)
        self.mean, self.basis = principal_axes(ref, components)
        if isinstance(polish_iter, bool) or not isinstance(polish_iter, (int, np.integer)) or polish_iter < 0:
            raise ValueError(f"polish_iter must be 0 or a positive number of iterations, got {polish_iter!r}")
        self.embedding = emb
        self.polish_iter = int(polish_iter) if emb.shape[1] == 2 else 0
        self.field_ = RepulsionField(emb) if self.polish_iter else None
        self.index = IVFIndex(self.reduce(ref), n_cells=n_cells, n_probe=n_probe, random_state=random_state)

    def neighbors(self, rows: Any) -> tuple[Any, Any]:
        return self.index.query(self.reduce(asarray(rows, xp=self.index.xp, dtype=self.mean.dtype)), self.k)

    def place(self, rows: Any) -> np.ndarray:
        """Map positions (M, C) float32 NumPy for ``rows`` (M, D) in the original space.

        The starting positions stay in the index's namespace for the polish (on a GPU: no round trip
        through the host); the only transfers are ``rows`` in (when they are on the host) and the
        positions out.
        """
        idx, dist = self.neighbors(rows)
        weights = neighbor_weights(dist)
        placed = _positions_on_device(self.embedding, idx, weights)
        if self.field_ is not None:
            placed = polish(placed, self.embedding[idx], weights, self.field_, self.polish_iter)
        return to_numpy(placed).astype(np.float32)


def place_block(
    placer: NeighborPlacer, X: Any, start: int, stop: int, keep: np.ndarray | None = None
) -> tuple[int, np.ndarray]:
    """One unit of parallel work: read rows ``start:stop`` of ``X`` (only ``keep`` of them) and place them.

    Raises :class:`~.base.NonFiniteStates` for a block with NaN or infinite values: states read
    from disk are checked here, as they are read, instead of in a pass of their own.
    """
    return start, _place_rows(placer, read_rows(X, start, stop), start, keep)


def _place_rows(placer: NeighborPlacer, rows: Any, start: int, keep: np.ndarray | None) -> np.ndarray:
    """Place the block ``rows`` (rows ``start``.. of the input; only ``keep`` of them), checked finite first."""
    check_finite(rows, what=f"the states (rows {start:,} to {start + int(rows.shape[0]) - 1:,})")
    if keep is not None:
        rows = rows[array_namespace(rows).asarray(keep)]
    return placer.place(rows)


def _place_block_of(placer: NeighborPlacer, block: Any, start: int, keep: np.ndarray | None) -> np.ndarray:
    """:func:`place_block` for a block already read (an in-memory input's rows, sent to a worker by themselves)."""
    return _place_rows(placer, read_rows(block, 0, int(block.shape[0])), start, keep)


def _dask_client(executor: cf.Executor | None) -> Any:
    """The ``distributed.Client`` behind ``Client.get_executor()`` (its ``ClientExecutor`` keeps it as ``_client``,
    distributed 2026.11), or None for any other executor."""
    client = getattr(executor, "_client", None)
    return client if client is not None and hasattr(client, "scatter") else None


def place_all(placer: NeighborPlacer, X: Any, rows: np.ndarray, *, executor: cf.Executor | None = None,
              block: int | None = None, progress: Callable[[int], Any] | None = None,
              max_in_flight: int | None = None) -> np.ndarray:
    """Positions of ``X[rows]`` (sorted row numbers), placed block by block, on ``executor`` when given.

    At most ``max_in_flight`` blocks are submitted and unfinished (None = twice a thread or
    process pool's workers, else 16), so a Dask cluster never holds the whole input at once.
    ``progress(n_done)`` is called as blocks finish.

    On a Dask cluster (``executor`` = ``Client.get_executor()``) the placer — its IVF index and the
    fitted sample, hundreds of megabytes — is scattered to every worker once
    (``client.scatter(placer, broadcast=True)``) and each task gets the future, not a pickled copy;
    an in-memory input is sent block by block (each task its own rows), never whole.
    """
    rows = np.asarray(rows)
    out = np.empty((rows.size, int(placer.embedding.shape[1])), dtype=np.float32)
    step = block_rows(X) if block is None else block
    jobs = []
    for start, stop in row_blocks(int(X.shape[0]), step):
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            local = rows[lo:hi] - start
            keep = None if local.size == stop - start else local
            jobs.append((lo, hi, start, stop, keep))
    offsets = {start: (lo, hi) for lo, hi, start, _, _ in jobs}
    done = 0
    if executor is None:
        for lo, hi, start, stop, keep in jobs:
            out[lo:hi] = place_block(placer, X, start, stop, keep)[1]
            done += hi - lo
            if progress is not None:
                progress(done)
        return out
    width = max_in_flight or 2 * int(getattr(executor, "_max_workers", None) or 8)
    client = _dask_client(executor)
    shared = client.scatter(placer, broadcast=True, hash=False) if client is not None else placer
    whole = in_memory(X)  # an array in memory: each task gets its own block (a view for threads)
    pending: dict[cf.Future, int] = {}
    queue = iter(jobs)
    try:
        while True:
            for _lo, _hi, start, stop, keep in queue:
                if whole:
                    future = executor.submit(_place_block_of, shared, X[start:stop], start, keep)
                else:
                    future = executor.submit(place_block, shared, X, start, stop, keep)
                pending[future] = start
                if len(pending) >= width:
                    break
            if not pending:
                return out
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                placed = result[1] if isinstance(result, tuple) else result
                lo, hi = offsets[pending.pop(future)]
                out[lo:hi] = placed
                done += hi - lo
                if progress is not None:
                    progress(done)
    finally:
        if client is not None:
            client.cancel(shared)  # the workers drop their copies


def knn_graph(points: Any, k: int, *, n_probe: int = 8, random_state: Any = None) -> np.ndarray:
    """The ``k`` approximate nearest other points of every point ``(N, k)`` int64 (an IVF index over all of them)."""
    index = IVFIndex(points, n_probe=n_probe, random_state=random_state)
    idx = to_numpy(index.query(points, k + 1)[0])
    own = idx == np.arange(idx.shape[0])[:, None]
    own[~own.any(axis=1), -1] = True  # a point its own search missed drops its farthest neighbour instead
    return idx[~own].reshape(idx.shape[0], k)


def refine(embedding: np.ndarray, neighbors: np.ndarray, *, n_iter: int = 100, n_jobs: int = 1,
           random_state: Any = None) -> np.ndarray:
    """A short t-SNE optimisation of every point from the placed map, over a uniform k-NN graph of all points.

    Placement alone decides each point by its fitted neighbours only, so points placed near one
    another keep little of their own neighbourhood order; a few t-SNE iterations with all points
    attracting their ``neighbors`` (uniform affinities, symmetrised: Kobak & Berens' recipe for
    large data, started from the placed map) restore it. No early exaggeration: the map's
    global layout is already that of the fitted sample. openTSNE's FFT gradients, on the CPU.
    """
    import openTSNE
    import scipy.sparse as sp
    from openTSNE.affinity import PrecomputedAffinities

    n, k = neighbors.shape
    rows = np.repeat(np.arange(n, dtype=np.int32), k)
    graph = sp.csr_matrix((np.ones(n * k, dtype=np.float64), (rows, neighbors.ravel().astype(np.int32))), shape=(n, n))
    graph = graph + graph.T
    graph /= graph.sum()
    tsne = openTSNE.TSNEEmbedding(
        np.asarray(embedding, dtype=np.float64),
        PrecomputedAffinities(graph, normalize=False),
        negative_gradient_method="fft",
        n_jobs=int(n_jobs),
        random_state=random_state,
    )
    tsne = tsne.optimize(n_iter=int(n_iter), learning_rate=max(n / 12.0, 200.0), exaggeration=1.0, momentum=0.8,
                         inplace=True)
    return np.asarray(tsne, dtype=np.float32)
