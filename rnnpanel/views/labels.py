"""Automatic word labels: the steps of a sequence worth naming on its trajectory (docs/design.md, Views, 3)."""

from __future__ import annotations

import numpy as np

DEFAULT_DISTANCE_THRESHOLD = 0.40
DEFAULT_EP_THRESHOLD = 0.30
#: How labels are sized on the map: an 11 px font (about 6.5 px a character plus padding) and a
#: map frame of about :data:`MAP_PIXELS` across its larger extent (it keeps equal aspect).
CHAR_PIXELS, LABEL_PADDING, LABEL_HEIGHT, MAP_PIXELS = 6.5, 8.0, 15.0, 400.0


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


def spread_labels(xy: np.ndarray, steps: np.ndarray, strength: np.ndarray, words: np.ndarray,
                  span: tuple[float, float]) -> np.ndarray:
    """The ``steps`` (sorted) whose labels do not pile up: where a trajectory folds back on itself
    the labels at about the same place would overlap, so, strongest first, a label is kept only if
    its box (``words[t]`` at the font's size, on a map whose larger extent ``span`` is about
    :data:`MAP_PIXELS` across) overlaps no kept one."""
    if len(steps) < 2:
        return steps
    unit = max(max(span), 1e-12) / MAP_PIXELS                     # data units per pixel
    width = {int(t): (CHAR_PIXELS * len(str(words[t])) + LABEL_PADDING) * unit for t in steps}
    height = LABEL_HEIGHT * unit
    kept: list[int] = []
    for t in (int(t) for t in steps[np.argsort(-strength[steps], kind="stable")]):
        x, y = xy[t]
        # labels start right of their point: a box is [x, x + width] × [y, y + height]
        if all(abs(y - xy[u, 1]) >= height or not (x - width[t] < xy[u, 0] < x + width[u]) for u in kept):
            kept.append(t)
    return np.sort(np.asarray(kept, dtype=np.int64))
