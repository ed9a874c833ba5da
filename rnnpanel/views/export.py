"""Export (SPEC §2, beyond the paper): the shown sequence, or every state of the map (or those a
search matched), with coordinates, as a table to download.

Words are written as data (CSV quoting, Parquet strings), never as markup; probabilities get one
column per class, named ``P(class)``.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from rnnpanel.pipeline.sample import Sample

FORMATS = ("csv", "parquet")


def _probabilities(sample: Sample, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
    ep = sample.ep[rows]
    return {f"P({name})": ep[:, k].astype(float) for k, name in enumerate(sample.class_names)}


def states_table(sample: Sample, rows: np.ndarray | None = None) -> pd.DataFrame:
    """One row per state (all, or the states of the boolean mask ``rows``): its sequence, step,
    word, map position, step distance to the next state, the class it predicts and EP."""
    index = np.arange(sample.n_states) if rows is None else np.flatnonzero(rows)
    names = np.asarray(sample.class_names, dtype=object)
    seq = sample.sequence_of_state[index]
    return pd.DataFrame({
        "sequence": sample.sequence_ids[seq].astype(int),
        "t": sample.step_of_state[index].astype(int),
        "word": [str(w) for w in sample.words[index]],
        "x": sample.xy[index, 0].astype(float),
        "y": sample.xy[index, 1].astype(float),
        "step_distance": sample.step_distance[index].astype(float),
        "true": names[sample.labels[seq]],
        "predicted_here": names[sample.ep[index].argmax(axis=1)],
        **_probabilities(sample, index),
    })


def sequence_table(sample: Sample, s: int) -> pd.DataFrame:
    """The states of sequence ``s`` in time order (see :func:`states_table`)."""
    rows = np.zeros(sample.n_states, dtype=bool)
    rows[sample.sequence_slice(s)] = True
    return states_table(sample, rows)


def table_bytes(frame: pd.DataFrame, fmt: str) -> io.BytesIO:
    """``frame`` written as ``fmt`` (``csv`` or ``parquet``), ready for a download button."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(frame.to_csv(index=False).encode("utf-8"))
    else:
        frame.to_parquet(buffer, index=False)
    buffer.seek(0)
    return buffer
