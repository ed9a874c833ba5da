"""An entry being written piece by piece: streamed, resumable, and shared by several writers.

A corpus of millions of states is written one shard of rows at a time into a folder named
``.partial-<entry key>`` beside the entries. Its per-state arrays are created empty, with one
chunk per shard, so every shard writes whole chunks of its own and several processes (Dask
workers) can write theirs at once without touching each other's files. A shard counts as done
only once its small result file (the per-sequence values it computed) has been renamed into
``shards/``, after its rows were written: a writer killed at any moment leaves at most one shard
half-written and unmarked, which the next run computes again. :meth:`PartialEntry.commit` adds
the per-sequence arrays and the attributes that make the entry complete, then renames the
folder to its key, so readers never see a partial entry under an entry's name.

One run at a time holds the folder's lock (``fcntl.flock`` on a file beside it, released by the kernel when the
holder dies, even by ``kill -9``: :mod:`rnnpanel.store.locks`). A second run for the same key waits for it, up to
its ``wait`` (0: it is refused at once), following the first one's shards as they are marked done; it then finds
the entry complete (:attr:`PartialEntry.already_stored`: a cache hit) or, when the first one failed, resumes its
work. Before writing, the run's remaining size is compared with the disk's free space
(:mod:`rnnpanel.store.disk_space`), so a disk too small refuses it before anything is written.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from rnnpanel.errors import StoreError
from rnnpanel.store import locks
from rnnpanel.store.atomic import PARTIAL_PREFIX
from rnnpanel.store.disk_space import METADATA_BYTES, check_room, rows_bytes
from rnnpanel.store.integrity import METADATA_FILE, chunk_codecs, write_record

log = logging.getLogger(__name__)

SHARDS = "shards"
REQUEST_FILE = "request.json"  # the extraction's arguments: what resumes the folder's work
LOCK_SUFFIX = ".lock"  # beside the folder, so rewriting the folder never drops the lock

#: name → (shape, dtype) of every per-state array; rows are states, chunked by ``chunk_rows``.
Layout = dict[str, tuple[tuple[int, ...], str]]


def partial_path(entries_dir: Path, key: str) -> Path:
    return Path(entries_dir) / f"{PARTIAL_PREFIX}{key}"


def write_rows(path: str | Path, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Write rows ``start:start + len`` of each named per-state array of the partial entry at ``path``.

    Called by whichever process computed the shard; the region must be whole chunks (or the
    array's last, shorter chunk) so that no two writers share a chunk file.
    """
    group = zarr.open_group(str(path), mode="r+")
    for name, values in arrays.items():
        group[name][start:start + len(values)] = values


def mark_done(path: str | Path, shard: int, values: dict[str, np.ndarray]) -> None:
    """Record shard ``shard`` as complete, with its small per-sequence results (written atomically)."""
    folder = Path(path) / SHARDS
    final = folder / f"{shard:06d}.npz"
    tmp = folder / f".tmp-{shard:06d}-{os.getpid()}.npz"
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **values)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not keep half a file
        raise


def extract_command(request: dict[str, Any], store_root: str | Path) -> str:
    """The ``rnnpanel extract`` command line that makes (or resumes) the entry of ``request``."""
    split = request.get("file_split") or {}
    options = [("--model", request["model"]), ("--dataset", request["dataset"]), ("--split", request["split"]),
               ("--n", request.get("n")), ("--seed", request.get("seed")), ("--store", str(store_root)),
               ("--batch-size", request.get("batch_size")), ("--chunk-states", request.get("chunk_states")),
               ("--text-column", request.get("text_column")), ("--label-column", request.get("label_column")),
               ("--split-column", split.get("column")),
               ("--test-fraction", None if split.get("column") else split.get("test_fraction")),
               ("--split-seed", None if split.get("column") else split.get("seed"))]
    return shlex.join(["rnnpanel", "extract", *(part for name, value in options if value is not None
                                                for part in (name, str(value)))])


