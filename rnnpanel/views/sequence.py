"""Column data for the per-sequence views, computed from a :class:`Sample` (pure NumPy, no Bokeh).

Every per-sequence view indexes its glyphs by the time step ``t``, so a hovered ``t`` can be
highlighted everywhere by the same few lines of browser code.
"""

from __future__ import annotations

import numpy as np

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.colors import class_colors, ep_colors, ep_scalar, label_scalar, time_colors
from rnnpanel.views.labels import label_strength, labelled_steps, spread_labels

TEXT_WIDTH_CHARS = 80        # characters per line in the text view
CHAR_WIDTH = 1.0             # text view units per character
LINE_HEIGHT = 1.6
THICKNESS = {"constant": (3.0, 3.0), "time": (1.0, 7.0), "distance": (1.0, 9.0)}
POINT_ALPHA = 0.6            # opacity of a state in the projection
FADED_POINT_ALPHA = 0.06     # ... of a state whose sequence is faded (correct / wrong ones)


def empty_like(data: dict) -> dict:
    return {k: [] for k in data}


def state_columns(sample: Sample, s: int) -> dict[str, np.ndarray | list]:
    """One row per state of sequence ``s``: position, word, EP, colour and text layout."""
    sl = sample.sequence_slice(s)
    ep = sample.ep[sl]
    words = [str(w) for w in sample.words[sl]]
    wx, wy, ww = text_layout(words)
    n = len(words)
    return {
        "x": sample.xy[sl, 0], "y": sample.xy[sl, 1], "t": np.arange(n), "word": words,
        "ep": ep_scalar(ep, sample.class_names), "pred": [sample.class_names[i] for i in ep.argmax(1)],
        "conf": ep.max(axis=1), "color": ep_colors(ep, sample.class_names),
        "d": np.nan_to_num(sample.step_distance[sl], nan=0.0), "wx": wx, "wy": wy, "ww": ww,
    }


