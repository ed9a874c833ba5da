"""Mend a damaged entry from what it was made of: only the damaged chunks are computed again.

A state chunk is one extraction shard (:mod:`rnnpanel.pipeline.shards`), so a damaged chunk of
``layer_0/h`` is repaired by running the model over that shard's sequences, exactly as the
extraction did (same shard edges, same batch size, same device kind), and writing those rows
back through the array's own codecs: the chunk gets the bytes it had. The model comes from the
entry's recorded model directory, checked against the weights hash the entry was made with;
the token ids and offsets come from the entry itself when they are intact, else from its
recorded request (corpus, split, sample), checked against the entry's key. Metadata documents
come back from the copy the entry keeps (:mod:`rnnpanel.store.integrity`).

What was derived from repaired arrays is made again, because it may have been made from the
damage (a deleted chunk file reads as zeros without a word): the maps of the repaired layer
(recomputed with their recorded request, so under the same key), and the neighbour index and
memory-mapped copies (rebuilt). A map that fails to recompute is put back as it was.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from rnnpanel.errors import RnnpanelError, StoreError
from rnnpanel.store import StateStore, StoredEntry
from rnnpanel.store.check import DAMAGED, FINE, UNCHECKED, EntryCheck, MapCheck, check_entry
from rnnpanel.store.integrity import METADATA_FILE, read_record, restore_metadata
from rnnpanel.store.state_store import DERIVED, VOCAB_FILE

log = logging.getLogger(__name__)

#: Arrays that come from the corpus and the sample rather than from the model.
FROM_DATA = ("token_ids", "offsets", "labels", "sequence_ids", "sequence_split", "n_cut")
#: Per-sequence arrays that come from the model's final probabilities.
FROM_PROBABILITIES = ("probs", "predictions")

Say = Callable[[str], None]


@dataclass
class Repaired:
    """What a repair rewrote: rows per array, metadata documents, the words, maps and derived folders."""

    key: str
    rows: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    metadata: list[str] = field(default_factory=list)
    vocab: bool = False
    maps: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{name} rows {', '.join(f'{a:,}-{b - 1:,}' for a, b in spans)}" for name, spans in self.rows.items()]
        parts += [f"metadata {', '.join(self.metadata)}"] if self.metadata else []
        parts += [VOCAB_FILE] if self.vocab else []
        parts += [f"map {key} recomputed" for key in self.maps]
        parts += [f"derived {name} rebuilt" for name in self.derived]
        return f"entry {self.key}: repaired: {'; '.join(parts) or 'nothing needed'}"


def repair_entry(store: StateStore, check: EntryCheck, *, device: str | None = None,
                 say: Say | None = None) -> Repaired:
    """Repair what :func:`~rnnpanel.store.check.check_entry` found damaged in one entry.

    Parameters
    ----------
    store
        The entry's store.
    check
        The entry's check (its status is ``damaged``, or a map or derived folder is).
    device
        Where the model runs again (None: the kind of device the entry was extracted on, so that
        the repaired rows equal the lost ones; "auto": CUDA when present).
    say
        Told a line before each slow step.

    Returns
    -------
    Repaired
        What was rewritten, after a check that it now reads whole.

    Raises
    ------
    StoreError
        What cannot be repaired here, and why (the model moved or changed, the data changed, an
        entry whose metadata has no kept copy); nothing good is changed.
    """
    say = say or (lambda message: None)
    done = Repaired(check.key)
    path = store.entry_path(check.key)
    if check.metadata:
        restore_metadata(path, check.metadata, read_record(path))
        done.metadata = list(check.metadata)
        check = check_entry(store, check.key)
    if check.status not in (DAMAGED, FINE, UNCHECKED):
        raise StoreError(f"entry {check.key} cannot be repaired: {check.status}: {check.detail}")
    entry = store.entry(check.key)
    damaged = {a.name: a for a in check.damaged_arrays}
    if damaged or check.vocab_damaged:
        say(f"entry {check.key}: computing again {', '.join(damaged) or VOCAB_FILE}")
        _rewrite_arrays(entry, damaged, vocab=check.vocab_damaged, device=device, done=done)
        after = check_entry(store, check.key)
        if after.status == DAMAGED:
            raise StoreError(f"entry {check.key} still reads damaged after its repair: {after.describe()}")
        check = after
    _remake_derived(store, entry, check, repaired=set(damaged), say=say, done=done)
    if done.rows or done.vocab:  # a new modification time: servers reopen the entry and forget its damage
        os.utime(path / METADATA_FILE)
    return done


def _rewrite_arrays(entry: StoredEntry, damaged: dict[str, Any], *, vocab: bool, device: str | None,
                    done: Repaired) -> None:
    from rnnpanel.compute.device import resolve_device
    from rnnpanel.pipeline.shards import extract_shard_rows, plan_shards, shard_tasks

    loaded, model_dir = _model_of(entry)
    data = _data_of(entry, loaded, model_dir) if set(damaged) & set(FROM_DATA) else None
    token_ids = data["token_ids"] if data else entry.load("token_ids")
    offsets = data["offsets"] if data else entry.load("offsets")
    chunk_rows = int(entry.array("token_ids").chunks[0])
    shards = plan_shards(offsets, chunk_rows)
    n_states = int(offsets[-1])
    per_state = {name: a for name, a in damaged.items() if name not in FROM_DATA and a.rows == n_states}
    wanted = {i for a in per_state.values() for i in a.bad_chunks}
    for name in FROM_PROBABILITIES:  # the sequences of a bad chunk are owned by some shards
        for i in (damaged[name].bad_chunks if name in damaged else {}):
            lo, hi = i * damaged[name].chunk_rows, (i + 1) * damaged[name].chunk_rows
            wanted |= {s.index for s in shards if s.owned[0] < hi and s.owned[1] > lo}
    request = entry.attrs.get("request") or {}
    tasks = shard_tasks([shards[i] for i in sorted(wanted)], token_ids, offsets, model_dir=str(model_dir),
                        weights_sha256=entry.attrs["weights_sha256"], partial_path="", device=device,
                        batch_size=request.get("batch_size"))
    group = zarr.open_group(str(entry.path), mode="r+")
    fresh_probs: dict[int, np.ndarray] = {}
    target = resolve_device(device or _device_kind(entry))
    for task in tasks:
        rows, owned = extract_shard_rows(loaded.model, task, target)
        for name, found in per_state.items():
            if task.shard.index in found.bad_chunks:
                group[name][task.shard.start:task.shard.stop] = rows[name]
        for offset, p in enumerate(owned):
            fresh_probs[task.shard.owned[0] + offset] = p
    for name, found in per_state.items():
        done.rows[name] = found.bad_rows()
    per_sequence = dict(data or {})
    if fresh_probs and set(FROM_PROBABILITIES) & set(damaged):
        n_seq = len(offsets) - 1
        full = np.zeros((n_seq, len(entry.attrs["class_names"])), dtype=np.float32)
        for i, p in fresh_probs.items():
            full[i] = p
        per_sequence.update(probs=full, predictions=full.argmax(axis=1).astype(np.int64))
    for name, found in damaged.items():
        if name in per_state:
            continue
        values = per_sequence.get(name)
        if values is None:
            raise StoreError(f"entry {entry.key}: cannot compute {name} again here")
        for start, stop in found.bad_rows():
            group[name][start:stop] = values[start:stop]
        done.rows[name] = found.bad_rows()
    if vocab:
        (entry.path / VOCAB_FILE).write_text(json.dumps(list(loaded.vocab.words)))
        done.vocab = True


def _device_kind(entry: StoredEntry) -> str:
    """The kind of device the entry was extracted on, where this machine has one (else the CPU:
    the repaired rows then differ from the lost ones in the last bits)."""
    import torch

    kind = str(entry.attrs.get("device", "cpu")).split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        log.warning("entry %s was extracted on a GPU and is repaired on the CPU", entry.key)
        return "cpu"
    return kind


def _model_of(entry: StoredEntry) -> tuple[Any, Path]:
    """The entry's model, checked to be the one it was extracted with."""
    from rnnpanel.models import load_model

    model_dir = Path((entry.attrs.get("request") or {}).get("model") or entry.attrs["model_dir"])
    try:
        loaded = load_model(model_dir, device="cpu")
    except RnnpanelError as exc:
        raise StoreError(f"entry {entry.key} cannot be repaired: its model {model_dir} cannot be loaded ({exc}); "
                         "put the model back there, or delete the entry and extract it again") from None
    if loaded.weights_sha256 != entry.attrs["weights_sha256"]:
        raise StoreError(f"entry {entry.key} cannot be repaired: the weights in {model_dir} are not the ones it was "
                         "extracted with; delete the entry and extract it again with the model you have")
    return loaded, model_dir


