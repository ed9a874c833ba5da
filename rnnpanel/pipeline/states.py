"""One entry's states of one layer and kind, and everything a server derives from them: the way in.

``EntryStates(store.entry(key).states(layer=-1, kind="h"))`` are the states of a layer and kind; from
them come their rows (:meth:`~EntryStates.rows`), their whole matrix when it is small
(:meth:`~EntryStates.matrix`), their maps (:meth:`~EntryStates.project`), the :class:`Sample` the
views draw (:meth:`~EntryStates.sample`) and the nearest neighbours of a state
(:meth:`~EntryStates.nearest`).

A whole corpus's states do not belong in a server's memory (2.6 million states of 100 units are
1 GB per layer and kind), so what is read or built is kept once per process, keyed by the entry,
layer and kind, and shared by every session; the browser only ever receives the few rows a view
draws. Work of minutes and gigabytes (a map or a neighbour index of millions of states) runs in a
child process (:mod:`.child_process`), which is handed a :class:`StatesSettings`: which states,
and the limits that decide how they are read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnpanel.compute.projection.names import METHODS
from rnnpanel.errors import StoreError
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.child_process import Report, report_to, run_in_child, send_error
from rnnpanel.pipeline.load import build_sample
from rnnpanel.pipeline.neighbor_index import INDEX_PROBES, NeighborIndex, index_name
from rnnpanel.pipeline.project import (
    ProjectionResult,
    fitted_map,
    project_states,
    requested_key,
)
from rnnpanel.pipeline.refined_map import best_map_key
from rnnpanel.pipeline.sample import Sample
from rnnpanel.store import LayerStates, StateStore, StoredEntry
from rnnpanel.store.disk_space import BLOCK_BYTES, METADATA_BYTES, check_room, telling_full_disk
from rnnpanel.store.mapped import has_mapped, read_mapped, write_mapped

log = logging.getLogger(__name__)

#: Up to this many states the matrix is held (float32) and neighbours are exact.
EXACT_UP_TO = 200_000


@dataclass(frozen=True)
class StatesSettings:
    """What a child process needs to open the same states and build what the parent would."""

    root: str
    entry: str
    layer: int
    kind: str
    exact_up_to: int
    index_probes: int


def _quiet(fraction: float, message: str = "") -> None:
    """A progress report nobody follows."""


class EntryStates:
    """The states of one layer and kind of a stored entry, as a server reads and derives from them.

    Parameters
    ----------
    states
        The stored states (``store.entry(key).states(layer=..., kind=...)``).
    exact_up_to
        Up to this many states the matrix is held and neighbours are exact (None: :data:`EXACT_UP_TO`).
    index_probes
        IVF cells searched per neighbour query above that (None: :data:`~.neighbor_index.INDEX_PROBES`).
    """

    _matrices: LockedCache[np.ndarray] = LockedCache(2)
    #: Decoded blocks of large entries kept for the Units tab: the next sequence (an arrow key) is
    #: usually in the same block, and decoding one takes about 0.1 s.
    _blocks: LockedCache[np.ndarray] = LockedCache(4)
    _indexes: LockedCache[NeighborIndex] = LockedCache(2)
    _samples: LockedCache[Sample] = LockedCache(8)

    def __init__(self, states: LayerStates, *, exact_up_to: int | None = None,
                 index_probes: int | None = None) -> None:
        self.stored = states
        self.exact_up_to = EXACT_UP_TO if exact_up_to is None else int(exact_up_to)
        self.index_probes = INDEX_PROBES if index_probes is None else int(index_probes)

    @classmethod
    def from_settings(cls, settings: StatesSettings) -> EntryStates:
        """The states :attr:`settings` describe, opened in this process (a child's way in)."""
        states = StateStore(settings.root).entry(settings.entry).states(layer=settings.layer, kind=settings.kind)
        return cls(states, exact_up_to=settings.exact_up_to, index_probes=settings.index_probes)

    @property
    def settings(self) -> StatesSettings:
        a = self.stored.address
        return StatesSettings(a.root, a.entry, a.layer, a.kind, self.exact_up_to, self.index_probes)

    def __repr__(self) -> str:
        return f"EntryStates({self.stored!r}, exact_up_to={self.exact_up_to})"

    @property
    def entry(self) -> StoredEntry:
        return self.stored.entry

    @property
    def layer(self) -> int:
        """The layer, non-negative."""
        return self.stored.layer

    @property
    def kind(self) -> str:
        return self.stored.kind

    @property
    def small(self) -> bool:
        """Whether the matrix is held and searched exactly (at most :attr:`exact_up_to` states)."""
        return len(self.stored) <= self.exact_up_to

    # -- the states themselves -------------------------------------------------------------------
    def matrix(self) -> np.ndarray:
        """``(N, D)`` float32, read-only, in the entry's state order: read once per process.

        Raises
        ------
        StoreError
            The entry has more than :attr:`exact_up_to` states (read them by :meth:`rows`).
        """
        if not self.small:
            raise StoreError(f"{len(self.stored):,} states are too many to hold (at most {self.exact_up_to:,}); "
                             "read them by rows")

        def read() -> np.ndarray:
            matrix = self.stored.read_all()
            matrix.setflags(write=False)     # shared by every session
            return matrix

        return self._matrices.get_or_make(self.stored.address, read)

    def rows(self, rows: slice) -> np.ndarray:
        """``(T, D)`` float32: the states ``rows`` (one sequence's), from the held matrix of a small
        entry, else from the one or two stored blocks they lie in (the last few kept)."""
        if self.small:
            return self.matrix()[rows]
        step = self.stored.block_rows
        first, last = rows.start // step, max(rows.start, rows.stop - 1) // step
        parts = [self._blocks.get_or_make((self.stored.address, b), lambda b=b: self.stored.block(b))
                 for b in range(first, last + 1)]
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return block[rows.start - first * step:rows.stop - first * step]

    # -- the nearest stored states ---------------------------------------------------------------
    def _index_folder(self):
        return self.entry.store.derived_path(self.entry.key, index_name(self.layer, self.kind,
                                                                        probes=self.index_probes))

    def neighbor_index(self) -> NeighborIndex:
        """The neighbour index of these states, shared by the process's sessions.

        Above :attr:`exact_up_to` states it is built once per entry (seconds to a minute for
        millions of states: see :meth:`store_neighbor_index`), stored beside the entry, and
        opened memory-mapped: every later process (another server, each of ``--num-procs``)
        opens it at once and shares its pages through the file cache.
        """

        def build() -> NeighborIndex:
            started = time.perf_counter()
            if self.small:
                index = NeighborIndex(self.matrix(), exact=True)
            else:
                folder = self._index_folder()
                if not has_mapped(folder):
                    built = NeighborIndex(self.stored, exact=False, probes=self.index_probes)
                    self._store_index(folder, built.arrays())
                    del built
                index = NeighborIndex.from_arrays(read_mapped(folder)[0])
            log.info("neighbour index of %s layer %d %s: %d states, %.0f MB, %.1f s", self.entry.key, self.layer,
                     self.kind, index.n, index.nbytes / 2**20, time.perf_counter() - started)
            return index

        return self._indexes.get_or_make(self.settings, build)

    def _store_index(self, folder, arrays: dict[str, np.ndarray]) -> None:
        """Write a built index beside the entry, after checking that the disk holds it: a full disk
        is one :class:`~rnnpanel.store.disk_space.DiskFull` line, and nothing of the index is kept."""
        what = f"the neighbour index of layer {self.layer} {self.kind} of entry {self.entry.key}"
        needed = sum(int(a.nbytes) for a in arrays.values()) + len(arrays) * BLOCK_BYTES + METADATA_BYTES
        check_room(folder.parent, needed, what=what, where=f"the store {self.entry.store.root}",
                   remedy="free some space, or move the store to another disk")
        with telling_full_disk(folder.parent, lambda free: (
                f"the disk holding the store {self.entry.store.root} is full ({free} free): {what} could not be "
                "stored, and nothing of it was kept; free some space and open it again")):
            write_mapped(folder, arrays, {"entry_key": self.entry.key, "layer": self.layer, "state": self.kind})

    def neighbor_index_ready(self) -> bool:
        """Whether :meth:`neighbor_index` answers at once: small entries, an index this process
        holds, or one stored beside the entry."""
        return (self.small or self._indexes.get(self.settings) is not None
                or has_mapped(self._index_folder()))

    def store_neighbor_index(self, report: Report | None = None) -> bool:
        """Build and store a large entry's neighbour index in a child process (its gigabyte of
        temporaries and its minute of CPU never the server's), unless :meth:`neighbor_index`
        can already answer at once.

        Parameters
        ----------
        report
            ``report(fraction, message)`` follows the child's progress (None: not followed).

        Returns
        -------
        bool
            True if an index was built.

        Raises
        ------
        RnnpanelError
            The child failed (with its message).
        """
        if self.neighbor_index_ready():
            return False
        run_in_child(_index_in_child, (self.settings,), report or _quiet, name="rnnpanel-neighbour-index",
                     what="the neighbour index")
        return True

    def nearest(self, query: int | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored states nearest in the original space to ``query``: a stored state's index
        (itself left out) or a state vector ``(D,)`` (e.g. of the live input).

        Parameters
        ----------
        query
            A stored state's row, or a state vector ``(D,)``.
        k
            How many neighbours.

        Returns
        -------
        indices, distances
            Nearest first (approximate, in PCA space, for large entries).
        """
        return self.neighbor_index().query(query, k)

    # -- maps and the sample the views draw -------------------------------------------------------
    def project(self, **options: Any) -> ProjectionResult:
        """The map of these states (computed and stored unless the store holds it).

        Parameters
        ----------
        **options
            Those of :func:`~rnnpanel.pipeline.project.project_states` (``method``, ``backend``, ...).

        Returns
        -------
        ProjectionResult
            As :func:`~rnnpanel.pipeline.project.project_states` returns it, and raising as it does.
        """
        return project_states(self.stored, **options)

    def has_map(self, method: str) -> bool:
        """Whether the store holds the app's ``method`` map of these states, as this version makes it."""
        return self.entry.store.has_projection(self.entry.key, requested_key(self.stored, method=method))

    def preferred_method(self, wanted: str = "tsne") -> str:
        """``wanted`` if its map is stored; else the first method stored; else the first whose map
        an earlier version or other parameters made (it is made again, as its owner chose it);
        else ``wanted``. Opening a whole corpus projected with PCA must not start a t-SNE of
        millions of states."""
        stored = [m for m in METHODS if self.has_map(m)]
        if wanted in stored:
            return wanted
        if stored:
            return stored[0]
        earlier = {p.get("method") for p in self.entry.store.projections(self.entry.key)
                   if int(p.get("layer", -1)) == self.layer and p.get("state") == self.kind}
        return wanted if not earlier or wanted in earlier else next(m for m in METHODS if m in earlier)

    def store_map(self, method: str, report: Report | None = None) -> bool:
        """Compute and store the app's ``method`` map in a child process unless the store holds it.

        The child keeps the fit's memory and CPU off the server's process.

        Parameters
        ----------
        method
            "tsne", "umap" or "pca".
        report
            ``report(fraction, message)`` follows the child's progress (None: not followed).

        Returns
        -------
        bool
            True if a map was computed.

        Raises
        ------
        RnnpanelError
            The child failed (with its message).
        """
        if self.has_map(method):
            return False
        run_in_child(_project_in_child, (self.settings, method), report or _quiet, name="rnnpanel-project",
                     what=f"the {method} map")
        return True

    def sample(self, *, method: str = "tsne", backend: str = "auto", progress: Report | None = None) -> Sample:
        """The :class:`Sample` the views draw with the ``method`` map, made once per process and shared
        by every session (the map is computed here, and stored, if the store lacks it).

        Parameters
        ----------
        method, backend
            The map's method and backend, as for :func:`~rnnpanel.pipeline.project.project_states`.
        progress
            ``progress(fraction, message)`` while a missing map is computed.

        Returns
        -------
        Sample
            Shared: callers must not change it.
        """
        # keyed by the map drawn too: once a placed map's refinement is stored, the next session draws that one
        drawn = best_map_key(self.stored, requested_key(self.stored, method=method, backend=backend))
        return self._samples.get_or_make((self.stored.address, method, backend, drawn),
                                         lambda: build_sample(self.stored, method=method, backend=backend,
                                                              progress=progress))

    def place(self, new_states: np.ndarray, projection: ProjectionResult, *, k: int = 10) -> tuple[np.ndarray, str]:
        """Positions of new states (live input) in ``projection``, a map of these states:
        ``(xy (M, 2) float32, how)``.

        When this process fitted the map, its backend places them (``how="transform"``: openTSNE
        optimises the new points against the fixed map, UMAP and PCA apply theirs). Otherwise each
        new state goes to the robust centre of the map positions of its ``k`` nearest stored
        states (``how="neighbors"``), found in the shared :meth:`neighbor_index` (built once per
        entry, in a child process), so a whole corpus is never read or scanned per typed text.

        Parameters
        ----------
        new_states
            ``(M, D)`` states of the same layer and kind.
        projection
            A map of these states (:meth:`project`).
        k
            Stored neighbours per new state, when placed by neighbours.

        Returns
        -------
        xy, how
            ``(M, 2)`` float32 positions, and "transform" or "neighbors".

        Raises
        ------
        RnnpanelError
            Building the neighbour index in the child failed.
        """
        from rnnpanel.compute.projection.placement import position_from_neighbors

        fitted = fitted_map(self.entry.key, projection.key)
        if fitted is not None and fitted.estimator_.supports_transform:
            return fitted.transform(new_states), "transform"
        self.store_neighbor_index()      # a large entry's, once, in a child
        idx, dist = self.neighbor_index().query_vectors(new_states, k)
        embedding = np.asarray(projection.embedding, dtype=np.float32)
        return position_from_neighbors(embedding, idx, dist), "neighbors"


def _index_in_child(settings: StatesSettings, messages) -> None:
    """In a child process: build and store one neighbour index, as the parent would."""
    try:
        EntryStates.from_settings(settings).neighbor_index()
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)


def _project_in_child(settings: StatesSettings, method: str, messages) -> None:
    """In a child process: compute and store one map, sending progress and any error."""
    try:
        EntryStates.from_settings(settings).project(method=method, progress=report_to(messages))
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)

