"""Two store entries over the same texts: which sequences and steps correspond, and how the models differ.

A comparison pairs two entries (two models, two checkpoints of a run, or one entry with itself
for two layers). :func:`pair_entries` checks that they read the same texts and says how they are
linked: **step by step** when both read the same words at every step (checkpoints of a run, or
models trained on the same corpus with the same vocabulary settings), else **sequence by
sequence**. :func:`compare_entries` computes every figure of ``rnnpanel compare`` from the two
entries alone (predictions, final probabilities, the EP at every step), so a reader can recompute
each of them from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnpanel.compute.comparison import (
    PARTING_THRESHOLD,
    accuracy_by_class,
    confusion,
    median_displacement,
    parting_steps,
    procrustes,
    total_variation,
)
from rnnpanel.errors import StoreError
from rnnpanel.store import StateStore, StoredEntry

STEP, SEQUENCE = "step", "sequence"


@dataclass(frozen=True)
class Pairing:
    """Corresponding sequences of entries A and B (indices into each), and how their steps link."""

    seqs_a: np.ndarray
    seqs_b: np.ndarray
    link: str
    note: str

    def __len__(self) -> int:
        return len(self.seqs_a)


def state_rows(offsets: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    """The state rows of sequences ``seqs``, in that order, concatenated."""
    offsets = np.asarray(offsets, dtype=np.int64)
    seqs = np.asarray(seqs, dtype=np.int64)
    starts, lengths = offsets[seqs], np.diff(offsets)[seqs]
    if not len(seqs):
        return np.zeros(0, dtype=np.int64)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within


def _source(entry: StoredEntry) -> tuple[Any, str]:
    return entry.attrs.get("dataset_identity"), str(entry.attrs.get("split"))


def pair_entries(a: StoredEntry, b: StoredEntry) -> Pairing:
    """Match the sequences of ``a`` and ``b`` by their position in the same corpus split.

    Raises
    ------
    StoreError
        The entries are over different texts (another corpus, split or file), or share none.
    """
    if a.key == b.key:
        seqs = np.arange(int(a.attrs["n_sequences"]))
        return Pairing(seqs, seqs, STEP, "one entry: its layers read the same steps")
    ids_a, ids_b = a.load("sequence_ids"), b.load("sequence_ids")
    (source_a, split_a), (source_b, split_b) = _source(a), _source(b)
    in_memory = isinstance(source_a, dict) and "in_memory" in source_a
    if source_a != source_b or split_a != split_b or in_memory:
        if not in_memory or len(ids_a) != len(ids_b) or not _same_words(a, b, np.arange(len(ids_a)),
                                                                         np.arange(len(ids_b))):
            raise StoreError(f"entries {a.key} and {b.key} are not over the same texts ({_describe(a)} against "
                             f"{_describe(b)}); extract both models from the same corpus and split")
        seqs = np.arange(len(ids_a))
        return Pairing(seqs, seqs, STEP, "the same texts, given in memory, read word for word alike")
    shared, seqs_a, seqs_b = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    if not len(shared):
        raise StoreError(f"entries {a.key} and {b.key} share no text of {_describe(a)}: they are other samples; "
                         "extract both with the same --n and --seed")
    note = "the same sequences" if len(shared) == len(ids_a) == len(ids_b) else \
        f"the {len(shared):,} sequences both hold (of {len(ids_a):,} in A and {len(ids_b):,} in B)"
    if _same_words(a, b, seqs_a, seqs_b):
        return Pairing(seqs_a, seqs_b, STEP, f"{note}, read word for word alike: linked step by step")
    return Pairing(seqs_a, seqs_b, SEQUENCE, f"{note}; the models read them differently (another vocabulary or "
                                             "window): linked sequence by sequence")


def _describe(entry: StoredEntry) -> str:
    return f"{entry.attrs.get('dataset', '?')} {entry.attrs.get('split', '?')}"


def _same_words(a: StoredEntry, b: StoredEntry, seqs_a: np.ndarray, seqs_b: np.ndarray) -> bool:
    """Whether sequences ``seqs_a`` of A and ``seqs_b`` of B have the same words at every step."""
    off_a, off_b = a.load("offsets"), b.load("offsets")
    if not np.array_equal(np.diff(off_a)[seqs_a], np.diff(off_b)[seqs_b]):
        return False
    words_a, words_b = a.vocab_words, b.vocab_words
    if words_a == words_b:
        translate = None
    else:
        index = {word: i for i, word in enumerate(words_a)}
        translate = np.array([index.get(word, -1) for word in words_b], dtype=np.int64)
    tokens_a = a.load("token_ids")[state_rows(off_a, seqs_a)]
    tokens_b = b.load("token_ids")[state_rows(off_b, seqs_b)]
    return bool(np.array_equal(tokens_a, tokens_b if translate is None else translate[tokens_b]))


def compare_entries(a: StoredEntry, b: StoredEntry, *, threshold: float = PARTING_THRESHOLD,
                    layers: tuple[int, int] | None = None) -> dict[str, Any]:
    """Every figure of ``rnnpanel compare``, as a JSON-ready mapping.

    Parameters
    ----------
    a, b
        The two entries (the same entry twice compares two of its layers).
    threshold
        Total variation distance between the two EP distributions at which the curves "part".
    layers
        ``(layer of A, layer of B)`` whose stored maps are aligned and measured; None: the top layers.

    Returns
    -------
    dict
        ``n_sequences``, ``link``, ``agreement``, ``confusion`` (A's classes × B's), ``accuracy``
        (per model: ``overall`` and ``by_class``), ``disagreements`` (ranked by the total variation
        distance of the final probabilities; each with ``index`` in A, ``index_b``, ``sequence_id``,
        both predictions and final probabilities and ``parting_step``), ``parting`` (its
        threshold and measure), ``maps`` (alignment, when both layers have a stored map) and, for
        two checkpoints of one run, ``checkpoints``.

    Raises
    ------
    StoreError
        Not the same texts, or models with other classes.
    """
    pairing = pair_entries(a, b)
    classes = list(a.attrs["class_names"])
    if list(b.attrs["class_names"]) != classes:
        raise StoreError(f"entries {a.key} and {b.key} predict other classes ({classes} against "
                         f"{list(b.attrs['class_names'])}); compare models of the same task")
    sa, sb = pairing.seqs_a, pairing.seqs_b
    labels = a.load("labels")[sa]
    pred_a, pred_b = a.load("predictions")[sa], b.load("predictions")[sb]
    probs_a, probs_b = a.load("probs")[sa], b.load("probs")[sb]
    parting = _parting(a, b, pairing, threshold)
    distance = total_variation(probs_a, probs_b)
    differ = np.flatnonzero(pred_a != pred_b)
    differ = differ[np.argsort(-distance[differ], kind="stable")]
    accuracy = {}
    for name, pred in (("a", pred_a), ("b", pred_b)):
        overall, by_class = accuracy_by_class(pred, labels, len(classes))
        accuracy[name] = {"overall": overall, "by_class": dict(zip(classes, by_class))}
    layer_a, layer_b = layers if layers is not None else (int(a.attrs["layers"]) - 1, int(b.attrs["layers"]) - 1)
    result = {
        "entries": {"a": _entry_summary(a), "b": _entry_summary(b)},
        "n_sequences": len(pairing),
        "link": pairing.link,
        "pairing": pairing.note,
        "class_names": classes,
        "agreement": float(np.mean(pred_a == pred_b)) if len(pairing) else float("nan"),
        "confusion": confusion(pred_a, pred_b, len(classes)).tolist(),
        "accuracy": accuracy,
        "parting": {"threshold": threshold, "measure": "total variation distance between the two EP distributions "
                                                       "at a step (half their L1 distance)",
                    "steps": "per sequence, the first step (0-based) where it exceeds the threshold; null when the "
                             "curves never part or the entries are linked only sequence by sequence"},
        "disagreements": [{
            "index": int(sa[i]), "index_b": int(sb[i]), "sequence_id": int(a.load("sequence_ids")[sa[i]]),
            "label": classes[int(labels[i])],
            "prediction_a": classes[int(pred_a[i])], "prediction_b": classes[int(pred_b[i])],
            "probabilities_a": [float(p) for p in probs_a[i]], "probabilities_b": [float(p) for p in probs_b[i]],
            "final_distance": float(distance[i]),
            "parting_step": None if parting is None or parting[i] < 0 else int(parting[i]),
        } for i in differ],
        "maps": map_alignment(a, b, pairing, layer_a=layer_a, layer_b=layer_b),
    }
    run = checkpoint_progress(a.store, a, b)
    if run is not None:
        result["checkpoints"] = run
    return result


def _parting(a: StoredEntry, b: StoredEntry, pairing: Pairing, threshold: float) -> np.ndarray | None:
    if pairing.link != STEP:
        return None
    off_a, off_b = a.load("offsets"), b.load("offsets")
    rows_a, rows_b = state_rows(off_a, pairing.seqs_a), state_rows(off_b, pairing.seqs_b)
    lengths = np.diff(off_a)[pairing.seqs_a]
    offsets = np.r_[0, np.cumsum(lengths)]
    return parting_steps(a.load("ep")[rows_a], b.load("ep")[rows_b], offsets, threshold)


def _entry_summary(entry: StoredEntry) -> dict[str, Any]:
    cfg = entry.attrs.get("model_config", {})
    return {"key": entry.key, "model": entry.attrs.get("model_name"), "cell": cfg.get("cell"),
            "hidden_size": cfg.get("hidden_size"), "layers": entry.attrs.get("layers"),
            "dataset": entry.attrs.get("dataset"), "split": entry.attrs.get("split"),
            "checkpoint": entry.attrs.get("checkpoint")}


def corresponding_states(a: StoredEntry, b: StoredEntry, pairing: Pairing) -> tuple[np.ndarray, np.ndarray]:
    """State rows of A and of B that correspond: every step when linked step by step, else each
    sequence's last state (where both models have read the whole text)."""
    off_a, off_b = a.load("offsets"), b.load("offsets")
    if pairing.link == STEP:
        return state_rows(off_a, pairing.seqs_a), state_rows(off_b, pairing.seqs_b)
    return off_a[1:][pairing.seqs_a] - 1, off_b[1:][pairing.seqs_b] - 1


