"""Nearest neighbours of a state in the original space (docs/design.md, Tools beyond the paper), as a table:
which other states the network treats alike, with the words that led there."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnpanel.pipeline.sample import Sample

CONTEXT = 4     # words shown before the state's own word


def context_of(sample: Sample, i: int, before: int = CONTEXT) -> str:
    """The words of state ``i``'s sequence up to and including its own word, marked with [ ]."""
    s = int(sample.sequence_of_state[i])
    start = max(int(sample.offsets[s]), i - before)
    words = [str(w) for w in sample.words[start:i]]
    lead = "… " if start > int(sample.offsets[s]) else ""
    return lead + " ".join(words + [f"[{sample.words[i]}]"])


def neighbor_frame(sample: Sample, indices: np.ndarray, distances: np.ndarray) -> pd.DataFrame:
    """One row per neighbour, nearest first: distance, its sequence, step, word in context, the
    class predicted there and with which probability."""
    names = np.asarray(sample.class_names, dtype=object)
    seq = sample.sequence_of_state[indices]
    ep = sample.ep[indices]
    return pd.DataFrame({
        "distance": np.round(np.asarray(distances, dtype=float), 4),
        "sequence": sample.sequence_ids[seq].astype(int),
        "t": sample.step_of_state[indices].astype(int),
        "words": [context_of(sample, int(i)) for i in indices],
        "predicted here": names[ep.argmax(axis=1)],
        "P": np.round(ep.max(axis=1).astype(float), 3),
        "row": seq.astype(int),          # the table row of its sequence (hidden in the app)
    })