def _data_of(entry: StoredEntry, loaded: Any, model_dir: Path) -> dict[str, np.ndarray]:
    """The arrays an entry takes from its corpus and sample, read again from its recorded request
    and checked against the entry's key."""
    from rnnpanel.data.splitting import FileSplit
    from rnnpanel.pipeline.extract import dataset_identity, model_files, read_sample, sample_key

    request = entry.attrs.get("request")
    if not request:
        raise StoreError(f"entry {entry.key} cannot be repaired: its token ids or per-sequence arrays are damaged and "
                         "it keeps no record of the data it was made from (made from texts in memory, or by an "
                         "older rnnpanel); delete it and extract it again")
    file_split = FileSplit(**request["file_split"]) if request.get("file_split") else None
    columns = {"text_column": request.get("text_column"), "label_column": request.get("label_column")}
    corpus, sample, sequence_ids, _ = read_sample(loaded, request["dataset"], model_dir, split=request["split"],
                                                  n=request.get("n"), seed=request.get("seed", 0),
                                                  file_split=file_split, **columns)
    source = dataset_identity(request["dataset"], file_split=file_split, **columns)
    if sample_key(loaded, model_files(model_dir), source, split=request["split"], sequence_ids=sequence_ids) \
            != entry.key:
        raise StoreError(f"entry {entry.key} cannot be repaired: {request['dataset']} no longer gives the sample it "
                         "was made from; delete the entry and extract it again")
    split = request["split"]
    return {"token_ids": sample.token_ids, "offsets": sample.offsets,
            "labels": np.asarray(corpus.split(split).labels, dtype=np.int64)[sequence_ids],
            "sequence_ids": sequence_ids.astype(np.int64), "sequence_split": corpus.split_origin(split)[sequence_ids],
            "n_cut": sample.n_cut}


