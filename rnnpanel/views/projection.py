"""The projection view: every state as a point, with the selected sequence's trajectory on top.

Points are coloured through a colour mapper from one numeric column (EP of the positive class,
or the winning / true class index), so the browser gets compact arrays, not 50,000 colour strings.
The trajectory, its start/end rings and the automatic word labels (docs/design.md, Views, 2-3) are overlays.

Speed: every per-selection and hover glyph is drawn at Bokeh's ``overlay`` level, and the other
points are faded by a white veil on that level rather than by changing their opacity. Bokeh then
repaints only the small overlay canvas on a selection or a hover; the layer holding all the points
is repainted only when they themselves change (colouring, fading correct/wrong, zoom). Without a
GPU the browser rasterises 50,000 points in software, which took seconds per selection.

The points are drawn on the 2-D canvas (:data:`OUTPUT_BACKEND`), not with WebGL: in a browser
without GPU acceleration (headless Chromium here, many remote desktops) WebGL is emulated in
software and one repaint of 50,000 points took 1.2 s against 0.29 s on the canvas (a pan step,
benchmarks/RESULTS.md). On a workstation with a GPU, ``"webgl"`` repaints faster still.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import (
    BoxAnnotation,
    BoxSelectTool,
    BoxZoomTool,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    Dodge,
    Ellipse,
    FixedTicker,
    ImageRGBA,
    LabelSet,
    LassoSelectTool,
    LinearColorMapper,
    Patches,
    Range1d,
    Scatter,
    Segment,
    TapTool,
    Text,
)
from bokeh.plotting import figure

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.colors import positive_class, scale_palette
from rnnpanel.views.ghost import GHOST_COLOR
from rnnpanel.views.glyphs import add_glyph
from rnnpanel.views.linking import hover_tool

#: How far the other states fade behind a shown trajectory, by default: the white veil's opacity
#: (a slider in the sidebar sets it). The former 0.85 left so little of the points' colour that the
#: two classes of the demo could no longer be told apart at a glance.
CONTEXT_FADE = 0.5
FADED_ALPHA = 1.0 - CONTEXT_FADE      # what the veil leaves of the other points' contrast
#: Under each trajectory segment, a white halo this many pixels wider and a dark casing CASING_PX
#: wider: the path stays in front of points of its own colour, however little they are faded, and a
#: step of EP near 0.5 (light grey) stays visible on white.
HALO_PX, CASING_PX = 6.0, 1.5
SEARCH_COLOR = "#ff7f00"      # orange rings: apart from the pink/grey/blue scale and the class colours
OVERLAY = "overlay"
OUTPUT_BACKEND = "canvas"


def padded_range(values: np.ndarray, pad: float = 0.04) -> Range1d:
    """A fixed range around ``values``: a DataRange1d would rescan every point on each selection."""
    if len(values) == 0:
        return Range1d(-1.0, 1.0)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    margin = max(high - low, 1e-6) * pad
    return Range1d(low - margin, high + margin)


#: Keeps one data unit as long across as up (a map's distances mean the same in both directions)
#: whatever the window's shape: when the frame is resized or the view reset, the ranges widen
#: about their centre until both axes show the same units per pixel. Fixed ``Range1d`` ranges
#: (see :func:`padded_range`) ignore Bokeh's ``match_aspect``, which works only for data ranges.
EQUAL_ASPECT_JS = """
const w = fig.inner_width, h = fig.inner_height;
if (!(w > 0 && h > 0)) return;
const xr = fig.x_range, yr = fig.y_range;
const cx = (xr.start + xr.end) / 2, cy = (yr.start + yr.end) / 2;
const per_px = Math.max(Math.abs(xr.end - xr.start) / w, Math.abs(yr.end - yr.start) / h);
const hx = per_px * w / 2, hy = per_px * h / 2;
if (Math.abs((xr.end - xr.start) - 2 * hx) > 1e-9 * hx) xr.setv({start: cx - hx, end: cx + hx});
if (Math.abs((yr.end - yr.start) - 2 * hy) > 1e-9 * hy) yr.setv({start: cy - hy, end: cy + hy});
"""


def keep_equal_aspect(fig) -> None:
    """Equal aspect on any window size (:data:`EQUAL_ASPECT_JS`), in the browser."""
    callback = CustomJS(args={"fig": fig}, code=EQUAL_ASPECT_JS)
    fig.js_on_change("inner_width", callback)
    fig.js_on_change("inner_height", callback)
    fig.js_on_event("reset", callback)


def _marker(pixels: float) -> dict:
    """A round marker of ``pixels`` diameter drawn as an ellipse. Bokeh has no WebGL version of
    ellipses, so with ``output_backend="webgl"`` these small overlays stay on the 2-D canvas and a
    hover does not copy the whole WebGL canvas (in software without a GPU) once per overlay glyph."""
    return {"width": pixels, "height": pixels, "width_units": "screen", "height_units": "screen"}


def selection_veil(fade: float = CONTEXT_FADE) -> BoxAnnotation:
    """A white sheet over the whole frame, under the trajectory: shown while a sequence is selected,
    it fades every other point (glyphs or image alike) to ``1 - fade`` of its contrast. Changing
    ``fill_alpha`` repaints only the overlay canvas: no point is sent or recomputed."""
    return BoxAnnotation(fill_color="white", fill_alpha=fade, line_color=None, level=OVERLAY,
                         visible=False, name="selection_veil")


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
                      hover: ColumnDataSource, mapper: LinearColorMapper, color_by: str,
                      raster: ColumnDataSource | None = None, found: ColumnDataSource | None = None,
                      region: ColumnDataSource | None = None, veil: BoxAnnotation | None = None,
                      ranges: tuple[Range1d, Range1d] | None = None):
    """All states with the trajectory overlays: a glyph per state drawn from ``points``, or, given
    a ``raster`` source (large samples, :mod:`rnnpanel.views.raster`), one image drawn from it.
    ``found`` holds the states a word search matched, ringed on the points' level (they change
    with a search, not with every hover). ``region`` holds the outline of the box or lasso drawn
    to select a region; the select tools report their geometry, and the app finds the states.
    ``veil``: the :func:`selection_veil` to draw (an app keeps one across its maps, so that a
    control linked to it in the browser stays linked); a new one by default. ``ranges``: the x and
    y ranges to show (two maps sharing them pan and zoom together); fixed ones around the states by
    default."""
    x_range, y_range = ranges if ranges is not None else (padded_range(sample.xy[:, 0]), padded_range(sample.xy[:, 1]))
    fig = figure(title=f"Projection · {sample.projection} · layer {sample.layer} {sample.state}",
                 tools=["pan", "wheel_zoom", BoxZoomTool(match_aspect=True), "reset", "save"],
                 active_scroll="wheel_zoom",
                 output_backend=OUTPUT_BACKEND, sizing_mode="stretch_both", min_height=420, min_width=440,
                 x_range=x_range, y_range=y_range, name="projection",
                 x_axis_type=None, y_axis_type=None)  # no axes: fewer models, no CSS lookups per paint
    if raster is None:
        scatter = add_glyph(fig, Scatter(x="x", y="y", size=4, line_color=None,
                                         fill_color={"field": "c", "transform": mapper}, fill_alpha={"field": "a"}),
                            points, name="points", nonselection_glyph=None, selection_glyph=None)
        fig.add_tools(TapTool(renderers=[scatter]))
    else:   # clicks are resolved on the server by geometry (the app's tap handler)
        add_glyph(fig, ImageRGBA(image="image", x="x", y="y", dw="dw", dh="dh"), raster, name="points_raster")
    if found is not None:
        add_glyph(fig, Ellipse(x="x", y="y", **_marker(8), fill_color=None, line_color=SEARCH_COLOR, line_width=1.5),
                  found, name="search_marks")
    if region is not None:
        add_glyph(fig, Patches(xs="xs", ys="ys", fill_color="#333333", fill_alpha=0.04, line_color="#333333",
                               line_dash="dashed", line_width=1.5), region, name="region_outline", visible=False)
        # the tools select nothing themselves (the points keep their selection for clicks): the app
        # receives the drawn geometry and finds the states inside
        fig.add_tools(BoxSelectTool(renderers=[]), LassoSelectTool(renderers=[]))
    fig.renderers.append(veil if veil is not None else selection_veil())   # after the points, before the trajectory
    for name, color, alpha, wider in (("trajectory_halo", "white", 0.9, HALO_PX),
                                      ("trajectory_casing", "#333333", 0.6, CASING_PX)):
        add_glyph(fig, Segment(x0="x0", y0="y0", x1="x1", y1="y1", line_color=color, line_alpha=alpha,
                               line_cap="round", line_width={"field": "width", "transform": Dodge(value=wider)}),
                  segments, level=OVERLAY, name=name)
    seg = add_glyph(fig, Segment(x0="x0", y0="y0", x1="x1", y1="y1", line_color="color", line_width="width",
                                 line_alpha=0.95), segments, level=OVERLAY, name="trajectory_segments")
    fig.add_tools(hover_tool(seg, states, hover, step_field="t",
                             tooltips=[("step", "@t → @{t}+1"), ("distance", "@d{0.000}"),
                                       ("EP before", "@ep0"), ("EP after", "@ep1")]))
    dots = add_glyph(fig, Ellipse(x="x", y="y", **_marker(7), fill_color="color", line_color="#333333",
                                  line_width=0.5), states, level=OVERLAY, name="trajectory_states")
    fig.add_tools(hover_tool(dots, states, hover, tooltips=[("word", "@word"), ("t", "@t"),
                                                            ("EP", "@pred @conf{0.00}")]))
    add_glyph(fig, Ellipse(x="x", y="y", **_marker(18), fill_color=None, line_color="white", line_width=7,
                           line_alpha=0.9), ends, level=OVERLAY, name="trajectory_ends_halo")
    add_glyph(fig, Ellipse(x="x", y="y", **_marker(18), fill_color=None, line_color="color", line_width=3.5),
              ends, level=OVERLAY, name="trajectory_ends")
    add_glyph(fig, Ellipse(x="x", y="y", **_marker(18), fill_color="#ffd400", fill_alpha=0.6, line_color="#000000",
                           line_width=2), hover, level=OVERLAY, name="projection_hover")
    fig.add_layout(LabelSet(x="x", y="y", text="word", source=labels, x_offset=6, y_offset=4,
                            text_font_size="11px", text_color="#111111", background_fill_color="white",
                            background_fill_alpha=0.7, level=OVERLAY, name="word_labels"))
    fig.add_layout(color_bar(sample, mapper, color_by), "right")
    fig.toolbar.logo = None
    keep_equal_aspect(fig)
    return fig


def add_ghost_trajectory(fig, *, states: ColumnDataSource, segments: ColumnDataSource, ends: ColumnDataSource,
                         labels: ColumnDataSource) -> None:
    """Draw a ghost's trajectory (:func:`rnnpanel.views.ghost.ghost_map_columns`) in the map ``fig``:
    grey and faint, under the shown trajectory, with its start and end rings, its word labels and
    its name at the end ring. No hover: the ghost is a reference, not a sequence to read."""
    # glyph renderers only (no annotations): added to a page that is up, an annotation's view was
    # looked up before BokehJS had built it
    drawn = [
        add_glyph(fig, Segment(x0="x0", y0="y0", x1="x1", y1="y1", line_color=GHOST_COLOR, line_alpha=0.55,
                               line_cap="round", line_width="width"), segments, level=OVERLAY, name="ghost_segments"),
        add_glyph(fig, Ellipse(x="x", y="y", **_marker(5), fill_color=GHOST_COLOR, fill_alpha=0.5, line_color=None),
                  states, level=OVERLAY, name="ghost_states"),
        add_glyph(fig, Ellipse(x="x", y="y", **_marker(16), fill_color=None, line_color=GHOST_COLOR, line_alpha=0.75,
                               line_width=2.5, line_dash=[3, 2]), ends, level=OVERLAY, name="ghost_ends"),
        add_glyph(fig, Text(x="x", y="y", text="word", x_offset=6, y_offset=10, text_font_size="10px",
                            text_font_style="italic", text_color=GHOST_COLOR, background_fill_color="white",
                            background_fill_alpha=0.5), labels, level=OVERLAY, name="ghost_labels"),
        add_glyph(fig, Text(x="x", y="y", text="text", x_offset=10, y_offset=14, text_font_size="11px",
                            text_font_style="bold italic", text_color="#5a5a5a", background_fill_color="white",
                            background_fill_alpha=0.75), ends, level=OVERLAY, name="ghost_name"),
    ]
    # under the shown trajectory: before its halo in the list of renderers (one level, drawn in order)
    rest = [r for r in fig.renderers if r not in drawn]
    at = next((i for i, r in enumerate(rest) if getattr(r, "name", None) == "trajectory_halo"), len(rest))
    fig.renderers = rest[:at] + drawn + rest[at:]
