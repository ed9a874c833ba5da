"""Client-side hover linking: one shared source holds the hovered step, every view draws it.

Hovering a state, a word, a heatmap column or a distance bar runs a few lines of JavaScript in
the browser that copy step ``t`` of the selected sequence into the shared ``hover`` source; each
view draws its highlight from that source, so linking costs no server round trip.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, CustomJS, HoverTool

HOVER_FIELDS = ("x", "y", "t", "wx", "wy", "ww")

_CODE = """
const idx = cb_data.index.indices;
const s = states.data;
let t = null;
if (idx.length > 0) { t = %s; }
if (t === null || t < 0 || t >= s.t.length) {
    if (hover.data.t.length > 0) { hover.data = {x: [], y: [], t: [], wx: [], wy: [], ww: []}; }
    return;
}
if (hover.data.t.length > 0 && hover.data.t[0] === t) { return; }
hover.data = {x: [s.x[t]], y: [s.y[t]], t: [t], wx: [s.wx[t]], wy: [s.wy[t]], ww: [s.ww[t]]};
"""


def empty_hover_source() -> ColumnDataSource:
    return ColumnDataSource({k: [] for k in HOVER_FIELDS}, name="hover_state")


def hover_tool(renderer, states: ColumnDataSource, hover: ColumnDataSource, *, step_field: str | None = None,
               tooltips=None) -> HoverTool:
    """A hover tool on ``renderer`` that publishes the hovered step.

    ``step_field`` names the column of the renderer's source holding ``t``; without it the
    glyph's row index is ``t`` (the per-state sources).
    """
    source = renderer.data_source
    expr = "idx[0]" if step_field is None else f"Math.round(src.data['{step_field}'][idx[0]])"
    callback = CustomJS(args={"states": states, "hover": hover, "src": source}, code=_CODE % expr)
    return HoverTool(renderers=[renderer], callback=callback, tooltips=tooltips)
