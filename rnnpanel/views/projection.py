"""The projection view: every state as a point, with the selected sequence's trajectory on top.

Points are coloured through a colour mapper from one numeric column (EP of the positive class,
or the winning / true class index), so the browser gets compact arrays, not 50,000 colour strings.
The trajectory (SPEC §2.2), its start/end rings and the automatic word labels (§2.3) are overlays.
"""

from __future__ import annotations

from bokeh.models import (ColorBar, ColumnDataSource, FixedTicker, LabelSet, LinearColorMapper, TapTool)
from bokeh.plotting import figure

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.colors import positive_class, scale_palette
from rnnpanel.views.linking import hover_tool

FADED_ALPHA = 0.15


def color_mapper(sample: Sample) -> LinearColorMapper:
    palette, low, high = scale_palette(sample.class_names)
    return LinearColorMapper(palette=palette, low=low, high=high)


def color_bar(sample: Sample, mapper: LinearColorMapper, color_by: str) -> ColorBar:
    names = sample.class_names
    if len(names) == 2:
        pos = positive_class(names)
        ticks, labels = [0.0, 0.5, 1.0], {0: names[1 - pos], 0.5: "0.5", 1: names[pos]}
        title = f"P({names[pos]})" if color_by == "ep" else "true class"
    else:
        ticks, labels = list(range(len(names))), {i: n for i, n in enumerate(names)}
        title = "predicted class (EP)" if color_by == "ep" else "true class"
    return ColorBar(color_mapper=mapper, ticker=FixedTicker(ticks=ticks), major_label_overrides=labels,
                    title=title, width=12, name="projection_colorbar")


def projection_figure(sample: Sample, *, points: ColumnDataSource, states: ColumnDataSource,
                      segments: ColumnDataSource, ends: ColumnDataSource, labels: ColumnDataSource,
                      hover: ColumnDataSource, color_by: str):
    """The scatter of all states with trajectory overlays; returns ``(figure, points renderer)``."""
    fig = figure(title=f"Projection · {sample.projection} · layer {sample.layer} {sample.state}",
                 tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom",
                 output_backend="webgl", sizing_mode="stretch_both", min_height=420, min_width=520,
                 name="projection")
    fig.axis.visible = False
    fig.grid.visible = False
    mapper = color_mapper(sample)
    scatter = fig.scatter("x", "y", source=points, size=4, line_color=None,
                          fill_color={"field": "c", "transform": mapper}, fill_alpha={"field": "a"},
                          name="points")
    scatter.nonselection_glyph = None
    scatter.selection_glyph = None
    fig.add_tools(TapTool(renderers=[scatter]))
    seg = fig.segment("x0", "y0", "x1", "y1", source=segments, line_color="color", line_width="width",
                      line_alpha=0.95, name="trajectory_segments")
    fig.add_tools(hover_tool(seg, states, hover, step_field="t",
                             tooltips=[("step", "@t → @{t}+1"), ("distance", "@d{0.000}"),
                                       ("EP before", "@ep0"), ("EP after", "@ep1")]))
    dots = fig.scatter("x", "y", source=states, size=6, fill_color="color", line_color="#333333",
                       line_width=0.5, name="trajectory_states")
    fig.add_tools(hover_tool(dots, states, hover, tooltips=[("word", "@word"), ("t", "@t"),
                                                            ("EP", "@pred @conf{0.00}")]))
    fig.scatter("x", "y", source=ends, size=16, fill_color=None, line_color="color", line_width=3,
                name="trajectory_ends")
    fig.scatter("x", "y", source=hover, size=18, fill_color="#ffd400", fill_alpha=0.6, line_color="#000000",
                line_width=2, name="projection_hover")
    fig.add_layout(LabelSet(x="x", y="y", text="word", source=labels, x_offset=6, y_offset=4,
                            text_font_size="11px", text_color="#111111", background_fill_color="white",
                            background_fill_alpha=0.7, name="word_labels"))
    fig.add_layout(color_bar(sample, mapper, color_by), "right")
    fig.toolbar.logo = None
    return fig, scatter
