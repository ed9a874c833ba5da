"""Figures to files: HTML drawn by Bokeh, PNG and SVG drawn by matplotlib, neither needing a browser.

A benchmark figure is built once as a HoloViews object carrying options for both plotting backends
(:func:`per_backend`): Bokeh writes the interactive page, HoloViews' matplotlib backend the static
PNG or SVG on Agg's canvas, so ``pip install -e .`` alone can write every format a user asks for.

Headless Chromium (Playwright, the test extras) stays only for what the browser itself shows: the
app's SVG export of its plots as drawn (:data:`SVG_JS`, run in the user's browser; :func:`svg_of`
runs it on a saved page for the tests and :mod:`benchmarks`), with the launch arguments every part
of the project gives Chromium (:data:`CHROMIUM_ARGS`).
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

FORMATS = (".html", ".png", ".svg")
#: Resolution of PNG figures (matplotlib's points are 1/72 inch).
PNG_DPI = 150
#: How every part of the project starts Debian's Chromium (headless, no network of its own).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Browser functions (plain JavaScript over BokehJS 3's view API) that turn drawn Bokeh plots into
#: one SVG document; shared by :func:`svg_of` (a saved page in headless Chromium) and the app's SVG
#: downloads (the user's own browser, so the server needs no browser). ``rnnpanelSvg(manager,
#: names, options)`` takes a document's view manager and the plot names to keep (``null``: every
#: plot), places the plots as they sit on the page, and returns the SVG text (``null`` when no such
#: plot is drawn). Each plot is Bokeh's own SVG export (``view.export("svg")``): text as ``<text>``,
#: glyphs as paths. A renderer named in ``options.raster`` holding more than ``options.rasterAbove``
#: rows (a map's point cloud) is drawn instead as one PNG of ``options.pixelRatio`` times the
#: screen's resolution, embedded where the glyphs would be, so axes, trajectory and labels stay
#: vector and a map of 50,000 points is a file of about 1 MB rather than 13 MB of paths.
SVG_JS = r"""
function rnnpanelPlots(manager, names) {
  const isPlot = (v) => typeof v.export === "function" && v.frame != null && v.renderer_views != null;
  const drawn = [...manager.query((v) => isPlot(v) && (names == null || names.includes(v.model.name)))]
    .filter((v) => v.el.isConnected && v.bbox.width > 0 && v.bbox.height > 0);
  const latest = new Map();   // one plot per name: a replaced figure may linger in the document
  drawn.forEach((v, i) => latest.set(names == null ? i : v.model.name, v));
  return [...latest.values()];
}

function rnnpanelRasterImage(view, rv, ratio) {
  const {x, y, width, height} = view.frame.bbox;
  const Layer = view.canvas_view.primary.constructor;   // BokehJS's CanvasLayer (not exported)
  const layer = new Layer("canvas", false);
  layer.resize(Math.ceil(view.bbox.width * ratio), Math.ceil(view.bbox.height * ratio));
  const ctx = layer.prepare();
  ctx.scale(ratio, ratio);
  ctx.beginPath();
  ctx.rect(x, y, width, height);
  ctx.clip();
  view.force_paint(() => rv.paint(ctx));
  layer.finish();
  const crop = document.createElement("canvas");
  crop.width = Math.round(width * ratio);
  crop.height = Math.round(height * ratio);
  crop.getContext("2d").drawImage(layer.canvas, Math.round(x * ratio), Math.round(y * ratio), crop.width,
                                  crop.height, 0, 0, crop.width, crop.height);
  const image = new Image();          // an <img> keeps its full resolution in Bokeh's SVG context
  image.width = crop.width;
  image.height = crop.height;
  image.src = crop.toDataURL("image/png");
  return image;
}

function rnnpanelPlotSvg(view, options) {
  const swapped = [];
  for (const rv of view.renderer_views.values()) {
    const source = rv.model.data_source;
    if (!options.raster.includes(rv.model.name) || !rv.model.visible || source == null ||
        !(source.get_length() > options.rasterAbove)) {
      continue;
    }
    const image = rnnpanelRasterImage(view, rv, options.pixelRatio);
    const {x, y, width, height} = view.frame.bbox;
    rv._paint = (ctx) => ctx.drawImage(image, x, y, width, height);
    swapped.push(rv);
  }
  try {
    return view.export("svg").ctx.get_serialized_svg(true);
  } finally {
    for (const rv of swapped) { delete rv._paint; }
  }
}