class PartialEntry:
    """The writer's side of an entry under construction; use as a context manager (holds the lock).

    ``wait`` is how long to wait for another process writing the same entry (seconds; 0: refuse
    at once), ``on_wait(done_shards, total_shards)`` follows that process's shards meanwhile.
    ``extra_bytes`` is what the entry adds beside its per-state arrays (per-sequence arrays,
    words, shard results): with the rows still to write, the size checked against the free space.
    After entering, :attr:`already_stored` says another process completed the entry while this
    one waited: there is nothing to write, the entry is read as it is.
    """

    def __init__(self, entries_dir: Path, key: str, layout: Layout, *, chunk_rows: int,
                 plan: dict[str, Any], request: dict[str, Any] | None = None, wait: float = 0.0,
                 on_wait: Callable[[int, int], Any] | None = None, extra_bytes: int = 0) -> None:
        self.key = key
        self.path = partial_path(entries_dir, key)
        self.lock_path = self.path.with_name(self.path.name + LOCK_SUFFIX)
        self.layout = {name: (tuple(int(s) for s in shape), str(dtype)) for name, (shape, dtype) in layout.items()}
        self.chunk_rows = int(chunk_rows)
        self.plan = {**plan, "chunk_rows": self.chunk_rows,
                     "layout": {name: [list(shape), dtype] for name, (shape, dtype) in self.layout.items()}}
        self.request = dict(request or {})
        self.wait = float(wait)
        self.on_wait = on_wait
        self.extra_bytes = int(extra_bytes)
        self._lock: Any = None
        self.resumed = False
        self.already_stored = False

    @property
    def n_rows(self) -> int:
        return next(iter(self.layout.values()))[0][0] if self.layout else 0

    @property
    def n_shards(self) -> int:
        """How many shards (of :attr:`chunk_rows` rows) the entry is written in."""
        return -(-self.n_rows // max(1, self.chunk_rows))

    def __enter__(self) -> PartialEntry:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = locks.acquire(self.lock_path, wait=self.wait, on_wait=self._waiting)
        if self._lock is None:
            raise StoreError(self._busy_message())
        try:
            if (self.path.parent / self.key / METADATA_FILE).is_file():
                self.already_stored = True  # written by the process this one waited for
                log.info("entry %s was completed by another process meanwhile", self.key)
                return self
            self._check_room()
            self.path.mkdir(exist_ok=True)
            self._prepare()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._lock is not None:
            # nothing of this run's is left beside the lock: drop its file too (released by closing)
            locks.release(self._lock, self.lock_path, remove=not self.path.exists())
            self._lock = None

    def _waiting(self, seconds: float) -> None:
        if self.on_wait is not None:
            self.on_wait(min(len(self.done()), self.n_shards), self.n_shards)

    def _busy_message(self) -> str:
        if self.wait <= 0:
            return (f"another process is writing entry {self.key} of this store right now; wait for it to finish "
                    "(its result will be a cache hit: give --wait SECONDS), or stop it first")
        return (f"waited {self.wait:g} s for another process writing entry {self.key} of this store "
                f"({len(self.done())} of {self.n_shards} shards written) and it is still running; "
                "wait longer with --wait SECONDS (0 refuses at once), or stop it first")

    def _previous_plan(self) -> Any:
        try:
            return dict(zarr.open_group(str(self.path), mode="r").attrs).get("partial")
        except Exception:  # no group yet, or its metadata was cut short by a kill
            return None

    def needed_bytes(self, done: set[int] | None = None) -> int:
        """The size still to write, uncompressed (an upper bound: states compress little): the rows
        of every shard not in ``done`` and :attr:`extra_bytes`."""
        done = done or set()
        rows = sum(min(self.chunk_rows, self.n_rows - i * self.chunk_rows) for i in range(self.n_shards)
                   if i not in done)
        return rows_bytes(self.layout, rows, self.n_shards - len(done)) + self.extra_bytes + METADATA_BYTES

    def _check_room(self) -> None:
        """Refuse before writing when the disk cannot hold what is left to write."""
        resumable = self._previous_plan() == json.loads(json.dumps(self.plan))
        done = self.done() if resumable else set()
        left = f"{self.n_shards - len(done)} of {self.n_shards} shards to write, uncompressed"
        check_room(self.path.parent, self.needed_bytes(done), what=f"entry {self.key} ({left})",
                   where=f"the store {self.path.parent.parent}",
                   remedy="free some space, or choose a store on another disk (--store)")

    def _prepare(self) -> None:
        """Resume the folder's work when it was started with the same plan; else start afresh."""
        previous = self._previous_plan()
        if previous == json.loads(json.dumps(self.plan)):
            self.resumed = bool(self.done())
            if self.resumed:
                log.info("resuming entry %s: %d shard(s) already written", self.key, len(self.done()))
            self._keep_request()
            return
        if previous is not None:
            log.info("entry %s was started with other settings; starting it again", self.key)
        group = zarr.open_group(str(self.path), mode="w")
        for name, (shape, dtype) in self.layout.items():
            chunks = (min(self.chunk_rows, max(1, shape[0])),) + shape[1:]
            group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, **chunk_codecs())
        (self.path / SHARDS).mkdir()
        group.attrs.update({"partial": self.plan})  # written last: the folder is usable from here on
        self._keep_request()

    def _keep_request(self) -> None:
        if self.request:
            (self.path / REQUEST_FILE).write_text(json.dumps(self.request))

    def done(self) -> set[int]:
        """Indices of the shards whose rows and results are complete."""
        folder = self.path / SHARDS
        if not folder.is_dir():
            return set()
        return {int(p.stem) for p in folder.glob("[0-9]*.npz")}

    def results(self, shard: int) -> dict[str, np.ndarray]:
        with np.load(self.path / SHARDS / f"{shard:06d}.npz") as data:
            return {name: data[name] for name in data.files}

    def commit(self, arrays: dict[str, np.ndarray], attrs: dict[str, Any], words: list[str],
               *, format_version: int, vocab_file: str) -> Path:
        """Add the per-sequence arrays, words and attributes, then rename the folder to its key.

        Returns the entry's final path. An entry already there under the key (another run won)
        is kept and this copy discarded: equal keys mean equal content.
        """
        group = zarr.open_group(str(self.path), mode="r+")
        for name, value in arrays.items():  # made again whole when an earlier commit stopped half-way
            value = np.ascontiguousarray(value)
            chunks = (min(self.chunk_rows, max(1, value.shape[0])),) + value.shape[1:]
            group.create_array(name, data=value, chunks=chunks, overwrite=True, **chunk_codecs())
        (self.path / vocab_file).write_text(json.dumps(list(words)))
        before = dict(group.attrs)
        attributes = {name: value for name, value in before.items() if name != "partial"}
        # one write (Zarr writes its metadata whole, then renames it into place): a commit stopped
        # before it (a full disk) leaves the folder resumable with every shard, the next run commits it
        group.attrs.put({**attributes, **attrs, "entry_key": self.key, "created": attrs.get("created", time.time()),
                         "format_version": format_version, "complete": True})
        try:
            write_record(self.path)
        except BaseException:
            try:
                group.attrs.put(before)  # resumable again, its plan back
            except Exception as exc:  # the disk is still full: the next run starts the entry afresh
                log.warning("entry %s: could not put back its plan after a failed commit (%s)", self.key, exc)
            raise
        shutil.rmtree(self.path / SHARDS)
        (self.path / REQUEST_FILE).unlink(missing_ok=True)  # kept in the attributes from here on
        target = self.path.parent / self.key
        try:
            os.rename(self.path, target)
        except OSError:
            if not (target / "zarr.json").is_file():
                raise
            shutil.rmtree(self.path, ignore_errors=True)
        self.lock_path.unlink(missing_ok=True)
        return target
