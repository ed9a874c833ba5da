"""The on-disk state store: one Zarr group per entry, projections stored beside their states.

A :class:`StateStore` opens an entry (:meth:`StateStore.entry`), an entry gives the states of one
layer and kind (:meth:`StoredEntry.states`): a :class:`LayerStates`, the stored chunked array as
the rest of rnnpanel reads it (rows, whole storage chunks, or everything; always float32, a
direction's half cut from what was read). Opening it reads and holds nothing; what is worth
keeping between reads (a small entry's matrix, decoded chunks) is kept, once per process, by
:class:`rnnpanel.pipeline.states.EntryStates`.

Layout under the store root::

    entries/<entry key>/              Zarr group: attrs + arrays (offsets, ep, layer_0/h, ...)
    entries/<entry key>/vocab.json    the words behind token ids
    entries/<entry key>/projections/<projection key>/   Zarr group: embedding, fitted, ...
    entries/<entry key>/derived/<name>/    uncompressed .npy for memory mapping (a neighbour
                                           index, a copy of the EP): rebuilt from the entry if deleted

Every entry and projection is written through :func:`atomic_directory`, so what a reader finds
under its final name is complete. A reader also checks the format version and completeness
marker, so an entry from an incompatible rnnpanel is reported instead of misread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from rnnpanel.errors import DamagedEntry, StoreError
from rnnpanel.store.atomic import (
    atomic_directory,
    is_temporary,
    remove_stale_temporaries,
)
from rnnpanel.store.integrity import METADATA_FILE, bad_chunk_of, chunk_codecs, read_record, write_record
from rnnpanel.store.partial import Layout, PartialEntry
from rnnpanel.store.state_kinds import checked_kind, direction_half, layer_index

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ENTRIES = "entries"
PROJECTIONS = "projections"
DERIVED = "derived"
VOCAB_FILE = "vocab.json"
ROW_CHUNK = 1 << 16
CHUNK_BYTES = 32 << 20  # a streamed chunk of one state array: bounded memory for any model width


def chunk_rows_for(row_bytes: int) -> int:
    """Rows per chunk of a streamed entry whose widest per-state array has ``row_bytes`` a row:
    :data:`ROW_CHUNK`, fewer for wide states so that a chunk stays near :data:`CHUNK_BYTES`."""
    rows = max(1024, CHUNK_BYTES // max(1, int(row_bytes)))
    return min(ROW_CHUNK, 1 << (rows.bit_length() - 1))



def repair_command(root: Path) -> str:
    """The command that checks a store and repairs what is damaged in it."""
    return f"rnnpanel store check --store {Path(root).resolve()} --repair"


def _write_group(path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    group = zarr.open_group(str(path), mode="w")
    for name, value in arrays.items():
        value = np.ascontiguousarray(value)
        chunks = (min(ROW_CHUNK, max(1, value.shape[0])),) + value.shape[1:] if value.ndim else ()
        group.create_array(name, data=value, chunks=chunks, **chunk_codecs())
    group.attrs.update({**attrs, "format_version": FORMAT_VERSION, "complete": True})
    write_record(path)


def _open_group(path: Path, what: str, *, key: str, root: Path) -> zarr.Group:
    """The completed group at ``path`` (of entry ``key`` of the store at ``root``); its metadata
    missing or unreadable is :class:`DamagedEntry` (the group's integrity record restores it),
    another format version a plain :class:`StoreError`."""
    try:
        if not (path / METADATA_FILE).is_file():
            raise FileNotFoundError(f"its metadata file {METADATA_FILE} is missing")
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
    except Exception as exc:  # zarr raises several types for damaged metadata
        raise DamagedEntry(f"{what} cannot be read: {exc}; repair it with `{repair_command(root)}`",
                           key=key) from exc
    if attrs.get("format_version") != FORMAT_VERSION or not attrs.get("complete"):
        raise StoreError(
            f"{what} at {path} has format {attrs.get('format_version')!r}, expected {FORMAT_VERSION}; "
            "delete it and recompute"
        )
    return group


@dataclass(frozen=True)
class StatesAddress:
    """Which states: the store's root (resolved), the entry's key, the layer (non-negative) and the
    state kind. Hashable, so it keys what a process keeps of them; plain, so it crosses to a child."""

    root: str
    entry: str
    layer: int
    kind: str


class LayerStates:
    """States ``(N, D)`` of one layer and kind of an entry, read from the store on demand.

    It behaves as a chunked 2-D array (``shape``, ``chunks``, ``ndim``, ``dtype``, and rows by
    slicing), so code that reads arrays block by block (the projection, the neighbour index) reads
    it without loading it whole.

    Parameters
    ----------
    entry
        The opened entry.
    layer
        The layer; negative counts from the top.
    kind
        ``h``/``c`` (the layer's full state), or one direction's half ``h_fwd``/``h_bwd``/``c_fwd``/``c_bwd``.

    Raises
    ------
    StoreError
        The layer or kind does not exist for this entry's model.
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, entry: StoredEntry, *, layer: int = -1, kind: str = "h") -> None:
        self.entry = entry
        self.layer = layer_index(entry.attrs, layer)
        self.kind = checked_kind(entry.attrs, kind)
        self._array = entry.array(f"layer_{self.layer}/{kind.partition('_')[0]}")
        self._hidden = int(entry.attrs["hidden_size"])
        self._bidirectional = bool(entry.attrs.get("bidirectional"))
        width = int(self._array.shape[1])
        half = "_" in kind and self._bidirectional
        self.shape = (int(self._array.shape[0]), width // 2 if half else width)
        self.chunks = (int(self._array.chunks[0]), self.shape[1])
        self.address = StatesAddress(str(entry.path.parent.parent.resolve()), entry.key, self.layer, self.kind)

    def __repr__(self) -> str:
        return f"LayerStates({self.entry.key!r}, layer={self.layer}, kind={self.kind!r}, shape={self.shape})"

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        """Rows ``(len(rows), D)`` float32, reading only the chunks they touch."""
        if not isinstance(rows, slice):
            raise TypeError(f"read states by a slice of rows (a block at a time), got {type(rows).__name__}")
        try:
            full = np.asarray(self._array[rows], dtype=np.float32)
        except Exception as exc:  # a damaged chunk fails in the codec, with its own error types
            raise self.entry.damaged(f"layer_{self.layer}/{self.kind.partition('_')[0]}", rows, exc) from exc
        return direction_half(full, self.kind, hidden_size=self._hidden, bidirectional=self._bidirectional)

    @property
    def block_rows(self) -> int:
        """Rows per stored chunk: the unit :meth:`block` reads."""
        return self.chunks[0]

    def block(self, index: int) -> np.ndarray:
        """The states of stored chunk ``index``: rows ``index * block_rows`` up to the next chunk's."""
        step = self.block_rows
        return self[index * step:(index + 1) * step]

    def read_all(self) -> np.ndarray:
        """Every state ``(N, D)`` float32, read whole (``N × D × 4`` bytes: mind large entries)."""
        return self[0:len(self)]


class StoredEntry:
    """Read access to one entry: attributes, per-state arrays and words, loaded lazily."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.key = self.path.name
        self._group = _open_group(self.path, f"store entry {self.key}", key=self.key, root=self.path.parent.parent)
        self.attrs: dict[str, Any] = dict(self._group.attrs)
        self._arrays: dict[str, zarr.Array] = {}

    @property
    def store(self) -> StateStore:
        """The store this entry belongs to (where its projections and derived arrays are kept)."""
        return StateStore(self.path.parent.parent)

    def __repr__(self) -> str:
        return f"StoredEntry({self.key!r}, {self.attrs.get('model_name')!r}, {self.attrs.get('dataset')!r})"

    @property
    def array_names(self) -> list[str]:
        return sorted(name for name, _ in self._group.arrays()) + sorted(
            f"{g}/{a}" for g, sub in self._group.groups() for a, _ in sub.arrays()
        )

    def load(self, name: str) -> np.ndarray:
        """Load one whole array into memory."""
        array = self.array(name)
        try:
            return np.asarray(array[...])
        except Exception as exc:  # a damaged chunk fails in the codec, with its own error types
            raise self.damaged(name, slice(0, array.shape[0] if array.ndim else 1), exc) from exc

    def damaged(self, name: str, rows: slice, exc: BaseException) -> DamagedEntry:
        """The error for a failed read of ``rows`` of array ``name``: which rows, why, and the repair."""
        array = self.array(name)
        where = bad_chunk_of(array, rows) if array.ndim else None
        start, stop, reason = where if where else (rows.start or 0, rows.stop, f"{type(exc).__name__}: {exc}")
        return DamagedEntry(
            f"store entry {self.key} is damaged: {name} rows {start:,}-{stop - 1:,} cannot be read ({reason}); "
            f"repair it with `{repair_command(self.path.parent.parent)}`", key=self.key)

    @property
    def state_choices(self) -> list[str]:
        """Every state kind :meth:`states` accepts for this entry: the stored ones (``h``, and
        ``c`` for an LSTM), then each direction's half when the model is bidirectional."""
        kinds = list(self.attrs["state_kinds"])
        if self.attrs.get("bidirectional"):
            kinds += [f"{k}_{d}" for k in self.attrs["state_kinds"] for d in ("fwd", "bwd")]
        return kinds

    def array(self, name: str) -> zarr.Array:
        """One stored array, unread: slicing it reads only the chunks it touches (its metadata is
        read once: the entry is shared by the process's sessions)."""
        held = self._arrays.get(name)
        if held is not None:
            return held
        try:
            return self._arrays.setdefault(name, self._group[name])
        except KeyError:
            record = read_record(self.path)
            if record is not None and name in record["chunks"]:  # it had it: its folder or metadata is gone
                raise DamagedEntry(f"store entry {self.key} is damaged: its array {name} is missing; repair it with "
                                   f"`{repair_command(self.path.parent.parent)}`", key=self.key) from None
            raise StoreError(
                f"store entry {self.key} has no array {name!r}; it has {', '.join(self.array_names)}"
            ) from None

    def states(self, *, layer: int = -1, kind: str = "h") -> LayerStates:
        """The states of one layer (negative counts from the top) and kind, read on demand.

        Parameters
        ----------
        layer
            The layer; negative counts from the top.
        kind
            ``h``/``c`` are the layer's full state (both directions concatenated when
            bidirectional); ``h_fwd``/``h_bwd``/``c_fwd``/``c_bwd`` select one direction's half.

        Returns
        -------
        LayerStates
            A chunked ``(N, D)`` view; nothing is read until rows are asked for.

        Raises
        ------
        StoreError
            The layer or kind does not exist for this entry's model.
        """
        return LayerStates(self, layer=layer, kind=kind)

    @cached_property
    def vocab_words(self) -> list[str]:
        try:
            return json.loads((self.path / VOCAB_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"store entry {self.key} lacks a readable {VOCAB_FILE}; delete it and re-extract") from exc

    def words(self) -> np.ndarray:
        """The word behind every state, ``(N,)`` of ``str``."""
        vocab = np.asarray(self.vocab_words, dtype=object)
        return vocab[self.load("token_ids")]


_OPENED: dict[Path, tuple[int, StoredEntry]] = {}
_OPENING = threading.Lock()


def _opened(path: Path, stamp: int) -> StoredEntry:
    """The entry at ``path`` opened once per process and modification time of its metadata."""
    key = path.resolve()
    with _OPENING:
        held = _OPENED.get(key)
    if held is not None and held[0] == stamp:
        return held[1]
    entry = StoredEntry(path)
    with _OPENING:
        _OPENED[key] = (stamp, entry)
    return entry


class StateStore:
    """A folder of entries. Creating the object touches nothing; the first write creates folders."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"StateStore({str(self.root)!r})"

    @property
    def entries_dir(self) -> Path:
        return self.root / ENTRIES

    def entry_path(self, key: str) -> Path:
        return self.entries_dir / key

    def has_entry(self, key: str) -> bool:
        return (self.entry_path(key) / METADATA_FILE).is_file()

    def entry(self, key: str) -> StoredEntry:
        """The entry ``key``, opened once per process while its files stay the same (an entry is
        written whole and never changed, so every session shares one opened copy).

        Parameters
        ----------
        key
            The entry's key (``rnnpanel extract`` prints it; :meth:`entries` lists them).

        Returns
        -------
        StoredEntry
            Shared by the process: callers must not change it.

        Raises
        ------
        StoreError
            No such entry, or one this version cannot read.
        """
        path = self.entry_path(key)
        try:
            stamp = (path / METADATA_FILE).stat().st_mtime_ns
        except OSError:
            if path.is_dir():
                _open_group(path, f"store entry {key}", key=key, root=self.root)  # raises DamagedEntry
            known = ", ".join(e.key for e in self.entries()) or "none"
            raise StoreError(f"no entry {key!r} in store {self.root} (entries: {known}); "
                             "run `rnnpanel extract` first") from None
        return _opened(path, stamp)

    def entries(self) -> list[StoredEntry]:
        """Complete, readable entries, oldest first; the others are logged and skipped
        (:meth:`unreadable` lists them with the reason)."""
        found = []
        for key in self._entry_folders():
            try:
                found.append(self.entry(key))
            except StoreError as exc:  # said where it matters: the app's entry list, `rnnpanel store check`
                log.info("skipping %s", exc)
        return sorted(found, key=lambda e: (e.attrs.get("created", 0), e.key))

    def unreadable(self) -> dict[str, str]:
        """Entry folders that cannot be opened, by key: what is wrong and what to do about it
        (damaged metadata, another format version)."""
        problems = {}
        for key in self._entry_folders():
            try:
                self.entry(key)
            except StoreError as exc:
                problems[key] = str(exc)
        return problems

    def _entry_folders(self) -> list[str]:
        if not self.entries_dir.is_dir():
            return []
        return sorted(p.name for p in self.entries_dir.iterdir() if p.is_dir() and not is_temporary(p))

    def write_entry(self, key: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any],
                    words: list[str]) -> StoredEntry:
        """Write an entry atomically and return it opened."""
        remove_stale_temporaries(self.entries_dir)
        with atomic_directory(self.entry_path(key)) as tmp:
            _write_group(tmp, arrays, {**attrs, "entry_key": key, "created": attrs.get("created", time.time())})
            (tmp / VOCAB_FILE).write_text(json.dumps(list(words)))
        return self.entry(key)

    def partial_entry(self, key: str, layout: Layout, *, chunk_rows: int = ROW_CHUNK,
                      plan: dict[str, Any] | None = None, request: dict[str, Any] | None = None) -> PartialEntry:
        """The entry ``key`` under construction, streamed shard by shard (a context manager that
        holds its lock); resumes the work of an earlier run with the same ``layout`` and ``plan``.
        ``request`` (the extraction's arguments) is kept with it, then in the entry's attributes."""
        return PartialEntry(self.entries_dir, key, layout, chunk_rows=chunk_rows, plan=plan or {}, request=request)

    def commit_partial(self, partial: PartialEntry, arrays: dict[str, np.ndarray], attrs: dict[str, Any],
                       words: list[str]) -> StoredEntry:
        """Complete a streamed entry whose every shard is written (inside its ``with``) and open it."""
        partial.commit(arrays, attrs, words, format_version=FORMAT_VERSION, vocab_file=VOCAB_FILE)
        return self.entry(partial.key)

    def derived_path(self, entry_key: str, name: str) -> Path:
        """Where something derived from an entry's arrays is kept for every process to map (a
        neighbour index, an uncompressed copy of per-state arrays: :mod:`rnnpanel.store.mapped`)."""
        return self.entry_path(entry_key) / DERIVED / name

    def projection_path(self, entry_key: str, projection_key: str) -> Path:
        return self.entry_path(entry_key) / PROJECTIONS / projection_key

    def has_projection(self, entry_key: str, projection_key: str) -> bool:
        return (self.projection_path(entry_key, projection_key) / METADATA_FILE).is_file()

    def write_projection(self, entry_key: str, projection_key: str, arrays: dict[str, np.ndarray],
                         attrs: dict[str, Any]) -> None:
        """Write one projection of an entry atomically."""
        if not self.has_entry(entry_key):
            raise StoreError(f"cannot store a projection for missing entry {entry_key!r}; extract it first")
        folder = self.entry_path(entry_key) / PROJECTIONS
        remove_stale_temporaries(folder)
        with atomic_directory(folder / projection_key) as tmp:
            _write_group(tmp, arrays, {**attrs, "entry_key": entry_key, "projection_key": projection_key,
                                       "created": time.time()})

    def read_projection(self, entry_key: str, projection_key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        path = self.projection_path(entry_key, projection_key)
        if not self.has_projection(entry_key, projection_key):
            raise StoreError(f"no projection {projection_key!r} for entry {entry_key!r}; run `rnnpanel project`")
        group = _open_group(path, f"projection {projection_key} of store entry {entry_key}", key=entry_key,
                            root=self.root)
        arrays = {}
        for name, array in group.arrays():
            try:
                arrays[name] = np.asarray(array[...])
            except Exception as exc:  # a damaged chunk fails in the codec, with its own error types
                raise DamagedEntry(
                    f"projection {projection_key} of store entry {entry_key} is damaged: its {name} cannot be read "
                    f"({type(exc).__name__}: {exc}); repair it with `{repair_command(self.root)}`",
                    key=entry_key) from exc
        return arrays, dict(group.attrs)

    def projections(self, entry_key: str) -> list[dict[str, Any]]:
        """Attributes of every complete projection of an entry."""
        folder = self.entry_path(entry_key) / PROJECTIONS
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.iterdir()):
            if is_temporary(path):
                continue
            try:
                out.append(dict(_open_group(path, f"projection {path.name} of store entry {entry_key}",
                                            key=entry_key, root=self.root).attrs))
            except StoreError as exc:
                log.warning("skipping %s", exc)
        return out
