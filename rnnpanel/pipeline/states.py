"""The original-space states behind a map, for the views that need more than 2-D positions: the
nearest neighbours of one state and the units of one sequence (SPEC §2, beyond the paper).

The matrix of one (entry, layer, state kind) is read from the store once per process and shared
by every session; the browser only ever receives the few rows a view draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.store import StateStore

CACHE_SIZE = 2
_MATRICES: LockedCache[np.ndarray] = LockedCache(CACHE_SIZE)


def state_matrix(store_root: str | Path, entry_key: str, *, layer: int, state: str) -> np.ndarray:
    """``(N, D)`` float32 states of one layer and kind, in the entry's state order (cached)."""
    key = (str(Path(store_root).resolve()), entry_key, int(layer), state)

    def read() -> np.ndarray:
        matrix = np.ascontiguousarray(StateStore(store_root).open_entry(entry_key).states(layer, state),
                                      dtype=np.float32)
        matrix.setflags(write=False)     # shared by every session
        return matrix

    return _MATRICES.get_or_make(key, read)


def nearest_states(store_root: str | Path, entry_key: str, query: int | np.ndarray, *, layer: int, state: str,
                   k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` stored states nearest in the original space to ``query``: a stored state's index
    (itself left out) or a state vector ``(D,)`` (e.g. of the live input). Returns
    ``(indices, distances)``, nearest first."""
    matrix = state_matrix(store_root, entry_key, layer=layer, state=state)
    own = int(query) if np.isscalar(query) else -1
    vector = matrix[own] if own >= 0 else np.asarray(query, dtype=np.float32)
    k = max(0, min(int(k), len(matrix) - (own >= 0)))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx, dist = kneighbors(matrix, k + (own >= 0), queries=vector[None, :])
    keep = idx[0] != own
    return np.asarray(idx[0][keep][:k], dtype=np.int64), np.asarray(dist[0][keep][:k], dtype=np.float32)
