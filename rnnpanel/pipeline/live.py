"""Live input (docs/design.md, Tools beyond the paper): run an entry's model on a text the user types and place
its states in the entry's existing map, as a one-sequence :class:`Sample` the views draw like any
other sequence.

The model is the one the entry was extracted with (its folder is recorded in the entry); it is
loaded once per process and refused if its weights changed since, since its states would no
longer belong to the map. The new states are placed by the projection's ``transform`` when this
process fitted the map, else at the median position of their nearest stored states in the
original space (:func:`rnnpanel.pipeline.states.place_states`); step distances use the sample's
normaliser, so bars and labels compare with the stored sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from rnnpanel.errors import DataError, ModelError
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.project import project_entry
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import place_states
from rnnpanel.store import StateStore, StoredEntry
from rnnpanel.store.state_store import direction_half

LIVE_NAME = "live input"
MODELS_KEPT = 4
_MODELS: LockedCache[object] = LockedCache(MODELS_KEPT)


def _entry_model(attrs: dict):
    """The entry's model, loaded once per process; a clear error if it is gone or changed."""
    directory, sha = str(attrs.get("model_dir", "")), str(attrs.get("weights_sha256", ""))
    return _MODELS.get_or_make((directory, sha), partial(_checked_model, directory, sha))


def _checked_model(directory: str, sha: str):
    from rnnpanel.models import load_model

    if not directory or not Path(directory).is_dir():
        raise ModelError(f"the model these states came from is not at {directory or '(unrecorded)'} any more; "
                         "live input needs it (re-extract with the model where it is now)")
    loaded = load_model(directory)
    if loaded.weights_sha256 != sha:
        raise ModelError(f"the model in {directory} changed since these states were extracted, so its states "
                         "would not belong to this map; extract again with `rnnpanel extract`")
    return loaded


@dataclass(frozen=True)
class LiveRead:
    """A typed text as the views draw it (``sample``: one sequence) and its states ``(T, D)`` in
    the original space, for the unit view and the nearest stored neighbours."""

    sample: Sample
    states: np.ndarray


def live_sample(store: StateStore, entry: StoredEntry, text: str, *, layer: int = -1, state: str = "h",
                method: str = "tsne", backend: str = "auto") -> LiveRead:
    """``text`` read by the model of ``entry`` (opened from ``store``), its states placed in the
    entry's ``method`` map."""
    from rnnpanel.compute.distances import step_distances
    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models.encoding import encode_text

    if state not in entry.state_choices:
        raise ModelError(f"state kind {state!r} does not exist for this entry's model; "
                         f"choose one of {', '.join(entry.state_choices)}")
    loaded = _entry_model(entry.attrs)
    ids, n_cut = encode_text(text, loaded.vocab, loaded.config)
    if not ids:
        raise DataError("the model knows none of these words (unknown words produce no states); "
                        "type a text in the language of its training data")
    extracted = extract_states(loaded.model, [ids], device="cpu")
    li = layer % len(extracted.layers)
    new = direction_half(extracted.layers[li][state.partition("_")[0]], state,
                         hidden_size=loaded.config.hidden_size, bidirectional=loaded.config.bidirectional)
    _, attrs = project_entry(store, entry, layer=li, state=state, method=method, backend=backend)
    xy, how = place_states(store, entry, attrs["projection_key"], new)
    offsets = np.array([0, len(ids)])
    scale = float(attrs.get("step_distance_max") or 1.0)
    distance = step_distances(new, offsets, normalize=False) / (scale if scale > 0 else 1.0)
    sample = Sample(
        name=LIVE_NAME,
        class_names=entry.attrs["class_names"],
        offsets=offsets,
        words=[loaded.vocab.words[i] for i in ids],
        ep=extracted.ep,
        xy=xy,
        step_distance=distance,
        labels=extracted.predictions,       # no true class: the views compare with the prediction
        predictions=extracted.predictions,
        sequence_ids=[-1],
        n_cut=[n_cut],
        truncation=loaded.config.truncation,
        layer=li,
        state=state,
        projection=f"{method} · placed by {how}",
    )
    return LiveRead(sample=sample, states=np.asarray(new, dtype=np.float32))