def stored_map(entry: StoredEntry, layer: int) -> tuple[str, np.ndarray, dict[str, Any]] | None:
    """A stored map of ``layer``'s h states (t-SNE first, then UMAP, then PCA), or None."""
    store = entry.store
    found = [m for m in store.projections(entry.key) if int(m.get("layer", -1)) == layer and m.get("state") == "h"]
    order = {"tsne": 0, "umap": 1, "pca": 2}
    found.sort(key=lambda m: (order.get(str(m.get("method")), 3), -float(m.get("created", 0))))
    if not found:
        return None
    key = str(found[0]["projection_key"])
    arrays, attrs = store.read_projection(entry.key, key)
    return key, arrays["embedding"], attrs


def map_alignment(a: StoredEntry, b: StoredEntry, pairing: Pairing, *, layer_a: int, layer_b: int) -> dict | None:
    """How far corresponding states sit apart in the two layers' maps, as fitted and once B's map is
    rotated, scaled and shifted onto A's (orthogonal Procrustes); None without both maps."""
    map_a, map_b = stored_map(a, layer_a), stored_map(b, layer_b)
    if map_a is None or map_b is None:
        return None
    rows_a, rows_b = corresponding_states(a, b, pairing)
    points_a, points_b = map_a[1][rows_a], map_b[1][rows_b]
    alignment = procrustes(points_a, points_b)
    return {
        "layers": [layer_a, layer_b], "projections": [map_a[0], map_b[0]],
        "methods": [map_a[2].get("method"), map_b[2].get("method")], "corresponding_states": len(rows_a),
        "median_displacement_independent": median_displacement(points_a, points_b),
        "median_displacement_aligned": median_displacement(points_a, alignment.apply(points_b)),
        "displacement_unit": "fraction of the diagonal of map A's bounding box",
        "rotation": alignment.rotation.tolist(), "scale": alignment.scale, "shift": alignment.shift.tolist(),
    }


