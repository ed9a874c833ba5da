"""Live input (docs/design.md, Tools beyond the paper): run an entry's model on a text the user types and place
its states in the entry's existing map, as a one-sequence :class:`Sample` the views draw like any
other sequence.

The model is the one the entry was extracted with (its folder is recorded in the entry); it is
loaded once per process and refused if its weights changed since, since its states would no
longer belong to the map. The new states are placed by the projection's ``transform`` when this
process fitted the map, else at the median position of their nearest stored states in the
original space (:meth:`rnnpanel.pipeline.states.EntryStates.place`); step distances use the sample's
normaliser, so bars and labels compare with the stored sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from rnnpanel.errors import DataError, ModelError
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store.state_kinds import direction_half

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


def live_sample(states: EntryStates, text: str, *, method: str = "tsne", backend: str = "auto") -> LiveRead:
    """``text`` read by the model of ``states``' entry, its states of their layer and kind placed
    in the ``method`` map of ``states``.

    Raises
    ------
    ModelError
        The entry's model is gone or changed since the extraction.
    DataError
        The model knows none of the text's words.
    """
    from rnnpanel.compute.distances import step_distances
    from rnnpanel.compute.extraction import extract_states
    from rnnpanel.models.encoding import encode_text

    entry = states.entry
    loaded = _entry_model(entry.attrs)
    ids, n_cut = encode_text(text, loaded.vocab, loaded.config)
    if not ids:
        raise DataError("the model knows none of these words (unknown words produce no states); "
                        "type a text in the language of its training data")
    extracted = extract_states(loaded.model, [ids], device="cpu")
    new = direction_half(extracted.layers[states.layer][states.kind.partition("_")[0]], states.kind,
                         hidden_size=loaded.config.hidden_size, bidirectional=loaded.config.bidirectional)
    projection = states.project(method=method, backend=backend)
    xy, how = states.place(new, projection)
    offsets = np.array([0, len(ids)])
    scale = projection.step_distance_max
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
        layer=states.layer,
        state=states.kind,
        projection=f"{method} · placed by {how}",
    )
    return LiveRead(sample=sample, states=np.asarray(new, dtype=np.float32))
