"""Column data for the ghost of an edit (docs/design.md, What if, "Ghosts of edits"): the ghost's
trajectory, its heatmap strips and distance bars placed on the shown text's time axis, and the
marks in the text view of what differs from the ghost (pure NumPy, no Bokeh but the text marks'
glyphs).

The ghost's words are aligned with the shown words by a word diff: a word both hold keeps its
column; the ghost's words replaced by others share the new words' columns; words only the ghost
holds (removed) get narrow columns in the gap where they were.
"""

from __future__ import annotations

import difflib

import numpy as np
from bokeh.models import ColumnDataSource, Rect, Title

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.sequence import LINE_HEIGHT, distance_columns, heatmap_columns, text_layout, trajectory_columns

GHOST_COLOR = "#7f7f7f"
CHANGE_COLOR = "#d62728"
#: Room a removed word's column takes in the gap between two shown words (in steps), all of a
#: gap's removed words together.
GAP_WIDTH = 0.5


def word_diff(before: list[str], after: list[str]) -> list[tuple[str, int, int, int, int]]:
    """``difflib`` opcodes turning the ghost's words ``before`` into the shown words ``after``."""
    return difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()


def aligned_steps(before: list[str], after: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Centre and width of each of the ghost's steps on the shown text's time axis (column t is the
    shown step t). With no shown words the ghost keeps its own steps."""
    n = len(before)
    if not after:
        return np.arange(n, dtype=float), np.ones(n)
    x, w = np.zeros(n), np.ones(n)
    for tag, i1, i2, j1, j2 in word_diff(before, after):
        k = np.arange(i2 - i1)
        if tag == "equal":
            x[i1:i2] = j1 + k
        elif tag == "replace":
            share = (j2 - j1) / (i2 - i1)
            x[i1:i2], w[i1:i2] = j1 - 0.5 + (k + 0.5) * share, share
        elif tag == "delete":
            # in the gap before shown word j1 (kept inside the axis at either end)
            centre = min(max(j1 - 0.5, -0.5 + GAP_WIDTH / 2), len(after) - 0.5 - GAP_WIDTH / 2)
            share = GAP_WIDTH / (i2 - i1)
            x[i1:i2], w[i1:i2] = centre - GAP_WIDTH / 2 + (k + 0.5) * share, share
    return x, w


def ghost_map_columns(sample: Sample, s: int, *, label: str, thickness: str, distance_threshold: float,
                      ep_threshold: float, class_flips: bool) -> dict[str, dict]:
    """What the map draws of the ghost (sequence ``s`` of ``sample``): its states, segments, start
    and end rings (the end one named ``label``) and word labels, as the shown trajectory's
    (:func:`~rnnpanel.views.sequence.trajectory_columns`) but only the columns a grey path needs."""
    columns = trajectory_columns(sample, s, color_by="ep", thickness=thickness,
                                 distance_threshold=distance_threshold, ep_threshold=ep_threshold,
                                 class_flips=class_flips, rings=(GHOST_COLOR, GHOST_COLOR))
    states, segments, ends, labels = (columns[k] for k in ("states", "segments", "ends", "labels"))
    return {
        "states": {"x": states["x"], "y": states["y"]},
        "segments": {k: segments[k] for k in ("x0", "y0", "x1", "y1", "width")},
        "ends": {"x": ends["x"], "y": ends["y"], "text": ["", label]},
        "labels": {"x": labels["x"], "y": labels["y"], "word": labels["word"]},
    }


def ghost_heatmap_columns(sample: Sample, s: int, x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray | list]:
    """The ghost's heatmap cells (:func:`~rnnpanel.views.sequence.heatmap_columns`) at its aligned
    steps ``x`` of widths ``w``; the figure draws them as a strip in the lower part of each row."""
    cells = heatmap_columns(sample, s)
    t = np.asarray(cells["t"], dtype=int)
    return {"x": x[t], "w": w[t], "row": cells["row"], "alpha": cells["alpha"], "color": cells["color"],
            "p": cells["p"], "cls": cells["cls"], "word": cells["word"]}


def ghost_distance_columns(sample: Sample, s: int, x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray | list]:
    """The ghost's step-distance bars (:func:`~rnnpanel.views.sequence.distance_columns`) at its
    aligned steps ``x`` of widths ``w``."""
    bars = distance_columns(sample, s)
    t = np.asarray(bars["t"], dtype=int)
    return {"x": x[t], "w": 0.8 * w[t], "d": bars["d"], "word": bars["word"]}


def change_columns(before: list[str], after: list[str]) -> tuple[dict[str, np.ndarray | list], list[str], int]:
    """Marks on the shown text ``after`` of what differs from the ghost's ``before``: an underline
    under each shown word the ghost does not hold there, a bar in each gap whose words only the
    ghost holds; those removed words, and how many shown words are new."""
    wx, wy, ww = text_layout(after)
    xs, ys, widths, heights, removed, new = [], [], [], [], [], 0
    for tag, i1, i2, j1, j2 in word_diff(before, after):
        for j in range(j1, j2) if tag in ("replace", "insert") else ():
            xs.append(wx[j]), ys.append(wy[j] - 0.42 * LINE_HEIGHT), widths.append(ww[j] - 0.6)
            heights.append(0.14 * LINE_HEIGHT)
            new += 1
        if tag in ("replace", "delete"):
            removed.extend(before[i1:i2])
        if tag == "delete" and len(after):
            left = j1 < len(after)       # the gap before word j1, else after the last word
            j = j1 if left else len(after) - 1
            xs.append(wx[j] - ww[j] / 2 if left else wx[j] + ww[j] / 2), ys.append(wy[j])
            widths.append(0.35), heights.append(0.95 * LINE_HEIGHT)
    marks = {"x": np.asarray(xs, dtype=float), "y": np.asarray(ys, dtype=float),
             "w": np.asarray(widths, dtype=float), "h": np.asarray(heights, dtype=float)}
    return marks, removed, new


def change_note(label: str, removed: list[str], n_new: int, *, most: int = 8) -> str:
    """One line naming the ghost, what the underlines mean and the ghost's words the shown text lacks
    (a red bar marks where words were removed). Worded either way round: the ghost may be the text
    before an edit or after one (a flip shown over its original)."""
    if not removed and not n_new:
        return f"Same words as the ghost ({label})"
    parts = [f"Against the ghost ({label})"]
    if n_new:
        parts.append("underlined: not in the ghost")
    if removed:
        listed = ", ".join(removed[:most]) + (f" and {len(removed) - most} more" if len(removed) > most else "")
        parts.append(f"only in the ghost: {listed}")
    return " · ".join(parts)


def change_note_line(fig) -> Title:
    """A line above the text view ``fig`` for the :func:`change_note`, hidden until there is one.
    Added with the figure: an annotation added to a page that is up was looked up by BokehJS before
    it had built its view."""
    note = Title(text="", text_font_size="11px", text_font_style="italic", text_color=CHANGE_COLOR,
                 visible=False, name="text_change_note")
    fig.add_layout(note, "above")
    return note


def add_change_marks(fig, marks: ColumnDataSource) -> None:
    """Draw ``marks`` (:func:`change_columns`) over the text view ``fig``."""
    add_glyph(fig, Rect(x="x", y="y", width="w", height="h", fill_color=CHANGE_COLOR, line_color=None),
              marks, name="text_changes")
