"""The original-space states behind a map, for the views that need more than 2-D positions: the
nearest neighbours of one state and the units of one sequence (docs/design.md, Tools beyond the paper).

A whole corpus's states do not belong in a server's memory (2.6 million states of 100 units are
1 GB per layer and kind), so what a view needs is read or built once per process and shared by
every session; the browser only ever receives the few rows a view draws:

* the units of one sequence are its rows of the stored (chunked) array, read alone;
* the neighbours of a state come from a :class:`NeighbourIndex` per (entry, layer, state kind):
  up to :data:`EXACT_UP_TO` states, the matrix itself and an exact search; above, the states
  reduced to :data:`INDEX_COMPONENTS` principal components in the IVF index the projection's
  placement uses (:class:`~rnnpanel.compute.ann.IVFIndex`), searched in milliseconds.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.compute.ann import IVFIndex
from rnnpanel.compute.neighbors import kneighbors
from rnnpanel.compute.projection.placement import NeighborPlacer, gather_rows, reduce_rows
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.child_process import Report, run_in_child, send_error
from rnnpanel.pipeline.project import fitted_map, layer_index
from rnnpanel.store import StateStore, StoredEntry
from rnnpanel.store.mapped import has_mapped, read_mapped, write_mapped
from rnnpanel.store.state_store import direction_half

log = logging.getLogger(__name__)

CACHE_SIZE = 2
#: Up to this many states the matrix is held (float32) and neighbours are exact.
EXACT_UP_TO = 200_000
#: Above it, neighbours are searched among the states reduced to this many principal components.
INDEX_COMPONENTS = 50
INDEX_TRAIN_ROWS = 100_000      # states the principal components are computed from
#: IVF cells searched per query, of about √N cells: on 2.6 million states of 20 Newsgroups, 60 % of
#: the 10 found are among the exact 10 and they are on average 2 % farther (benchmarks/RESULTS.md).
INDEX_PROBES = 32

_ENTRIES: LockedCache[StoredEntry] = LockedCache(8)
_MATRICES: LockedCache[np.ndarray] = LockedCache(CACHE_SIZE)
_INDEXES: LockedCache[NeighbourIndex] = LockedCache(CACHE_SIZE)
#: Decoded chunks of large entries kept for the Units tab: the next sequence (an arrow key) is
#: usually in the same chunk, and decoding one takes about 0.1 s.
_CHUNKS: LockedCache[np.ndarray] = LockedCache(4)


def _key(store_root: str | Path, entry_key: str, layer: int, state: str) -> tuple:
    return str(Path(store_root).resolve()), entry_key, int(layer), state


def opened_entry(store_root: str | Path, entry_key: str) -> StoredEntry:
    """The entry, opened once per process (its arrays are read lazily, chunk by chunk)."""
    return _ENTRIES.get_or_make((str(Path(store_root).resolve()), entry_key),
                                lambda: StateStore(store_root).open_entry(entry_key))


class StoredStates:
    """The stored states of one layer and kind as an on-disk array: slicing rows reads only the
    chunks they touch; a bidirectional direction's half is cut from the rows read."""

    def __init__(self, entry: StoredEntry, layer: int, state: str) -> None:
        base = state.partition("_")[0]
        if base not in entry.attrs["state_kinds"] or state not in entry.state_choices:
            entry.states(layer, state)     # raises the StoreError naming the stored kinds
        self._array = entry.array(f"layer_{layer_index(entry, layer)}/{base}")
        self._kind, self._hidden = state, int(entry.attrs["hidden_size"])
        self._bidirectional = bool(entry.attrs.get("bidirectional"))
        width = int(self._array.shape[1])
        self.shape = (int(self._array.shape[0]), width // 2 if "_" in state and self._bidirectional else width)
        self.chunks = self._array.chunks

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        full = np.asarray(self._array[rows], dtype=np.float32)
        return direction_half(full, self._kind, hidden_size=self._hidden, bidirectional=self._bidirectional)


def state_matrix(store_root: str | Path, entry_key: str, *, layer: int, state: str) -> np.ndarray:
    """``(N, D)`` float32 states of one layer and kind, in the entry's state order (cached; for
    entries up to :data:`EXACT_UP_TO` states, the others are read by rows)."""

    def read() -> np.ndarray:
        matrix = np.ascontiguousarray(opened_entry(store_root, entry_key).states(layer, state), dtype=np.float32)
        matrix.setflags(write=False)     # shared by every session
        return matrix

    return _MATRICES.get_or_make(_key(store_root, entry_key, layer, state), read)


def sequence_states(store_root: str | Path, entry_key: str, rows: slice, *, layer: int, state: str) -> np.ndarray:
    """``(T, D)`` float32: the states ``rows`` of one sequence, from the held matrix of a small
    entry or read alone from the store (one or two chunks) for a large one."""
    entry = opened_entry(store_root, entry_key)
    if int(entry.attrs["n_states"]) <= EXACT_UP_TO:
        return state_matrix(store_root, entry_key, layer=layer, state=state)[rows]
    stored = StoredStates(entry, layer, state)
    step = int(stored.chunks[0])
    first, last = rows.start // step, max(rows.start, rows.stop - 1) // step
    parts = [_CHUNKS.get_or_make(_key(store_root, entry_key, layer, state) + (c,),
                                 lambda c=c: stored[c * step:(c + 1) * step])
             for c in range(first, last + 1)]
    block = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return block[rows.start - first * step:rows.stop - first * step]


class NeighbourIndex:
    """The nearest stored states of a state, exact over the held ``matrix`` or approximate over the
    states reduced by PCA in an IVF index (``approximate``); distances are in that space. An
    approximate index is saved (:meth:`arrays`) and reopened memory-mapped (:meth:`from_arrays`)."""

    def __init__(self, states: Any, *, exact: bool, random_state: int = 0) -> None:
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
                            n_probe=INDEX_PROBES, random_state=random_state, copy=False)
        self._position = np.empty(self.n, dtype=np.int64)     # state → its row in the index's points
        self._position[self.ivf.order] = np.arange(self.n)

    def arrays(self) -> dict[str, np.ndarray]:
        """An approximate index as arrays (the PCA, the IVF index, each state's row in it)."""
        if self.matrix is not None:
            raise ValueError("an exact neighbour index is the state matrix itself: nothing to save")
        return {"pca_mean": self._mean, "pca_basis": self._basis, "position": self._position,
                **{f"ivf_{name}": array for name, array in self.ivf.arrays().items()}}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> NeighbourIndex:
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


