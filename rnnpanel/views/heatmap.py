"""The time × class heatmap: one column per word, one row per class, plus the winner of each step."""

from __future__ import annotations

from bokeh.models import ColumnDataSource, Dodge, FixedTicker, Range1d, Rect
from bokeh.plotting import figure

from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool

#: Where a ghost's strip lies in each class row (rows are one unit high around the class's index):
#: its lower part, below the shown sequence's cells.
GHOST_STRIP_OFFSET, GHOST_STRIP_HEIGHT = 0.27, 0.38
TITLE = "Class probability per word (bottom row: winning class)"


def row_pixels(n_classes: int) -> int:
    """Height of one class row: thinner rows for many classes leave room for the text view."""
    return 18 if n_classes <= 4 else 14


def heatmap_figure(cells: ColumnDataSource, states: ColumnDataSource, hover: ColumnDataSource,
                   class_names: tuple[str, ...], x_range: Range1d):
    c = len(class_names)
    fig = figure(title=TITLE, tools="", x_range=x_range,
                 y_range=Range1d(c + 1.0, -0.6), height=70 + row_pixels(c) * (c + 1), width=600,
                 toolbar_location=None, name="heatmap")
    renderer = add_glyph(fig, Rect(x="t", y="row", width=1.0, height=0.95, fill_color="color", fill_alpha="alpha",
                                   line_color=None), cells, name="heatmap_cells")
    add_glyph(fig, Rect(x="t", y=c / 2.0, width=1.0, height=c + 1.6, fill_color=None, line_color="#000000",
                        line_width=2), hover, level="overlay", name="heatmap_hover")
    fig.add_tools(hover_tool(renderer, states, hover, step_field="t",
                             tooltips=[("word", "@word"), ("class", "@cls"), ("probability", "@p{0.00}")]))
    fig.yaxis.ticker = FixedTicker(ticks=list(range(c)) + [c + 0.4])
    fig.yaxis.major_label_overrides = {**{i: n for i, n in enumerate(class_names)}, c + 0.4: "winner"}
    fig.xaxis.axis_label = "word (t)"
    fig.grid.visible = False
    return fig


def add_ghost_cells(fig, cells: ColumnDataSource) -> None:
    """Draw a ghost's cells (:func:`rnnpanel.views.ghost.ghost_heatmap_columns`) as a strip in the
    lower part of each row: white under them, so the shown cell's colour does not show through."""
    geometry = {"x": "x", "y": {"field": "row", "transform": Dodge(value=GHOST_STRIP_OFFSET)}, "width": "w",
                "height": GHOST_STRIP_HEIGHT}
    add_glyph(fig, Rect(**geometry, fill_color="white", line_color="#9a9a9a", line_width=0.5), cells,
              name="ghost_heatmap_base")
    add_glyph(fig, Rect(**geometry, fill_color="color", fill_alpha="alpha", line_color=None), cells,
              name="ghost_heatmap_cells")


def ghost_title(label: str | None) -> str:
    """The heatmap's title, naming the ghost's strips when there is one."""
    return TITLE if label is None else f"Class probability per word · lower strips: the ghost ({label})"
