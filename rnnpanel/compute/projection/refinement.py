"""Refining a placed t-SNE map of millions of states in bounded memory: every state, together.

A placed map (:mod:`.placement`) keeps each state near its fitted neighbours but loses the placed
states' order among each other; about 150 t-SNE iterations of *all* states over a k-NN graph of
all of them restore it (benchmarks/RESULTS.md). :func:`.placement.refine` does that with
openTSNE, which needs the symmetrised affinity matrix as a SciPy CSR of float64 (its sum
``A + Aᵀ`` and the conversions behind it) and an int64 k-NN graph: 6.4 GB for 2.6 million states.
Here the same optimisation is written for what it needs:

* **The graph** is int32 ``(N, k)`` (the k nearest other states, from an IVF index over the
  states' principal components, searched cell by cell and written straight into it) and its
  reverse (for each state, the states that have it among their neighbours) as a CSR of int32.
  Uniform affinities ``P = (A + Aᵀ) / 2Nk`` are never stored: a state's attraction is the sum
  over its forward and reverse neighbours, a mutual pair counted twice as ``A + Aᵀ`` counts it.
* **The repulsion** of all states is read from a grid (:class:`.placement.RepulsionField`:
  bilinear deposit, FFT convolution with the t-SNE kernels, FIt-SNE's idea with linear instead
  of cubic interpolation), refreshed from every state's position at every iteration in a frame
  kept while the map stays inside it.
* **The step** is openTSNE's: gains, momentum 0.8, learning rate ``max(N / 12, 200)``, no
  exaggeration, and no point moving more than 5 map units in one step (openTSNE's
  ``max_step_norm``: without it a few states of a whole corpus flew hundreds of units off and
  stretched the grid, coarsening everyone else's repulsion).

Memory is the graph (8·N·k bytes with its reverse) plus a few arrays of N positions: 0.7 GB for
2.6 million states and k = 30, and the states' principal components (N × 50 float32) while the
graph is built. The attraction runs in compiled loops (numba, parallel over states, no atomics:
each state sums its own forces), so its result does not depend on the number of threads.

How it differs from openTSNE's refinement: the repulsion's interpolation (a bilinear grid of at
most ``max_grid`` nodes a side against FIt-SNE's three-node polynomials), and nothing else;
measured on the same graph and start, the maps' quality agrees (tests/compute/test_refinement.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from rnnpanel.compute.ann import IVFIndex
from rnnpanel.compute.projection.placement import RepulsionField

#: Refinement iterations that bring a placed map to a full fit's quality (benchmarks/RESULTS.md).
DEFAULT_REFINE_ITER = 150
#: Neighbours per state in the refinement's graph.
DEFAULT_REFINE_NEIGHBORS = 30
_MOMENTUM = 0.8
_MIN_GAIN = 0.01
#: openTSNE's ``max_step_norm``: no point moves farther in one step (a few would fly off and stretch the grid).
_MAX_STEP = 5.0

Progress = Callable[[int, int], Any]
"""``progress(done, total)`` after each iteration (or graph cell block)."""


def knn_graph_int32(points: np.ndarray, k: int, *, n_probe: int = 8, random_state: Any = None,
                    progress: Progress | None = None) -> np.ndarray:
    """The ``k`` approximate nearest other points of every point, ``(N, k)`` int32, nearest first.

    ``points`` (N, d) float32 NumPy is **taken over**: the IVF index reorders its rows in place
    (no second copy of N × d). Cells are searched one at a time (the points of a cell are
    contiguous in the index) and written into the int32 graph, so no int64 ``(N, k + 1)`` array of
    the whole graph exists. A point that its own search missed drops its farthest neighbour.
    """
    n = int(points.shape[0])
    if n > np.iinfo(np.int32).max:
        raise ValueError(f"{n} points do not fit an int32 graph")
    if not 1 <= int(k) < n:
        raise ValueError(f"k must be between 1 and the number of points minus one ({n - 1}), got {k}")
    index = IVFIndex(points, n_probe=n_probe, random_state=random_state, copy=False)
    graph = np.empty((n, int(k)), dtype=np.int32)
    cells = np.flatnonzero(np.diff(index.bounds_host))
    for done, cell in enumerate(cells, start=1):
        start, stop = int(index.bounds_host[cell]), int(index.bounds_host[cell + 1])
        # the points of one cell are one contiguous block of the reordered index: its own search
        found, _ = index._search_cell(int(cell), index.points[start:stop], index.points_sq[start:stop], int(k) + 1)
        rows = index.order[start:stop]
        own = found == rows[:, None]
        drop = np.where(own.any(axis=1), np.argmax(own, axis=1), int(k))
        cols = np.arange(int(k))[None, :]
        cols = cols + (cols >= drop[:, None])
        graph[rows] = np.take_along_axis(found, cols, axis=1)
        if progress is not None and (done % 64 == 0 or done == cells.size):
            progress(done, int(cells.size))
    return graph


@numba.njit(cache=True)
def _reverse(graph: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    counts = np.zeros(n + 1, dtype=np.int64)
    rows, k = graph.shape
    for i in range(rows):
        for m in range(k):
            counts[graph[i, m] + 1] += 1
    for i in range(n):
        counts[i + 1] += counts[i]
    fill = counts[:-1].copy()
    sources = np.empty(rows * k, dtype=np.int32)
    for i in range(rows):
        for m in range(k):
            j = graph[i, m]
            sources[fill[j]] = i
            fill[j] += 1
    return counts, sources


def reverse_graph(graph: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr (N + 1,) int64, sources (N·k,) int32)``: the states having state ``j`` among their
    neighbours are ``sources[indptr[j]:indptr[j + 1]]``, in increasing order (a counting sort)."""
    return _reverse(np.ascontiguousarray(graph, dtype=np.int32), int(graph.shape[0]))


