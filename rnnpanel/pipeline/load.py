"""Build the :class:`Sample` the views draw from a store entry and one of its projections.

:class:`~rnnpanel.pipeline.states.EntryStates` keeps each sample once per process, so every
browser session of a server shares one copy (the heavy arrays are never copied per session).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np

from rnnpanel.pipeline.map_label import map_label
from rnnpanel.pipeline.project import ProjectionResult, project_states
from rnnpanel.pipeline.refined_map import refined_or_placed
from rnnpanel.pipeline.sample import Sample
from rnnpanel.store import LayerStates, StateStore, StoredEntry
from rnnpanel.store.mapped import has_mapped, read_mapped, write_mapped

log = logging.getLogger(__name__)


def entry_label(entry: StoredEntry) -> str:
    """A human name for the sidebar: dataset, model and sample size."""
    a = entry.attrs
    cfg = a.get("model_config", {})
    cell = str(cfg.get("cell", "")).upper()
    return (f"{a.get('dataset', '?')} · {cell}-{cfg.get('hidden_size', '?')}"
            f"{' ×' + str(cfg.get('num_layers')) if cfg.get('num_layers', 1) > 1 else ''}"
            f" · {a.get('n_sequences', '?')} seq / {a.get('n_states', '?')} states")


def list_entries(store: StateStore) -> list[tuple[str, str]]:
    """``(key, label)`` of every complete entry of the store, oldest first; labels that two entries
    share get the start of their key (the sidebar's choices are keyed by label)."""
    pairs = [(e.key, entry_label(e)) for e in store.entries()]
    seen = Counter(label for _, label in pairs)
    return [(key, f"{label} · {key[:8]}" if seen[label] > 1 else label) for key, label in pairs]


#: The largest per-state array every serving process reads whole (N × classes floats: 0.2 GB for
#: 2.6 million states of 20 classes), kept uncompressed beside the entry and memory-mapped, so the
#: processes of a server share it through the file cache instead of each decoding its own copy.
MAPPED_ARRAYS = ("ep",)
MAPPED_FOLDER = "per-state-arrays-v1"


def mapped_arrays(entry: StoredEntry) -> dict[str, np.ndarray]:
    """:data:`MAPPED_ARRAYS` of an entry, memory-mapped from their uncompressed copy (written the
    first time); read from the entry itself where the copy cannot be written (a read-only store)."""
    folder = entry.store.derived_path(entry.key, MAPPED_FOLDER)
    if not has_mapped(folder):
        try:
            write_mapped(folder, {name: entry.load(name) for name in MAPPED_ARRAYS}, {"entry_key": entry.key})
        except OSError as exc:
            log.warning("cannot keep a mapped copy of %s's arrays (%s); each process reads its own", entry.key, exc)
            return {name: entry.load(name) for name in MAPPED_ARRAYS}
    return read_mapped(folder)[0]


def build_sample(states: LayerStates, *, method: str = "tsne", backend: str = "auto", progress: Any = None) -> Sample:
    """The sample of ``states`` with their ``method`` map, computing (and storing) the map if needed; a
    placed map's refinement instead when the store holds it."""
    placed = project_states(states, method=method, backend=backend, progress=progress)
    return map_sample(states, refined_or_placed(states, placed), backend=backend)


def map_sample(states: LayerStates, projection: ProjectionResult, *, backend: str = "auto") -> Sample:
    """The sample of ``states`` drawn with ``projection``, a map of them the store holds (the
    app's own map, or another: a run's chained maps, :mod:`rnnpanel.pipeline.run_maps`)."""
    entry = states.entry
    arrays, _ = entry.store.read_projection(entry.key, projection.key)
    return Sample(
        name=entry_label(entry),
        class_names=entry.attrs["class_names"],
        offsets=entry.load("offsets"),
        words=entry.words(),
        ep=mapped_arrays(entry)["ep"],
        xy=projection.embedding,
        step_distance=arrays["step_distance"],
        labels=entry.load("labels"),
        predictions=entry.load("predictions"),
        sequence_ids=entry.load("sequence_ids"),
        n_cut=entry.load("n_cut"),
        truncation=str(entry.attrs.get("truncation", "last")),
        layer=states.layer,
        state=states.kind,
        projection=map_label({"backend_used": backend, **projection.attrs}),
    )
