"""Build the :class:`Sample` the views draw from a store entry and one of its projections.

Samples are cached per process and keyed by everything that determines them, so every browser
session of a server shares one copy (the heavy arrays are never copied per session).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.compute.projection.names import METHODS
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.project import project_entry, requested_key
from rnnpanel.pipeline.sample import Sample
from rnnpanel.store import StateStore, StoredEntry
from rnnpanel.store.mapped import has_mapped, read_mapped, write_mapped

log = logging.getLogger(__name__)

CACHE_SIZE = 8
_SAMPLES: LockedCache[Sample] = LockedCache(CACHE_SIZE)


def entry_label(entry: StoredEntry) -> str:
    """A human name for the sidebar: dataset, model and sample size."""
    a = entry.attrs
    cfg = a.get("model_config", {})
    cell = str(cfg.get("cell", "")).upper()
    return (f"{a.get('dataset', '?')} · {cell}-{cfg.get('hidden_size', '?')}"
            f"{' ×' + str(cfg.get('num_layers')) if cfg.get('num_layers', 1) > 1 else ''}"
            f" · {a.get('n_sequences', '?')} seq / {a.get('n_states', '?')} states")


def list_entries(store_root: str | Path) -> list[tuple[str, str]]:
    """``(key, label)`` of every complete entry of the store, oldest first; labels that two entries
    share get the start of their key (the sidebar's choices are keyed by label)."""
    pairs = [(e.key, entry_label(e)) for e in StateStore(store_root).entries()]
    seen = Counter(label for _, label in pairs)
    return [(key, f"{label} · {key[:8]}" if seen[label] > 1 else label) for key, label in pairs]


def stored_methods(store: StateStore, entry_key: str, *, layer: int, state: str) -> list[str]:
    """The methods whose map of one layer and state kind the app can read without computing it:
    stored with the app's parameters by this version of the projection (a map stored before the
    placement changed, or with other parameters, would be computed again)."""
    entry = store.open_entry(entry_key)
    return [m for m in METHODS
            if store.has_projection(entry_key, requested_key(entry, layer=layer, state=state, method=m))]


def preferred_method(store: StateStore, entry_key: str, *, layer: int, state: str, wanted: str = "tsne") -> str:
    """``wanted`` if its map is stored for this layer and state kind; else the first method stored;
    else the first whose map an earlier version or other parameters made (it is made again, as its
    owner chose it); else ``wanted``. Opening a whole corpus projected with PCA must not start a
    t-SNE of millions of states."""
    stored = stored_methods(store, entry_key, layer=layer, state=state)
    if wanted in stored:
        return wanted
    if stored:
        return stored[0]
    earlier = {p.get("method") for p in store.projections(entry_key)
               if int(p.get("layer", -1)) == int(layer) and p.get("state") == state}
    return wanted if not earlier or wanted in earlier else next(m for m in METHODS if m in earlier)


def load_sample(store_root: str | Path, entry_key: str, *, layer: int = -1, state: str = "h",
                method: str = "tsne", backend: str = "auto", progress: Any = None) -> Sample:
    """The entry's sample with its projection, computing (and storing) the projection if needed."""
    store = StateStore(store_root)
    cache_key = (str(store.root.resolve()), entry_key, layer, state, method, backend)
    return _SAMPLES.get_or_make(cache_key, lambda: _build_sample(store, entry_key, layer=layer, state=state,
                                                                 method=method, backend=backend, progress=progress))


#: The largest per-state array every serving process reads whole (N × classes floats: 0.2 GB for
#: 2.6 million states of 20 classes), kept uncompressed beside the entry and memory-mapped, so the
#: processes of a server share it through the file cache instead of each decoding its own copy.
MAPPED_ARRAYS = ("ep",)
MAPPED_FOLDER = "per-state-arrays-v1"


def mapped_arrays(store: StateStore, entry: StoredEntry) -> dict[str, np.ndarray]:
    """:data:`MAPPED_ARRAYS` of an entry, memory-mapped from their uncompressed copy (written the
    first time); read from the entry itself where the copy cannot be written (a read-only store)."""
    folder = store.derived_path(entry.key, MAPPED_FOLDER)
    if not has_mapped(folder):
        try:
            write_mapped(folder, {name: entry.load(name) for name in MAPPED_ARRAYS}, {"entry_key": entry.key})
        except OSError as exc:
            log.warning("cannot keep a mapped copy of %s's arrays (%s); each process reads its own", entry.key, exc)
            return {name: entry.load(name) for name in MAPPED_ARRAYS}
    return read_mapped(folder)[0]


def _build_sample(store: StateStore, entry_key: str, *, layer: int, state: str, method: str, backend: str,
                  progress: Any) -> Sample:
    entry = store.open_entry(entry_key)
    embedding, attrs = project_entry(store, entry, layer=layer, state=state, method=method,
                                     backend=backend, progress=progress)
    arrays, _ = store.read_projection(entry_key, attrs["projection_key"])
    return Sample(
        name=entry_label(entry),
        class_names=entry.attrs["class_names"],
        offsets=entry.load("offsets"),
        words=entry.words(),
        ep=mapped_arrays(store, entry)["ep"],
        xy=embedding,
        step_distance=arrays["step_distance"],
        labels=entry.load("labels"),
        predictions=entry.load("predictions"),
        sequence_ids=entry.load("sequence_ids"),
        n_cut=entry.load("n_cut"),
        truncation=str(entry.attrs.get("truncation", "last")),
        layer=int(attrs["layer"]),
        state=state,
        projection=f"{method}/{attrs.get('backend_used', backend)}",
    )