def run_epochs(run: str) -> dict[str, int]:
    """Weights hash → epoch of every checkpoint of the run at ``run`` (empty when it is gone): the
    same weights extracted from another folder (the run's best model) are that epoch too."""
    from rnnpanel.errors import ModelError
    from rnnpanel.hashing import file_sha256
    from rnnpanel.models.checkpoints import read_run
    from rnnpanel.models.io import WEIGHTS_FILE

    try:
        return {file_sha256(c.path / WEIGHTS_FILE): c.epoch for c in read_run(run)}
    except (ModelError, OSError):
        return {}


def run_entries(store: StateStore, a: StoredEntry, b: StoredEntry) -> list[tuple[int, StoredEntry]]:
    """``(epoch, entry)`` of every checkpoint of the run A or B was extracted from, over their sample,
    by epoch; empty unless both are checkpoints of one run."""
    run = next((e.attrs["checkpoint"]["run"] for e in (a, b) if e.attrs.get("checkpoint")), None)
    if run is None:
        return []
    epochs = run_epochs(run) or {e.attrs["weights_sha256"]: int(e.attrs["checkpoint"]["epoch"])
                                 for e in store.entries() if (e.attrs.get("checkpoint") or {}).get("run") == run}
    if a.attrs["weights_sha256"] not in epochs or b.attrs["weights_sha256"] not in epochs:
        return []
    ids = a.load("sequence_ids")
    found = {}
    for e in store.entries():
        epoch = epochs.get(e.attrs.get("weights_sha256"))
        if epoch is not None and _source(e) == _source(a) and np.array_equal(e.load("sequence_ids"), ids):
            found.setdefault(epoch, e)
    return sorted(found.items())


def checkpoint_progress(store: StateStore, a: StoredEntry, b: StoredEntry) -> list[dict[str, Any]] | None:
    """Per epoch of the run both entries belong to: accuracy, and agreement with the run's last
    checkpoint; None unless A and B are checkpoints of one run."""
    entries = run_entries(store, a, b)
    if not entries:
        return None
    final = entries[-1][1].load("predictions")
    labels = a.load("labels")
    return [{"epoch": epoch, "entry": e.key,
             "accuracy": float(np.mean(e.load("predictions") == labels)),
             "agreement_with_final": float(np.mean(e.load("predictions") == final))} for epoch, e in entries]