def text_layout(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre x, line y and width of each word, wrapped at :data:`TEXT_WIDTH_CHARS`."""
    xs, ys, widths = [], [], []
    x, line = 0.0, 0
    for word in words:
        width = (len(word) + 1) * CHAR_WIDTH
        if x > 0 and x + width > TEXT_WIDTH_CHARS:
            x, line = 0.0, line + 1
        xs.append(x + width / 2)
        ys.append(-line * LINE_HEIGHT)
        widths.append(width)
        x += width
    return np.asarray(xs), np.asarray(ys, dtype=float), np.asarray(widths)


def segment_columns(sample: Sample, s: int, *, color_by: str, thickness: str) -> dict[str, np.ndarray | list]:
    """One row per step t → t+1: endpoints, colour, width, distance and EP at both ends."""
    sl = sample.sequence_slice(s)
    xy, ep = sample.xy[sl], sample.ep[sl]
    n = len(xy)
    if n < 2:
        return {k: [] for k in ("x0", "y0", "x1", "y1", "color", "width", "d", "ep0", "ep1", "t")}
    d = np.nan_to_num(sample.step_distance[sl][:-1], nan=0.0)
    colors = ep_colors(ep[1:], sample.class_names) if color_by == "ep" else time_colors(n - 1)
    low, high = THICKNESS.get(thickness, THICKNESS["constant"])
    if thickness == "time":
        width = np.linspace(low, high, n - 1)
    elif thickness == "distance":
        width = low + (high - low) * np.clip(d, 0.0, 1.0)
    else:
        width = np.full(n - 1, low)
    probs = ep.max(axis=1)
    names = sample.class_names
    winner = ep.argmax(axis=1)
    return {
        "x0": xy[:-1, 0], "y0": xy[:-1, 1], "x1": xy[1:, 0], "y1": xy[1:, 1], "color": colors,
        "width": width, "d": d, "t": np.arange(n - 1),
        "ep0": [f"{names[c]} {p:.2f}" for c, p in zip(winner[:-1], probs[:-1])],
        "ep1": [f"{names[c]} {p:.2f}" for c, p in zip(winner[1:], probs[1:])],
    }


def label_columns(sample: Sample, s: int, *, distance_threshold: float, ep_threshold: float,
                  class_flips: bool) -> dict[str, np.ndarray | list]:
    sl = sample.sequence_slice(s)
    distance, ep, xy = sample.step_distance[sl], sample.ep[sl], sample.xy[sl]
    steps = labelled_steps(distance, ep, distance_threshold=distance_threshold, ep_threshold=ep_threshold,
                           class_flips=class_flips)
    steps = spread_labels(xy, steps, label_strength(distance, ep), sample.words[sl], sample.xy_span)
    return {"x": sample.xy[sl, 0][steps], "y": sample.xy[sl, 1][steps],
            "word": [str(w) for w in sample.words[sl][steps]], "t": steps}


def heatmap_columns(sample: Sample, s: int) -> dict[str, np.ndarray | list]:
    """C × T probability cells (white → class colour) plus a summary row of the winner per step."""
    sl = sample.sequence_slice(s)
    ep = sample.ep[sl]
    n, c = ep.shape
    colors = class_colors(sample.class_names)
    t = np.tile(np.arange(n), c)
    row = np.repeat(np.arange(c), n)
    winner = ep.argmax(axis=1)
    words = [str(w) for w in sample.words[sl]]
    return {
        "t": np.concatenate([t, np.arange(n)]),
        "row": np.concatenate([row.astype(float), np.full(n, float(c) + 0.4)]),
        "alpha": np.concatenate([ep.T.reshape(-1), np.ones(n)]),
        "color": [colors[r] for r in row] + [colors[w] for w in winner],
        "cls": [sample.class_names[r] for r in row] + [f"winner: {sample.class_names[w]}" for w in winner],
        "p": np.concatenate([ep.T.reshape(-1), ep.max(axis=1)]),
        "word": words * c + words,
    }


def distance_columns(sample: Sample, s: int) -> dict[str, np.ndarray | list]:
    """One bar per step t − 1 → t (T − 1 bars), drawn under word t (the word that caused the move)
    and coloured by the EP after reading it."""
    sl = sample.sequence_slice(s)
    n = sl.stop - sl.start
    if n < 2:
        return {"t": [], "d": [], "color": [], "word": []}
    ep = sample.ep[sl]
    words = [str(w) for w in sample.words[sl]]
    return {"t": np.arange(1, n), "d": np.nan_to_num(sample.step_distance[sl][:-1], nan=0.0),
            "color": ep_colors(ep[1:], sample.class_names),
            "word": [f"{a} → {b}" for a, b in zip(words[:-1], words[1:])]}


def point_columns(sample: Sample, *, color_by: str, fade: str) -> dict[str, np.ndarray]:
    """All states: position, colour value and opacity (compact numeric columns; the server maps a
    clicked point to its sequence, so the browser needs no sequence column)."""
    seq = sample.sequence_of_state
    if color_by == "true_class":
        c = label_scalar(sample.labels, sample.class_names)[seq]
    else:
        c = ep_scalar(sample.ep, sample.class_names)
    correct = (sample.labels == sample.predictions)[seq]
    alpha = np.full(sample.n_states, POINT_ALPHA, dtype=np.float32)
    if fade == "correct":
        alpha[correct] = FADED_POINT_ALPHA
    elif fade == "wrong":
        alpha[~correct] = FADED_POINT_ALPHA
    return {"x": sample.xy[:, 0], "y": sample.xy[:, 1], "c": c, "a": alpha}


def trajectory_columns(sample: Sample, s: int, *, color_by: str, thickness: str, distance_threshold: float,
                       ep_threshold: float, class_flips: bool, rings: tuple[str, str]) -> dict[str, dict]:
    """Everything a map draws for sequence ``s``: its states, the segments between them, the start and
    end rings (``rings``: their two colours) and the word labels, keyed by source."""
    states = state_columns(sample, s)
    return {
        "states": states,
        "segments": segment_columns(sample, s, color_by=color_by, thickness=thickness),
        "ends": {"x": [states["x"][0], states["x"][-1]], "y": [states["y"][0], states["y"][-1]],
                 "color": list(rings)},
        "labels": label_columns(sample, s, distance_threshold=distance_threshold, ep_threshold=ep_threshold,
                                class_flips=class_flips),
    }

