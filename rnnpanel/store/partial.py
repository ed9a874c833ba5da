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
holder dies, even by ``kill -9``); a second run for the same key is refused with a message.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from rnnpanel.errors import StoreError
from rnnpanel.store.atomic import PARTIAL_PREFIX
from rnnpanel.store.integrity import chunk_codecs, write_record

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
    with open(tmp, "wb") as handle:
        np.savez(handle, **values)
    os.replace(tmp, final)


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
    """The writer's side of an entry under construction; use as a context manager (holds the lock)."""

    def __init__(self, entries_dir: Path, key: str, layout: Layout, *, chunk_rows: int,
                 plan: dict[str, Any], request: dict[str, Any] | None = None) -> None:
        self.key = key
        self.path = partial_path(entries_dir, key)
        self.lock_path = self.path.with_name(self.path.name + LOCK_SUFFIX)
        self.layout = {name: (tuple(int(s) for s in shape), str(dtype)) for name, (shape, dtype) in layout.items()}
        self.chunk_rows = int(chunk_rows)
        self.plan = {**plan, "chunk_rows": self.chunk_rows,
                     "layout": {name: [list(shape), dtype] for name, (shape, dtype) in self.layout.items()}}
        self.request = dict(request or {})
        self._lock: Any = None
        self.resumed = False

    def __enter__(self) -> PartialEntry:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(exist_ok=True)
        self._lock = open(self.lock_path, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise StoreError(
                f"another process is writing entry {self.key} of this store right now; wait for it to "
                "finish (its result will be a cache hit), or stop it first"
            ) from None
        self._prepare()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None

    def _prepare(self) -> None:
        """Resume the folder's work when it was started with the same plan; else start afresh."""
        try:
            previous = dict(zarr.open_group(str(self.path), mode="r").attrs).get("partial")
        except Exception:  # no group yet, or its metadata was cut short by a kill
            previous = None
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
        for name, value in arrays.items():
            value = np.ascontiguousarray(value)
            chunks = (min(self.chunk_rows, max(1, value.shape[0])),) + value.shape[1:]
            group.create_array(name, data=value, chunks=chunks, overwrite=True, **chunk_codecs())
        (self.path / vocab_file).write_text(json.dumps(list(words)))
        shutil.rmtree(self.path / SHARDS)
        (self.path / REQUEST_FILE).unlink(missing_ok=True)  # kept in the attributes from here on
        attributes = dict(group.attrs)
        attributes.pop("partial", None)
        group.attrs.clear()
        group.attrs.update({**attributes, **attrs, "entry_key": self.key,
                            "created": attrs.get("created", time.time()),
                            "format_version": format_version, "complete": True})
        write_record(self.path)
        target = self.path.parent / self.key
        try:
            os.rename(self.path, target)
        except OSError:
            if not (target / "zarr.json").is_file():
                raise
            shutil.rmtree(self.path, ignore_errors=True)
        self.lock_path.unlink(missing_ok=True)
        return target