function rnnpanelSvg(manager, names, options = {}) {
  options = {raster: [], rasterAbove: 0, pixelRatio: 2, ...options};
  const views = rnnpanelPlots(manager, names);
  if (views.length == 0) { return null; }
  const boxes = views.map((v) => v.el.getBoundingClientRect());
  const left = Math.min(...boxes.map((b) => b.left)), top = Math.min(...boxes.map((b) => b.top));
  const width = Math.max(...views.map((v, i) => boxes[i].left - left + v.bbox.width));
  const height = Math.max(...views.map((v, i) => boxes[i].top - top + v.bbox.height));
  const parts = views.map((v, i) => rnnpanelPlotSvg(v, options)
    .replace(/^<svg /, `<svg x="${Math.round(boxes[i].left - left)}" y="${Math.round(boxes[i].top - top)}" `)
    .replace(/<image([^>]*?) href=/g, "<image$1 xlink:href="));   // SVG 1.1 readers (Inkscape 0.92) want xlink
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" ` +
         `width="${Math.ceil(width)}" height="${Math.ceil(height)}">` + parts.join("") + "</svg>";
}
"""


def holoviews() -> ModuleType:
    """HoloViews with its Bokeh and matplotlib backends loaded and Bokeh current, for building figures
    that either backend draws.

    matplotlib's plotting module is imported rather than loaded with ``hv.extension``: in a notebook
    that would switch pyplot to Agg unless it draws inline, closing the user's own figures.
    """
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    import holoviews.plotting.mpl  # noqa: F401 -- registers the matplotlib renderer and its options

    return hv


def per_backend(kind: Callable[..., Any], *, bokeh: dict[str, Any] | None = None,
                matplotlib: dict[str, Any] | None = None, **common: Any) -> list[Any]:
    """``kind``'s options (e.g. ``hv.opts.Curve``) for each backend: ``common`` for both, then each
    backend's own. HoloViews keeps options per backend; one set without ``backend=`` reaches Bokeh only."""
    return [kind(**common, **(bokeh or {}), backend="bokeh"),
            kind(**common, **(matplotlib or {}), backend="matplotlib")]


def log_ticks(values: Iterable[float], padding: float = 0.1) -> list[float] | None:
    """The 1-2-5 ticks of a log axis over ``values`` widened by ``padding`` (as HoloViews pads it);
    ``None`` (the backend's own ticks) when none falls inside. Both backends then label the same
    numbers: Bokeh's log ticker labels little but powers of ten, matplotlib's would expand its view
    to reach ticks outside the data."""
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = (hi / lo) ** padding if hi > lo else 1.0
    lo, hi = lo / span, hi * span
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5)]
    inside = [float(f"{t:.6g}") for t in ticks if lo <= t <= hi]
    return inside or None


def log_axes_hook(plot: Any, element: Any) -> None:
    """matplotlib hook for a log-log overlay, drawing its axes as the Bokeh figure does: its own ticks
    (``xticks``/``yticks``) labelled by its formatters or as plain numbers, no labelled minor ticks,
    and its ``show_grid``. matplotlib's log scale writes 10^n and labels minor ticks over a short
    axis's own; HoloViews takes an overlay's grid from its last element instead."""
    from holoviews.plotting.mpl.util import wrap_formatter
    from matplotlib.ticker import NullFormatter

    ax = plot.handles["axis"]
    for axis, log_scale, ticks, formatter in ((ax.xaxis, plot.logx, plot.xticks, plot.xformatter),
                                              (ax.yaxis, plot.logy, plot.yticks, plot.yformatter)):
        if not log_scale:
            continue
        if isinstance(ticks, (list, tuple)) and ticks:
            axis.set_ticks(ticks)
            axis.set_minor_formatter(NullFormatter())
        axis.set_major_formatter(wrap_formatter(formatter or "%g"))
    ax.grid(bool(plot.show_grid), which="major", alpha=0.3)


