"""Quality of a 2-D map, measured the same way for every backend.

* **trustworthiness(k)** — scikit-learn's definition (Venna & Kaski): penalises points that
  are among a point's ``k`` nearest neighbours in the map but not in the original space, by
  how far down the original ranking they are. 1 is perfect.
* **k-NN preservation(k)** — mean over points of ``|N_k^X(i) ∩ N_k^Y(i)| / k``: the share of
  each point's original neighbours that stay its neighbours in the map.
* **neighbourhood hit(k)** — mean share of each point's ``k`` map neighbours with its class.

Exact metrics need all pairwise distances, so :func:`projection_quality` evaluates them on a
fixed, seeded random subsample (neighbourhoods are taken within the subsample), which keeps
the metric cheap at a million states and makes numbers comparable across backends and runs.
Everything runs on NumPy or CuPy arrays alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.xp import array_namespace, asarray

DEFAULT_K = 10
DEFAULT_MAX_POINTS = 5000
_RANK_BLOCK_BYTES = 64 * 2**20


def _check_pair(X: Any, Y: Any) -> tuple[Any, Any, Any]:
    x = asarray(X)
    xp = array_namespace(x)
    y = asarray(Y, xp=xp)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D arrays, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    return xp, x, y


def _check_k(k: int, n: int) -> int:
    if not 1 <= int(k) < n / 2:
        raise ValueError(f"k must be at least 1 and less than n / 2 ({n / 2:g} here), got {k}")
    return int(k)


def trustworthiness(X: Any, Y: Any, k: int = DEFAULT_K, *, neighbors_y: Any = None) -> float:
    """scikit-learn's ``trustworthiness(X, Y, n_neighbors=k)``, computed without an N×N argsort.

    The rank of ``j`` among ``i``'s original neighbours is one plus the number of points closer
    to ``i`` than ``j`` is, counted block by block. ``neighbors_y`` may pass precomputed map
    neighbours ``(N, k)``.
    """
    xp, x, y = _check_pair(X, Y)
    n = int(x.shape[0])
    k = _check_k(k, n)
    iy = kneighbors(y, k)[0] if neighbors_y is None else asarray(neighbors_y, xp=xp)[:, :k]
    x64 = x.astype(xp.float64)
    sq = xp.sum(x64 * x64, axis=1)
    block = max(1, _RANK_BLOCK_BYTES // max(1, n * k))
    penalty = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = xp.arange(stop - start)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (x64[start:stop] @ x64.T)
        d2[rows, rows + start] = xp.inf
        d_sel = xp.take_along_axis(d2, iy[start:stop], axis=1)
        ranks = xp.sum(d2[:, None, :] < d_sel[:, :, None], axis=2) + 1
        penalty += float(xp.sum(xp.maximum(ranks - k, 0)))
    return 1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))


def knn_preservation(X: Any, Y: Any, k: int = DEFAULT_K, *, neighbors_x: Any = None, neighbors_y: Any = None) -> float:
    """Mean over points of the share of their ``k`` original neighbours that are also map neighbours."""
    xp, x, y = _check_pair(X, Y)
    k = _check_k(k, int(x.shape[0]))
    ix = kneighbors(x, k)[0] if neighbors_x is None else asarray(neighbors_x, xp=xp)[:, :k]
    iy = kneighbors(y, k)[0] if neighbors_y is None else asarray(neighbors_y, xp=xp)[:, :k]
    shared = xp.sum(xp.any(ix[:, :, None] == iy[:, None, :], axis=2), axis=1)
    return float(xp.mean(shared / k))


def neighborhood_hit(Y: Any, labels: Any, k: int = DEFAULT_K, *, neighbors_y: Any = None) -> float:
    """Mean share of each point's ``k`` map neighbours that carry its label."""
    y = asarray(Y)
    xp = array_namespace(y)
    lab = asarray(labels, xp=xp)
    if lab.shape != (y.shape[0],):
        raise ValueError(f"labels must be (N,) = ({y.shape[0]},), got shape {tuple(lab.shape)}")
    k = _check_k(k, int(y.shape[0]))
    iy = kneighbors(y, k)[0] if neighbors_y is None else asarray(neighbors_y, xp=xp)[:, :k]
    return float(xp.mean(lab[iy] == lab[:, None]))


def evaluation_subsample(n: int, max_points: int | None = DEFAULT_MAX_POINTS, random_state: int = 0) -> np.ndarray:
    """Sorted indices of the fixed random subsample the metrics use (all points when ``n <= max_points``)."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=int(max_points), replace=False))


def projection_quality(
    X: Any,
    Y: Any,
    labels: Any = None,
    *,
    k: int = DEFAULT_K,
    max_points: int | None = DEFAULT_MAX_POINTS,
    random_state: int = 0,
) -> dict[str, Any]:
    """All three metrics on one seeded subsample, sharing the neighbour searches.

    Returns ``{"trustworthiness", "knn_preservation", "neighborhood_hit" (None without labels),
    "k", "n_evaluated"}`` with plain Python numbers.
    """
    xp, x, y = _check_pair(X, Y)
    idx = evaluation_subsample(int(x.shape[0]), max_points, random_state)
    sel = xp.asarray(idx)
    xs, ys = x[sel], y[sel]
    k = _check_k(k, int(idx.size))
    iy = kneighbors(ys, k)[0]
    ix = kneighbors(xs, k)[0]
    result: dict[str, Any] = {
        "trustworthiness": trustworthiness(xs, ys, k, neighbors_y=iy),
        "knn_preservation": knn_preservation(xs, ys, k, neighbors_x=ix, neighbors_y=iy),
        "neighborhood_hit": None,
        "k": k,
        "n_evaluated": int(idx.size),
    }
    if labels is not None:
        lab = asarray(labels, xp=xp)
        result["neighborhood_hit"] = neighborhood_hit(ys, lab[sel], k, neighbors_y=iy)
    return result
