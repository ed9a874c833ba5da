"""Automatic word labels: the steps of a sequence worth naming on its trajectory (SPEC §2.3)."""

from __future__ import annotations

import numpy as np

DEFAULT_DISTANCE_THRESHOLD = 0.40
DEFAULT_EP_THRESHOLD = 0.30


def labelled_steps(step_distance: np.ndarray, ep: np.ndarray, *, distance_threshold: float,
                   ep_threshold: float, class_flips: bool) -> np.ndarray:
    """Indices t whose word gets a label.

    A word is labelled when the state it produced is reached by a long step (``d_{t-1}`` above
    ``distance_threshold``), when it moves EP by more than ``ep_threshold`` (largest change of
    any class probability), or, with ``class_flips``, when the predicted class changes at it.
    The first word is labelled when its own EP is already decisive, so a sequence always starts
    with its first jump visible.
    """
    n = len(ep)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    marks = np.zeros(n, dtype=bool)
    incoming = np.concatenate([[np.nan], step_distance[:-1]])
    marks |= np.nan_to_num(incoming, nan=0.0) > distance_threshold
    change = np.concatenate([[0.0], np.abs(np.diff(ep, axis=0)).max(axis=1)]) if n > 1 else np.zeros(1)
    marks |= change > ep_threshold
    if class_flips and n > 1:
        winner = ep.argmax(axis=1)
        marks[1:] |= winner[1:] != winner[:-1]
    return np.flatnonzero(marks)
