"""Export (docs/design.md, Tools beyond the paper): the shown sequence, or every state of the map (or those a
search matched), with coordinates, as a table to download; the map as a standalone HTML page
(glyphs with hover: word, sequence, step) to send to a colleague; and the map or the sequence
views as SVG for a paper, made in the user's browser from the plots as drawn (:func:`svg_download_js`).

Words are written as data (CSV quoting, Parquet strings), never as markup; probabilities get one
column per class, named ``P(class)``.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.svg import SVG_JS

FORMATS = ("csv", "parquet")


def _probabilities(sample: Sample, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
    ep = sample.ep[rows]
    return {f"P({name})": ep[:, k].astype(float) for k, name in enumerate(sample.class_names)}


def states_table(sample: Sample, rows: np.ndarray | None = None) -> pd.DataFrame:
    """One row per state (all, or the states of the boolean mask ``rows``): its sequence, step,
    word, map position, step distance to the next state, the class it predicts and EP."""
    index = np.arange(sample.n_states) if rows is None else np.flatnonzero(rows)
    names = np.asarray(sample.class_names, dtype=object)
    seq = sample.sequence_of_state[index]
    return pd.DataFrame({
        "sequence": sample.sequence_ids[seq].astype(int),
        "t": sample.step_of_state[index].astype(int),
        "word": [str(w) for w in sample.words[index]],
        "x": sample.xy[index, 0].astype(float),
        "y": sample.xy[index, 1].astype(float),
        "step_distance": sample.step_distance[index].astype(float),
        "true": names[sample.labels[seq]],
        "predicted_here": names[sample.ep[index].argmax(axis=1)],
        **_probabilities(sample, index),
    })


def sequence_table(sample: Sample, s: int) -> pd.DataFrame:
    """The states of sequence ``s`` in time order (see :func:`states_table`)."""
    rows = np.zeros(sample.n_states, dtype=bool)
    rows[sample.sequence_slice(s)] = True
    return states_table(sample, rows)


def table_bytes(frame: pd.DataFrame, fmt: str) -> io.BytesIO:
    """``frame`` written as ``fmt`` (``csv`` or ``parquet``), ready for a download button."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(frame.to_csv(index=False).encode("utf-8"))
    else:
        frame.to_parquet(buffer, index=False)
    buffer.seek(0)
    return buffer


#: Above this many states the standalone map keeps a seeded sample of them (a file a colleague can open).
MAP_GLYPHS = 50_000


def map_figure(sample: Sample, *, max_points: int = MAP_GLYPHS, seed: int = 0):
    """The projection as a self-contained Bokeh figure: one glyph per state coloured by EP, hover
    showing the word, its sequence and step, and the classes; above ``max_points`` a seeded sample."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    from rnnpanel.views.colors import ep_scalar
    from rnnpanel.views.projection import color_bar, color_mapper

    n = sample.n_states
    rows = (
        np.arange(n) if n <= max_points else np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    )
    table = states_table(sample, _mask(n, rows))

    source = ColumnDataSource({
        "x": table["x"].to_numpy(), "y": table["y"].to_numpy(), "word": table["word"].tolist(),
        "sequence": table["sequence"].to_numpy(), "t": table["t"].to_numpy(), "true": table["true"].tolist(),
        "predicted": table["predicted_here"].tolist(), "value": ep_scalar(sample.ep[rows], sample.class_names),
    })
    sampled = f" · a sample of {len(rows):,} of {n:,} states" if len(rows) < n else ""
    fig = figure(title=f"{sample.name} · {sample.projection} · layer {sample.layer} {sample.state}{sampled}",
                 width=760, height=680, match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save")
    mapper = color_mapper(sample)
    fig.scatter("x", "y", source=source, size=4, alpha=0.7, line_color=None,
                fill_color={"field": "value", "transform": mapper}, name="points")
    fig.add_tools(HoverTool(tooltips=[("word", "@word"), ("sequence", "@sequence"), ("step", "@t"),
                                      ("true class", "@true"), ("predicted here", "@predicted")]))
    fig.add_layout(color_bar(sample, mapper, "ep"), "right")
    fig.axis.visible = False
    fig.grid.visible = False
    return fig


def standalone_page(model, title: str) -> str:
    """``model`` as one HTML page with Bokeh's scripts inline, made in a document of its own.

    Bokeh's ``file_html`` copies the current document's JavaScript callbacks into the page. A
    standalone page wants none of a session's, and in a process serving other sessions from
    threads (a test's in-process server) the current document may be another thread's, already
    destroyed; a fresh document for the duration of the call avoids both.
    """
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.io.doc import patch_curdoc
    from bokeh.resources import INLINE

    own = Document()                 # held here: Bokeh keeps only a weak reference to it
    with patch_curdoc(own):
        return file_html(model, INLINE, title)


def map_html(sample: Sample, **options) -> str:
    """:func:`map_figure` as one HTML page with Bokeh's scripts inline: opens offline, in any browser."""
    page = standalone_page(map_figure(sample, **options), f"rnnpanel map · {sample.name}")
    # Once a Panel extension is loaded in this process, Bokeh's resources also list its scripts by
    # server-relative paths: a page opened from a file cannot load them, and the map needs none.
    return _SERVER_SCRIPT.sub("", page)


_SERVER_SCRIPT = re.compile(r'<script[^>]*\ssrc="static/[^"]*"[^>]*>\s*</script>\s*')


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


#: The plots of each SVG download, by the names their view modules give them.
MAP_PLOTS = ("projection",)
SEQUENCE_PLOTS = ("text_view", "heatmap", "distances")
#: The map's point renderers (glyphs, or the rasterised image, which is one image already).
POINT_RENDERERS = ("points",)
#: Above this many points the map's cloud is one embedded PNG (twice the screen's resolution)
#: inside the SVG, axes, trajectory, rings and labels staying vector: as paths a point costs about
#: 270 bytes, so 50,000 points made a 13 MB file against 1.2 MB with the image; 5,000 points are
#: about as large either way.
SVG_RASTER_ABOVE = 5_000


def svg_download_js(plots: tuple[str, ...], filename: str) -> str:
    """Code for a button's ``js_on_click``: the drawn ``plots`` (names) as one SVG file downloaded
    by the browser, laid out as on the page (:data:`rnnpanel.views.svg.SVG_JS`). It runs
    where the plots are drawn, so the server needs no browser and the file shows the view as seen
    (zoom, trajectory, labels)."""
    options = {"raster": list(POINT_RENDERERS), "rasterAbove": SVG_RASTER_ABOVE, "pixelRatio": 2}
    return SVG_JS + f"""
const button = cb_obj.origin ?? cb_obj;      // a click event (Panel's js_on_click) or the model itself
const svg = rnnpanelSvg(button.document.views_manager, {json.dumps(list(plots))}, {json.dumps(options)});
if (svg != null) {{
  const url = URL.createObjectURL(new Blob([svg], {{type: "image/svg+xml"}}));
  const link = Object.assign(document.createElement("a"), {{href: url, download: {json.dumps(filename)}}});
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}}
"""
