"""Word importance of the shown sequence (docs/design.md, What if): one bar per word on the step axis
of the heatmap and the step distances, words of the text view coloured by it, and the words a flip
removed struck through in the text view.

The sign is about the class the model predicts for the whole text: above zero the word supports
it. Colours say which way a word pushes: towards the predicted class in that class's colour, away
from it in the other class's colour (binary) or in grey (several classes, where "away" names no
one class). Pure column data and figures; the numbers come from
:func:`rnnpanel.pipeline.importance.word_importance`.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, Label, Range1d, Rect, Segment, Span, VBar
from bokeh.plotting import figure

from rnnpanel.pipeline.importance import Flip, WordImportance
from rnnpanel.views.colors import _hex_to_rgb, _rgb_to_hex, class_colors
from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool
from rnnpanel.views.sequence import LINE_HEIGHT, text_layout

#: The kinds of importance a user picks from (label → field of :class:`WordImportance`).
KINDS = {"removal": "removal", "gradient × input": "gradient_x_input"}
#: What each kind measures, for the figure's title.
MEANING = {"removal": "Removal: P(predicted class) − the same without the word",
           "gradient_x_input": "Gradient × input: ∂P(predicted class)/∂embedding · embedding"}
AGAINST_MANY = "#7f7f7f"      # away from the prediction when there are several other classes
NEUTRAL = "#ffffff"           # no effect: a word on the text view's own background
UNREAD = "#dddddd"            # no value (a one-word text has no removal)
#: How far the strongest word's box goes from white to its end colour: dark text stays readable on it
#: (the EP boxes are drawn at the same opacity).
STRONGEST = 0.75
FIGURE_HEIGHT = 110
COMPUTING = "computing…"


def importance_values(importance: WordImportance, kind: str) -> np.ndarray:
    """The ``kind`` (a value of :data:`KINDS`) of every word, float64 (NaN where there is none)."""
    if kind not in MEANING:
        raise ValueError(f"importance kind must be one of {sorted(MEANING)}, got {kind!r}")
    return np.asarray(getattr(importance, kind), dtype=np.float64)


def end_colors(class_names: tuple[str, ...], predicted: int) -> tuple[str, str]:
    """The colours of "away from" and "towards" the predicted class."""
    colors = class_colors(class_names)
    against = colors[1 - predicted] if len(class_names) == 2 else AGAINST_MANY
    return against, colors[predicted]


def importance_colors(values: np.ndarray, class_names: tuple[str, ...], predicted: int) -> list[str]:
    """One colour per value on a diverging scale: white at 0, the end colours (:func:`end_colors`,
    :data:`STRONGEST` of the way) at the sequence's largest magnitude; :data:`UNREAD` where a value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    against, towards = (_hex_to_rgb(c) for c in end_colors(class_names, predicted))
    scale = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
    share = STRONGEST * np.clip(np.nan_to_num(values / scale if scale > 0 else values * 0.0), -1.0, 1.0)[:, None]
    white = _hex_to_rgb(NEUTRAL)
    rgb = np.where(share >= 0, white + (towards - white) * share, white + (against - white) * -share)
    out = _rgb_to_hex(rgb)
    return [UNREAD if np.isnan(v) else c for v, c in zip(values, out)]


def bar_columns(importance: WordImportance, kind: str) -> dict[str, np.ndarray | list]:
    """One bar per word ``t``: its value ``v`` (0 where there is none), colour and word."""
    values = importance_values(importance, kind)
    against, towards = end_colors(importance.class_names, importance.predicted)
    return {"t": np.arange(values.size), "v": np.nan_to_num(values, nan=0.0),
            "color": [UNREAD if np.isnan(v) else towards if v >= 0 else against for v in values],
            "word": list(importance.words)}


def word_color_columns(importance: WordImportance, kind: str) -> dict[str, np.ndarray | list]:
    """The text view's word boxes (same layout as its words) coloured by ``kind``."""
    wx, wy, ww = text_layout(list(importance.words))
    values = importance_values(importance, kind)
    return {"wx": wx, "wy": wy, "ww": ww,
            "color": importance_colors(values, importance.class_names, importance.predicted)}


def removed_columns(flip: Flip) -> dict[str, np.ndarray | list]:
    """A stroke through each word the flip removed, in the text view's layout."""
    wx, wy, ww = text_layout(list(flip.words))
    rows = np.asarray(sorted(flip.removed), dtype=np.int64)
    half = (ww[rows] - 1.0) / 2 if rows.size else np.zeros(0)
    return {"x0": wx[rows] - half, "x1": wx[rows] + half, "y": wy[rows]}


def importance_title(kind: str) -> str:
    """The figure's title for ``kind``. It names no class, so that it changes only when the user
    picks another kind: a title's new text makes the browser lay the figure out again, which a
    selection must not wait for (the header names the predicted class)."""
    return f"{MEANING[kind]} (> 0: supports it)"


def value_range(values: np.ndarray) -> tuple[float, float]:
    """A y range symmetric about 0 holding every value (±1 when there is none)."""
    values = np.asarray(values, dtype=np.float64)
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    top = top * 1.1 if top > 0 else 1.0
    return -top, top


def importance_figure(bars: ColumnDataSource, states: ColumnDataSource, hover: ColumnDataSource,
                      x_range: Range1d, y_range: Range1d):
    """The bars, on the step axis ``x_range`` shared with the heatmap and the step distances; a
    hovered bar highlights its word and state in every view (:mod:`rnnpanel.views.linking`)."""
    fig = figure(title=importance_title("removal"), tools="", x_range=x_range, y_range=y_range,
                 height=FIGURE_HEIGHT, width=600, toolbar_location=None, name="importance")
    bar = add_glyph(fig, VBar(x="t", top="v", width=0.8, fill_color="color", line_color=None), bars,
                    name="importance_bars")
    add_glyph(fig, Rect(x="t", y=0, width=0.95, height=1e6, fill_color=None, line_color="#000000", line_width=2),
              hover, level="overlay", name="importance_hover")
    fig.add_layout(Span(location=0, dimension="width", line_color="#444444", line_width=1))
    fig.add_tools(hover_tool(bar, states, hover, step_field="t",
                             tooltips=[("word", "@word"), ("importance", "@v{+0.0000}")]))
    # "computing…" drawn in the plot (a canvas annotation: showing it lays nothing out again)
    fig.add_layout(Label(x=8, y=8, x_units="screen", y_units="screen", text=COMPUTING, visible=False,
                         text_font_size="11px", text_color="#666666", name="importance_busy"))
    fig.xgrid.visible = False
    fig.yaxis.ticker.desired_num_ticks = 3
    fig.title.text_font_size = "12px"
    return fig


def add_word_overlays(text_fig, word_colors: ColumnDataSource, removed: ColumnDataSource) -> None:
    """On the text view ``text_fig``: word boxes coloured by importance over its EP boxes (empty
    while words are coloured by EP), and a stroke through each removed word above the words."""
    words = next(i for i, r in enumerate(text_fig.renderers) if r.name == "text_glyphs")
    add_glyph(text_fig, Rect(x="wx", y="wy", width="ww", height=LINE_HEIGHT * 0.85, fill_color="color",
                             line_color=None), word_colors, name="text_importance")
    text_fig.renderers.insert(words, text_fig.renderers.pop())      # under the words, over the EP boxes
    add_glyph(text_fig, Segment(x0="x0", y0="y", x1="x1", y1="y", line_color="#a12622", line_width=2.5),
              removed, level="overlay", name="text_removed")
