"""The input text view: the selected sequence's words, each on the EP colour reached after reading it
(or on its importance: :mod:`rnnpanel.views.importance` draws those boxes over these).

Words are drawn as canvas text glyphs, never as HTML, so a corpus line with ``<script>`` or
``&amp;`` shows literally and runs nothing.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, Range1d, Rect, Text
from bokeh.plotting import figure

from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool
from rnnpanel.views.sequence import LINE_HEIGHT, TEXT_WIDTH_CHARS

LINE_PIXELS = 22
#: Width of the text view; with 11 px text a character takes about 7 px, so a line holds
#: :data:`TEXT_WIDTH_CHARS` characters without words overlapping.
TEXT_PIXELS = 600


def text_height(n_lines: int) -> int:
    """Pixels of a text view showing ``n_lines`` lines (title and padding included)."""
    return 50 + LINE_PIXELS * n_lines


def text_title(background: str = "EP after each word", *, scrollable: bool = False) -> str:
    """The text view's title: what the words' backgrounds show (EP, or word importance)."""
    return f"Input text (background: {background})" + (" · wheel scrolls long texts" if scrollable else "")


def text_figure(states: ColumnDataSource, hover: ColumnDataSource, n_lines: int, *, scrollable: bool = False):
    """The text view, ``n_lines`` high; ``scrollable`` lets the mouse wheel scroll longer texts."""
    title = text_title(scrollable=scrollable)
    fig = figure(title=title, tools="ywheel_pan" if scrollable else "",
                 toolbar_location=None, active_scroll="ywheel_pan" if scrollable else None,
                 x_range=Range1d(-0.5, TEXT_WIDTH_CHARS + 0.5),
                 y_range=Range1d(-(n_lines - 0.5) * LINE_HEIGHT, 0.5 * LINE_HEIGHT),
                 height=text_height(n_lines), width=TEXT_PIXELS, name="text_view",
                 x_axis_type=None, y_axis_type=None)  # no axes: fewer models, no CSS lookups per paint
    fig.outline_line_color = None
    boxes = add_glyph(fig, Rect(x="wx", y="wy", width="ww", height=LINE_HEIGHT * 0.85, fill_color="color",
                                fill_alpha=0.75, line_color=None), states, name="text_words")
    add_glyph(fig, Text(x="wx", y="wy", text="word", text_align="center", text_baseline="middle",
                        text_font_size="11px", text_color="#111111"), states, name="text_glyphs")
    add_glyph(fig, Rect(x="wx", y="wy", width="ww", height=LINE_HEIGHT * 0.95, fill_color=None, line_color="#000000",
                        line_width=2), hover, level="overlay", name="text_hover")
    # No tooltip: the word is on screen and its probabilities show in the linked heatmap column;
    # a tooltip costs a DOM popover per hovered word, several frames in a browser without a GPU.
    fig.add_tools(hover_tool(boxes, states, hover))
    return fig
