"""The paper's colour encodings, shared by every view so a class or an EP value looks the same everywhere."""

from __future__ import annotations

import functools

import numpy as np

PINK, GREY, BLUE = "#bd0061", "#c9c9c9", "#0475b5"
#: Categorical colours for multi-class tasks (Tableau 10, then 10 lighter ones, then a cycle).
CATEGORICAL = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
#: Class names read as the "positive" end of a binary task: they get the blue end of the scale.
POSITIVE_NAMES = frozenset({"fresh", "positive", "pos", "1", "true", "yes", "good"})


def _hex_to_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def _rgb_to_hex(rgb: np.ndarray) -> list[str]:
    rgb = np.clip(np.rint(rgb), 0, 255).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]


def diverging_palette(n: int = 256) -> list[str]:
    """Pink → grey (at the middle) → blue, linear in RGB, as in the paper."""
    return list(_diverging_palette(n))


@functools.lru_cache(maxsize=8)
def _diverging_palette(n: int) -> tuple[str, ...]:
    """Made once per size: every selection colours its sequence with it (2 ms each time otherwise)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    pink, grey, blue = (_hex_to_rgb(c) for c in (PINK, GREY, BLUE))
    rgb = np.where(t < 0.5, pink + (grey - pink) * (t / 0.5), grey + (blue - grey) * ((t - 0.5) / 0.5))
    return tuple(_rgb_to_hex(rgb))


def unit_palette(n: int = 255) -> list[str]:
    """Pink (negative) → white (0) → blue (positive), for signed unit activations."""
    s = np.linspace(-1.0, 1.0, n)[:, None]
    white = np.array([255.0, 255.0, 255.0])
    rgb = np.where(s < 0, white + (_hex_to_rgb(PINK) - white) * -s, white + (_hex_to_rgb(BLUE) - white) * s)
    return _rgb_to_hex(rgb)


def positive_class(class_names: tuple[str, ...]) -> int:
    """Which class of a binary task sits at the blue end (class 1 unless class 0 reads as positive)."""
    return 0 if class_names[0].lower() in POSITIVE_NAMES and class_names[1].lower() not in POSITIVE_NAMES else 1


def class_colors(class_names: tuple[str, ...]) -> list[str]:
    """One colour per class: pink/blue for binary tasks, categorical otherwise."""
    if len(class_names) == 2:
        pos = positive_class(class_names)
        return [BLUE if i == pos else PINK for i in range(2)]
    return [CATEGORICAL[i % len(CATEGORICAL)] for i in range(len(class_names))]


def ep_scalar(ep: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """The value a colour scale encodes for each state.

    Binary: the probability of the positive class (0 = pink … 1 = blue). Multi-class: the index
    of the winning class, which :func:`class_colors` turns into its categorical colour.
    """
    if len(class_names) == 2:
        return ep[:, positive_class(class_names)].astype(np.float32)
    return ep.argmax(axis=1).astype(np.float32)


def label_scalar(labels: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """The same scale's value for a true class (binary: 0 or 1 at the class's end)."""
    if len(class_names) == 2:
        return (labels == positive_class(class_names)).astype(np.float32)
    return labels.astype(np.float32)


def scale_palette(class_names: tuple[str, ...]) -> tuple[list[str], float, float]:
    """Palette and range of a LinearColorMapper that maps :func:`ep_scalar` values to colours."""
    if len(class_names) == 2:
        return diverging_palette(), 0.0, 1.0
    n = len(class_names)
    return class_colors(class_names), -0.5, n - 0.5


def ep_colors(ep: np.ndarray, class_names: tuple[str, ...]) -> list[str]:
    """Hex colour of each EP row (for the small per-sequence views)."""
    palette, low, high = scale_palette(class_names)
    value = ep_scalar(ep, class_names)
    idx = np.clip(((value - low) / (high - low) * len(palette)).astype(int), 0, len(palette) - 1)
    return [palette[i] for i in idx]


def time_colors(n: int) -> list[str]:
    """Light to dark grey-blue along a sequence, for colouring a trajectory by time."""
    start, end = _hex_to_rgb("#c6dbef"), _hex_to_rgb("#08306b")
    t = np.linspace(0.0, 1.0, max(n, 1))[:, None]
    return _rgb_to_hex(start + (end - start) * t)