def index_name(layer: int, state: str) -> str:
    """The folder of an entry's stored neighbour index for one layer and kind (its build settings in the name)."""
    return (f"neighbours-layer{int(layer)}-{state}-pca{INDEX_COMPONENTS}-train{INDEX_TRAIN_ROWS}"
            f"-probe{INDEX_PROBES}-v{INDEX_VERSION}")


def neighbour_index(store_root: str | Path, entry_key: str, *, layer: int, state: str) -> NeighbourIndex:
    """The entry's neighbour index for one layer and kind, shared by the process's sessions.

    Above :data:`EXACT_UP_TO` states it is built once per entry (seconds to a minute for millions
    of states: call it off the threads that serve pages), stored beside the entry, and opened
    memory-mapped: every later process (another server, each of ``--num-procs``) opens it at
    once and shares its pages through the file cache instead of building its own copy.
    """

    layer = layer_index(opened_entry(store_root, entry_key), layer)     # -1 and the top layer: one index

    def build() -> NeighbourIndex:
        entry = opened_entry(store_root, entry_key)
        started = time.perf_counter()
        if int(entry.attrs["n_states"]) <= EXACT_UP_TO:
            index = NeighbourIndex(state_matrix(store_root, entry_key, layer=layer, state=state), exact=True)
        else:
            folder = StateStore(store_root).derived_path(entry_key, index_name(layer, state))
            if not has_mapped(folder):
                built = NeighbourIndex(StoredStates(entry, layer, state), exact=False)
                write_mapped(folder, built.arrays(), {"entry_key": entry_key, "layer": int(layer), "state": state})
                del built
            index = NeighbourIndex.from_arrays(read_mapped(folder)[0])
        log.info("neighbour index of %s layer %d %s: %d states, %.0f MB, %.1f s", entry_key, layer, state,
                 index.n, index.nbytes / 2**20, time.perf_counter() - started)
        return index

    return _INDEXES.get_or_make(_key(store_root, entry_key, layer, state), build)