_INDEX = re.compile(r"^neighbours-layer(\d+)-([a-z_]+)-")


def _remake_derived(store: StateStore, entry: StoredEntry, check: EntryCheck, *, repaired: set[str], say: Say,
                    done: Repaired) -> None:
    """Recompute the maps and rebuild the derived folders that depend on ``repaired`` arrays or are
    damaged themselves."""
    layers = {name.split("/")[0] + "/" + name.split("/")[1] for name in repaired if name.startswith("layer_")}
    everything = bool(repaired & {"offsets", "labels"})

    def depends(layer: int, kind: str) -> bool:
        return everything or f"layer_{layer}/{kind.partition('_')[0]}" in layers

    for map_check in check.maps:
        attrs = map_check.attrs
        if map_check.damaged or depends(int(attrs.get("layer", -1)), str(attrs.get("state", "h"))):
            say(f"entry {entry.key}: recomputing map {map_check.key}")
            _recompute_map(store, entry, map_check)
            done.maps.append(map_check.key)
    folder = store.entry_path(entry.key) / DERIVED
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = _INDEX.match(path.name)
        stale = (path.name in check.derived or (match and depends(int(match[1]), match[2]))
                 or (path.name.startswith("per-state-arrays") and "ep" in repaired))
        if stale:
            say(f"entry {entry.key}: rebuilding {path.name}")
            shutil.rmtree(path)
            _rebuild(entry, path.name, match)
            done.derived.append(path.name)


def _recompute_map(store: StateStore, entry: StoredEntry, map_check: MapCheck) -> None:
    """The map again, from its recorded request, under its own key; the old one back if it fails."""
    from rnnpanel.pipeline.project import project_states

    attrs = map_check.attrs
    request = attrs.get("request") or {}
    path = store.projection_path(entry.key, map_check.key)
    aside = path.with_name(f".tmp-aside-{map_check.key}-{uuid.uuid4().hex[:6]}")
    path.rename(aside)
    try:
        options = {name: request[name] for name in ("params", "max_fit", "random_state", "polish_iter",
                                                     "refine_iter") if name in request}
        result = project_states(entry.states(layer=int(attrs["layer"]), kind=str(attrs["state"])),
                                method=str(attrs["method"]), backend=str(attrs.get("backend_requested", "auto")),
                                progress=True, **options)
        if result.key != map_check.key:
            log.warning("map %s was recomputed under key %s (made by another version)", map_check.key, result.key)
    except BaseException:
        if not path.exists():
            aside.rename(path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _rebuild(entry: StoredEntry, name: str, index_match: Any) -> None:
    """A derived folder made again now (a neighbour index with other settings is left to be made on demand)."""
    from rnnpanel.pipeline.load import MAPPED_FOLDER, mapped_arrays
    from rnnpanel.pipeline.neighbor_index import index_name
    from rnnpanel.pipeline.states import EntryStates

    if name == MAPPED_FOLDER:
        mapped_arrays(entry)
    elif index_match and name == index_name(int(index_match[1]), index_match[2]):
        EntryStates(entry.states(layer=int(index_match[1]), kind=index_match[2])).store_neighbor_index()


def repair_store(store: StateStore, checks: list[EntryCheck], *, device: str | None = None,
                 say: Say | None = None) -> tuple[list[Repaired], dict[str, str]]:
    """Repair every checked entry that needs it; returns what was repaired and, by key, why the
    others could not be."""
    repaired, failed = [], {}
    for check in checks:
        if not check.needs_repair:
            continue
        try:
            repaired.append(repair_entry(store, check, device=device, say=say))
        except RnnpanelError as exc:
            failed[check.key] = str(exc)
    return repaired, failed