@numba.njit(parallel=True, cache=True)
def _attraction(y: np.ndarray, graph: np.ndarray, indptr: np.ndarray, sources: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    n, k = graph.shape
    for i in numba.prange(n):
        yx, yy = y[i, 0], y[i, 1]
        ax = 0.0
        ay = 0.0
        for m in range(k):
            j = graph[i, m]
            dx, dy = yx - y[j, 0], yy - y[j, 1]
            w = 1.0 / (1.0 + dx * dx + dy * dy)
            ax += w * dx
            ay += w * dy
        for m in range(indptr[i], indptr[i + 1]):
            j = sources[m]
            dx, dy = yx - y[j, 0], yy - y[j, 1]
            w = 1.0 / (1.0 + dx * dx + dy * dy)
            ax += w * dx
            ay += w * dy
        out[i, 0] = ax
        out[i, 1] = ay


def attraction(y: np.ndarray, graph: np.ndarray, indptr: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """``Σ_j (A + Aᵀ)_ij w_ij (y_i − y_j)`` per state (N, 2) float64, ``w = 1 / (1 + |y_i − y_j|²)``."""
    out = np.empty((int(y.shape[0]), 2), dtype=np.float64)
    _attraction(y, graph, indptr, sources, out)
    return out


def refine_streamed(embedding: np.ndarray, graph: np.ndarray, *, n_iter: int = DEFAULT_REFINE_ITER,
                    learning_rate: float | None = None, n_jobs: int = 1, max_grid: int = 1024,
                    progress: Progress | None = None) -> np.ndarray:
    """``n_iter`` t-SNE iterations of every point from ``embedding`` (N, 2) over the k-NN ``graph`` (N, k).

    The optimisation of :func:`.placement.refine` (uniform symmetrised affinities, no early
    exaggeration, openTSNE's gains and momentum, learning rate ``max(N / 12, 200)`` unless given)
    in the memory of the graph (see the module docstring). ``progress(done, n_iter)`` after each
    iteration; a truthy return stops early (the map reached so far is returned).
    Returns float32 ``(N, 2)``.
    """
    y = np.array(embedding, dtype=np.float64, order="C")
    n, k = graph.shape
    if y.shape != (n, 2):
        raise ValueError(f"embedding has shape {y.shape} for a graph of {n} points; the refinement needs (N, 2)")
    rate = max(n / 12.0, 200.0) if learning_rate is None else float(learning_rate)
    indptr, sources = reverse_graph(graph)
    threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
    try:
        update = np.zeros_like(y)
        gains = np.ones_like(y)
        field = None
        for it in range(int(n_iter)):
            if field is None or not field.contains(y):   # a frame with room to move, kept while the map stays in it
                field = RepulsionField(y, margin=5.0 + 0.05 * float(np.ptp(y, axis=0).max()), max_grid=max_grid)
            else:
                field.deposit(y)
            rx, ry = field.force(y)
            grad = attraction(y, graph, indptr, sources) / (2.0 * k)
            grad[:, 0] -= rx
            grad[:, 1] -= ry
            grad *= 4.0 / n
            flipped = np.sign(grad) != np.sign(update)
            gains = np.where(flipped, gains + 0.2, gains * 0.8)
            np.maximum(gains, _MIN_GAIN, out=gains)
            update = _MOMENTUM * update - rate * gains * grad
            norms = np.sqrt(np.sum(update * update, axis=1))
            far = norms > _MAX_STEP
            update[far] *= (_MAX_STEP / norms[far])[:, None]      # openTSNE's max_step_norm: none flies off
            y += update
            if progress is not None and progress(it + 1, int(n_iter)):
                break
    finally:
        numba.set_num_threads(threads)
    return y.astype(np.float32)