def save_figure(figure: Any, out: str | Path, *, title: str = "rnnpanel") -> list[Path]:
    """Write a HoloViews ``figure`` (or a Bokeh model, HTML only) to ``out``; returns the files written.

    ``.html``: Bokeh's interactive page. ``.png`` / ``.svg``: HoloViews' matplotlib backend, with the
    HTML page beside it (``out`` with ``.html``) for zooming and hovering.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise RnnpanelError(f"a figure is written as {', '.join(FORMATS)}: got {out.name!r}; "
                            f"give a file name ending in one of those")
    if suffix != ".html" and _is_bokeh(figure):
        raise RnnpanelError(f"a Bokeh figure is written as .html only, not {out.name!r}; PNG and SVG are "
                            "drawn from a HoloViews figure")
    out.parent.mkdir(parents=True, exist_ok=True)
    html = out.with_suffix(".html")
    _save_html(figure, html, title=title)
    if suffix == ".html":
        return [html]
    _save_static(figure, out)
    log.info("wrote %s and %s", out, html)
    return [html, out]


def _save_static(figure: Any, out: Path) -> Path:
    """PNG or SVG by HoloViews' matplotlib backend, printed on Agg's canvas: no browser, no display.

    HoloViews makes its figures through pyplot (closed once drawn), whose backend is left as
    matplotlib chose it (Agg without a display); the file is printed by an Agg canvas of its own
    whatever that backend is.
    """
    holoviews()
    import matplotlib
    from holoviews import Store
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    interactive = matplotlib.is_interactive()
    try:
        fig = Store.renderers["matplotlib"].get_plot_state(figure)
    finally:
        if interactive:              # HoloViews turns pyplot's interactive mode off to draw
            import matplotlib.pyplot as plt

            plt.ion()
    FigureCanvasAgg(fig)
    fmt = out.suffix.lower()[1:]
    # SVG text stays <text> (searchable, editable), and the file carries no date (same data, same file)
    extra = {"metadata": {"Date": None}} if fmt == "svg" else {}
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(out, format=fmt, dpi=PNG_DPI, bbox_inches="tight", **extra)
    return out


def _is_bokeh(figure: Any) -> bool:
    from bokeh.model import Model

    return isinstance(figure, Model)


def _save_html(figure: Any, html: Path, *, title: str) -> None:
    """One self-contained page (Bokeh's scripts inline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    model = figure
    if not _is_bokeh(figure):       # a HoloViews object: render it with the Bokeh backend
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        model = hv.render(figure, backend="bokeh")
    html.write_text(file_html(model, INLINE, title), encoding="utf-8")


def _own_thread(draw: Callable) -> Callable:
    """Runs ``draw`` in a thread of its own: Playwright's sync API refuses a thread where an asyncio
    loop runs (a notebook's kernel, a Panel server, another Playwright session)."""
    @functools.wraps(draw)
    def run(*args, **kwargs):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(draw, *args, **kwargs).result()
    return run


@contextmanager
def _drawn(html: str | Path, viewport: dict[str, int]) -> Iterator[Any]:
    """A Playwright page of Debian's headless Chromium showing the saved page ``html``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.goto(Path(html).resolve().as_uri())
            yield page
        finally:
            browser.close()


@_own_thread
def svg_of(html: str | Path, svg: str | Path, *, names: list[str] | None = None, raster: list[str] = (),
           raster_above: int = 0) -> Path:
    """One SVG of the plots of a saved page (``names``: only those; see :data:`SVG_JS`), laid out
    as drawn; renderers named in ``raster`` with more than ``raster_above`` rows embedded as PNG."""
    options = {"raster": list(raster), "rasterAbove": raster_above}
    with _drawn(html, {"width": 1200, "height": 800}) as page:
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=20_000)
        text = page.evaluate("async ([names, options]) => {" + SVG_JS + """
          const doc = Bokeh.documents[0];
          if (!doc.is_idle) { await new Promise((done) => doc.idle.connect(done)); }
          return rnnpanelSvg(doc.views_manager, names, options); }""", [names, options])
    if not text:
        raise RnnpanelError(f"{html} drew no plot to write as SVG")
    Path(svg).write_text(text, encoding="utf-8")
    return Path(svg)
