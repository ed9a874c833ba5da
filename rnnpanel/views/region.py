"""Region selection (docs/design.md, Tools beyond the paper): the states inside a box or lasso drawn on the map,
and the words most over-represented among them. Pure NumPy on the map's coordinates, so a box
works the same on glyphs and on the rasterised image (selection by geometry, not by glyph)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnpanel.pipeline.word_index import WordIndex


def region_outline(geometry: dict) -> tuple[list[float], list[float]] | None:
    """The polygon a Bokeh selection geometry (``rect`` or ``poly``) describes, or None."""
    if geometry.get("type") == "rect":
        x0, x1, y0, y1 = (float(geometry[k]) for k in ("x0", "x1", "y0", "y1"))
        return [x0, x1, x1, x0], [y0, y0, y1, y1]
    if geometry.get("type") == "poly" and len(geometry.get("x", [])) >= 3:
        return [float(v) for v in geometry["x"]], [float(v) for v in geometry["y"]]
    return None


def states_in_rect(xy: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """``(N,)`` bool: the states inside the box (corners in any order)."""
    (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


def states_in_polygon(xy: np.ndarray, xs, ys) -> np.ndarray:
    """``(N,)`` bool: the states inside the closed polygon (even-odd rule), e.g. a lasso."""
    px, py = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if len(px) < 3:
        return np.zeros(len(xy), dtype=bool)
    inside = states_in_rect(xy, px.min(), px.max(), py.min(), py.max())
    candidates = np.flatnonzero(inside)
    x, y = xy[candidates, 0].astype(np.float64), xy[candidates, 1].astype(np.float64)
    odd = np.zeros(len(candidates), dtype=bool)
    for (ax, ay), (bx, by) in zip(zip(px, py), zip(np.roll(px, -1), np.roll(py, -1))):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = ax + (y - ay) * (bx - ax) / (by - ay)
        odd ^= crosses & (x < at)
    inside[:] = False
    inside[candidates[odd]] = True
    return inside


def overrepresented_words(words: np.ndarray | WordIndex, mask: np.ndarray, *, top: int = 15,
                          min_count: int = 2) -> pd.DataFrame:
    """The words whose share among the selected states most exceeds their share among all states:
    word, count inside, count overall, and the ratio of shares (add-one smoothed). With the
    sample's shared :class:`WordIndex` this is one ``bincount`` of the selected states."""
    columns = ["word", "in region", "overall", "ratio"]
    if not mask.any():
        return pd.DataFrame(columns=columns)
    index = words if isinstance(words, WordIndex) else WordIndex.build(words)
    vocab, overall = index.vocab, index.counts
    inside = index.counts_in(mask)
    n_words, n_inside = len(vocab), int(np.count_nonzero(mask))
    ratio = ((inside + 1) / (n_inside + n_words)) / ((overall + 1) / (len(index.codes) + n_words))
    keep = np.flatnonzero(inside >= min_count)
    order = keep[np.lexsort((vocab[keep], -inside[keep], -ratio[keep]))][:top]
    return pd.DataFrame({"word": vocab[order], "in region": inside[order], "overall": overall[order],
                         "ratio": np.round(ratio[order], 2)})
