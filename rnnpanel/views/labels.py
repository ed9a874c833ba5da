"""Automatic word labels: the steps of a sequence worth naming on its trajectory (SPEC §2.3)."""

from __future__ import annotations

import numpy as np

DEFAULT_DISTANCE_THRESHOLD = 0.40
DEFAULT_EP_THRESHOLD = 0.30
#: Two labels closer than this share of the map's width and height would overlap (an 11 px word
#: on a map about 500 px wide): of such a pair only the more telling one is kept.
LABEL_GAP = (0.08, 0.035)


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


def label_strength(step_distance: np.ndarray, ep: np.ndarray) -> np.ndarray:
    """``(T,)`` how telling each word is: the step into its state plus its EP change."""
    incoming = np.nan_to_num(np.concatenate([[0.0], step_distance[:-1]]), nan=0.0) if len(ep) else np.zeros(0)
    change = np.concatenate([[0.0], np.abs(np.diff(ep, axis=0)).max(axis=1)]) if len(ep) > 1 else np.zeros(len(ep))
    return incoming + change


def spread_labels(xy: np.ndarray, steps: np.ndarray, strength: np.ndarray, span: tuple[float, float],
                  gap: tuple[float, float] = LABEL_GAP) -> np.ndarray:
    """The ``steps`` (sorted) whose labels do not pile up: where a trajectory folds back on itself
    the labels at about the same place would overlap, so, strongest first, a label is kept only if
    no kept one lies within ``gap`` (shares of the map's ``span``, width and height)."""
    if len(steps) < 2:
        return steps
    gx, gy = gap[0] * max(span[0], 1e-12), gap[1] * max(span[1], 1e-12)
    kept: list[int] = []
    for t in steps[np.argsort(-strength[steps], kind="stable")]:
        x, y = xy[t]
        if all(abs(x - xy[u, 0]) >= gx or abs(y - xy[u, 1]) >= gy for u in kept):
            kept.append(int(t))
    return np.sort(np.asarray(kept, dtype=np.int64))
