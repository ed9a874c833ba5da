"""Step distances: one bar per word, the length of the hidden-state step it caused, with the label threshold."""

from __future__ import annotations

from bokeh.models import ColumnDataSource, Range1d, Span, VBar
from bokeh.plotting import figure

from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool

TITLE = "Step distance ‖h(t) − h(t−1)‖ (normalised)"


def distance_figure(bars: ColumnDataSource, states: ColumnDataSource, hover: ColumnDataSource,
                    x_range: Range1d, threshold: float):
    fig = figure(title=TITLE, tools="", x_range=x_range,
                 y_range=Range1d(0, 1.05), height=150, width=600, toolbar_location=None,
                 name="distances")
    bar = add_glyph(fig, VBar(x="t", top="d", width=0.8, fill_color="color", line_color=None), bars,
                    name="distance_bars")
    add_glyph(fig, VBar(x="t", top=1.05, width=0.95, fill_color=None, line_color="#000000", line_width=2), hover,
              level="overlay", name="distance_hover")
    span = Span(location=threshold, dimension="width", line_color="#444444", line_dash="dashed",
                line_width=1.5, name="distance_threshold")
    fig.add_layout(span)
    fig.add_tools(hover_tool(bar, states, hover, step_field="t",
                             tooltips=[("step", "@word"), ("distance", "@d{0.000}")]))
    fig.xaxis.axis_label = "word (t)"
    fig.xgrid.visible = False
    return fig, span


def add_ghost_bars(fig, bars: ColumnDataSource) -> None:
    """Draw a ghost's bars (:func:`rnnpanel.views.ghost.ghost_distance_columns`) as grey outlines
    over the shown sequence's bars, so either may be the taller."""
    add_glyph(fig, VBar(x="x", top="d", width="w", fill_color="#7f7f7f",
                        fill_alpha=0.12, line_color="#4d4d4d", line_width=1.2, line_dash=[4, 2]), bars,
              name="ghost_distance_bars")


def ghost_title(label: str | None) -> str:
    """The bars' title, naming the ghost's outlines when there is one."""
    return TITLE if label is None else f"Step distance (normalised) · dashed outlines: the ghost ({label})"