def neighbour_index_ready(store_root: str | Path, entry_key: str, *, layer: int, state: str) -> bool:
    """Whether :func:`neighbour_index` answers at once: small entries, an index this process holds,
    or one stored beside the entry."""
    entry = opened_entry(store_root, entry_key)
    if int(entry.attrs["n_states"]) <= EXACT_UP_TO:
        return True
    layer = layer_index(entry, layer)
    if _INDEXES.get(_key(store_root, entry_key, layer, state)) is not None:
        return True
    return has_mapped(StateStore(store_root).derived_path(entry_key, index_name(layer, state)))


def _index_settings() -> dict[str, int]:
    """What decides how an index is built, as this process has it (a child builds the same)."""
    return {"EXACT_UP_TO": EXACT_UP_TO, "INDEX_PROBES": INDEX_PROBES}


def index_in_child(store_root: str, entry_key: str, layer: int, state: str, settings: dict[str, int],
                   messages) -> None:
    """In a child process: build and store one neighbour index, with the parent's settings."""
    globals().update(settings)
    try:
        neighbour_index(store_root, entry_key, layer=layer, state=state)
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)


def store_neighbour_index(store_root: str | Path, entry_key: str, *, layer: int, state: str,
                          report: Report | None = None) -> bool:
    """Build and store a large entry's neighbour index in a child process (its gigabyte of
    temporaries and its minute of CPU never the server's), unless :func:`neighbour_index` can
    already answer at once. True if an index was built."""
    if neighbour_index_ready(store_root, entry_key, layer=layer, state=state):
        return False
    run_in_child(index_in_child, (str(store_root), entry_key, int(layer), state, _index_settings()),
                 report or (lambda fraction, message="": None), name="rnnpanel-neighbour-index",
                 what="the neighbour index")
    return True


def nearest_states(store_root: str | Path, entry_key: str, query: int | np.ndarray, *, layer: int, state: str,
                   k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` stored states nearest in the original space to ``query``: a stored state's index
    (itself left out) or a state vector ``(D,)`` (e.g. of the live input). Returns
    ``(indices, distances)``, nearest first (approximate, in PCA space, for large entries)."""
    return neighbour_index(store_root, entry_key, layer=layer, state=state).query(query, k)


def place_states(store: StateStore, entry: StoredEntry, projection_key: str, new_states: Any, *,
                 k: int = 10) -> tuple[np.ndarray, str]:
    """Positions of new states (live input) in a stored map: ``(xy (M, 2) float32, how)``.

    When this process fitted the map, its backend places them (``how="transform"``: openTSNE
    optimises the new points against the fixed map, UMAP and PCA apply theirs). Otherwise each new
    state goes to the robust centre of the map positions of its ``k`` nearest stored states
    (``how="neighbors"``), found in the entry's shared :func:`neighbour_index` (built once per
    entry, in a child process), so a whole corpus is never read or scanned per typed text.
    """
    from rnnpanel.compute.projection.placement import position_from_neighbors

    fitted = fitted_map(entry.key, projection_key)
    if fitted is not None and fitted.estimator_.supports_transform:
        return fitted.transform(new_states), "transform"
    arrays, attrs = store.read_projection(entry.key, projection_key)
    layer, state = int(attrs["layer"]), str(attrs["state"])
    store_neighbour_index(store.root, entry.key, layer=layer, state=state)     # a large entry's, once, in a child
    index = neighbour_index(store.root, entry.key, layer=layer, state=state)
    idx, dist = index.query_vectors(new_states, k)
    return position_from_neighbors(np.asarray(arrays["embedding"], dtype=np.float32), idx, dist), "neighbors"
