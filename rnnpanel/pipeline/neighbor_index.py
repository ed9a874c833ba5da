"""The nearest stored states of a state, for the Neighbours tab and for placing live input.

Up to a few hundred thousand states the matrix itself is searched exactly; above, the states are
reduced to :data:`INDEX_COMPONENTS` principal components in the IVF index the projection's
placement uses (:class:`~rnnpanel.compute.ann.IVFIndex`), searched in milliseconds. Such an
index is saved beside its entry (:meth:`NeighborIndex.arrays`) and reopened memory-mapped by
every later process (:meth:`NeighborIndex.from_arrays`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnpanel.compute.ann import IVFIndex
from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection.placement import NeighborPlacer, reduce_rows
from rnnpanel.compute.row_blocks import gather_rows

#: Above the exact limit, neighbours are searched among the states reduced to this many principal components.
INDEX_COMPONENTS = 50
INDEX_TRAIN_ROWS = 100_000      # states the principal components are computed from
#: IVF cells searched per query, of about √N cells: on 2.6 million states of 20 Newsgroups, 60 % of
#: the 10 found are among the exact 10 and they are on average 2 % farther (benchmarks/RESULTS.md).
INDEX_PROBES = 32


class NeighborIndex:
    """The nearest stored states of a state, exact over the held ``matrix`` or approximate over the
    states reduced by PCA in an IVF index (``approximate``); distances are in that space. An
    approximate index is saved (:meth:`arrays`) and reopened memory-mapped (:meth:`from_arrays`)."""

    def __init__(self, states: Any, *, exact: bool, probes: int = INDEX_PROBES, random_state: int = 0) -> None:
        self.n = int(states.shape[0])
        self._width = int(states.shape[1])
        self.approximate = not exact
        self.matrix: np.ndarray | None = None
        if exact:
            self.matrix = np.ascontiguousarray(states, dtype=np.float32)
            return
        rng = np.random.default_rng(random_state)
        train = np.sort(rng.choice(self.n, size=min(self.n, INDEX_TRAIN_ROWS), replace=False))
        sample = np.asarray(gather_rows(states, train), dtype=np.float32)
        # the placement's PCA (one cell: its own index over the sample is not needed, nor kept)
        pca = NeighborPlacer(sample, np.zeros((len(sample), 1), dtype=np.float32), k=1,
                             components=INDEX_COMPONENTS, n_cells=1)
        # no reduction (as many components as units) is the identity: the same floats, one code path
        self._mean = pca.mean
        self._basis = pca.basis if pca.basis is not None else np.eye(self._width, dtype=np.float32)
        # the reduced states (0.5 GB for 2.6 million) are handed over and reordered in place
        self.ivf = IVFIndex(reduce_rows(pca, states), n_cells=max(1, round(self.n ** 0.5)),
                            n_probe=probes, random_state=random_state, copy=False)
        self._position = np.empty(self.n, dtype=np.int64)     # state → its row in the index's points
        self._position[self.ivf.order] = np.arange(self.n)

    def arrays(self) -> dict[str, np.ndarray]:
        """An approximate index as arrays (the PCA, the IVF index, each state's row in it)."""
        if self.matrix is not None:
            raise ValueError("an exact neighbour index is the state matrix itself: nothing to save")
        return {"pca_mean": self._mean, "pca_basis": self._basis, "position": self._position,
                **{f"ivf_{name}": array for name, array in self.ivf.arrays().items()}}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> NeighborIndex:
        """The approximate index :meth:`arrays` saved, over those arrays (memory-mapped or not)."""
        index = cls.__new__(cls)
        index.matrix, index.approximate = None, True
        index._mean, index._basis, index._position = arrays["pca_mean"], arrays["pca_basis"], arrays["position"]
        index.ivf = IVFIndex.from_arrays({name: arrays[f"ivf_{name}"] for name in IVFIndex.ARRAYS})
        index.n, index._width = int(index._position.shape[0]), int(index._basis.shape[0])
        return index

    def _reduce(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors - self._mean) @ self._basis

    @property
    def nbytes(self) -> int:
        if self.matrix is not None:
            return self.matrix.nbytes
        return self.ivf.points.nbytes + self.ivf.order.nbytes + self._position.nbytes

    def query(self, query: int | np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, distances)`` of the ``k`` nearest stored states to a stored state's index
        (itself left out) or to a state vector ``(D,)``, nearest first."""
        own = int(query) if np.isscalar(query) else -1
        k = max(0, min(int(k), self.n - (own >= 0)))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        want = k + (own >= 0)
        if self.matrix is not None:
            vector = self.matrix[own] if own >= 0 else np.asarray(query, dtype=np.float32)
            idx, dist = kneighbors(self.matrix, want, queries=vector[None, :])
        else:
            if own >= 0:
                vector = self.ivf.points[self._position[own]]
            else:
                vector = self._reduce(np.asarray(query, dtype=np.float32)[None, :])[0]
            idx, dist = self.ivf.query(vector[None, :], want)
        idx, dist = np.asarray(idx[0], dtype=np.int64), np.asarray(dist[0], dtype=np.float32)
        keep = idx != own
        return idx[keep][:k], dist[keep][:k]

    def query_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices (M, k), distances (M, k))`` of the stored states nearest each state vector of
        ``vectors`` (M, D) (e.g. every step of a typed text), in one batched search."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self._width)
        k = max(1, min(int(k), self.n))
        if self.matrix is not None:
            idx, dist = kneighbors(self.matrix, k, queries=vectors)
        else:
            idx, dist = self.ivf.query(self._reduce(vectors), k)
        return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float32)


#: Names the stored approximate index; a change of how it is built is a new name.
INDEX_VERSION = 1


def index_name(layer: int, kind: str, *, probes: int = INDEX_PROBES) -> str:
    """The folder of an entry's stored neighbour index for one layer and kind (its build settings in the name)."""
    return (f"neighbours-layer{int(layer)}-{kind}-pca{INDEX_COMPONENTS}-train{INDEX_TRAIN_ROWS}"
            f"-probe{int(probes)}-v{INDEX_VERSION}")
